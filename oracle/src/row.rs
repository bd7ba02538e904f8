//! What the reference says about one query row of a problem with arbitrary
//! inputs (NaN, `±∞`, values near `f32::MAX`): which rows must be NaN or
//! zero, and, where every input is safely finite, the f64 output and
//! weights with tolerances that hold for any magnitude. The fuzz targets
//! check every output against it.

use crate::bounds::log_weight_tolerance;
use crate::float::{LIMIT, U};
use crate::kernels::{Softmax64, abs_dot64};
use crate::order::ScoreClass;
use crate::problem::Problem;

/// What the reference says about one query row.
#[derive(Clone, Debug)]
pub struct RowRef {
    /// Some key is visible (not masked by causal, window, mask or `−∞` bias).
    pub any_visible: bool,
    /// Visible keys, by index.
    pub visible: Vec<bool>,
    /// What a row scored dot-then-scale (the per-row engine,
    /// `attention_weights`) must give: `Some(true)` a NaN row (some visible
    /// key's score is NaN or `+∞` in every summation order), `Some(false)`
    /// not, `None` either (a score near `f32::MAX` whose outcome depends on
    /// the order; [`Problem::score_class`]).
    pub nan_row: Option<bool>,
    /// Some visible key's score is finite in every summation order (its
    /// weight is not forced to 0).
    pub some_finite_score: bool,
    /// What the fused kernel must give, as `nan_row`, also allowing the
    /// documented pre-scaled order `Σ (q·scale·log₂e)·k` on problems with no
    /// per-key mask, bias or ALiBi: where the two orders disagree, or the
    /// pre-scaled one cannot be predicted, both outcomes are accepted.
    pub fused_nan: Option<bool>,
    /// Some visible key's score is finite in every order the fused kernel
    /// may use.
    pub fused_some_finite: bool,
    /// Every visible key's score is `−∞` in every summation order: the row
    /// must be exactly `+0` whatever the values.
    pub all_neg_inf: bool,
    /// Every visible key's score is `−∞` in every order the fused kernel may use.
    pub fused_all_neg_inf: bool,
    /// Every visible value is finite and `NK·max|v|` stays far from
    /// overflow: scores alone decide where NaN appears.
    pub values_safe: bool,
    /// Per value column: a visible value row holds NaN there.
    pub nan_columns: Vec<bool>,
    /// Every input the row reads is finite and no f32 intermediate can
    /// overflow: the accuracy checks apply.
    pub finite: bool,
    /// f64 output row (`dv` values); meaningful when `finite`.
    pub out: Vec<f64>,
    /// f64 weights (`nk` values, 0 for masked keys); meaningful when `finite`.
    pub weights: Vec<f64>,
    /// `s_max − s_j` in f64 per key (`+∞` for masked keys); meaningful when
    /// `finite`.
    pub gaps: Vec<f64>,
    /// `ln` of each weight, exact where the weight itself underflows f64.
    pub log_weights: Vec<f64>,
    /// Bound on the f32 error of any one score (see [`Problem::row_reference`]).
    pub score_error: f64,
    /// Allowed `|out − reference|` for this row.
    pub tolerance: f64,
    /// Per value column, the smallest visible value.
    pub lo: Vec<f64>,
    /// Per value column, the largest visible value.
    pub hi: Vec<f64>,
}

impl RowRef {
    /// Allowed `|weight − reference|` for key `j` of a row of `nk` keys, as
    /// `attention_weights` computes it (three-pass, no rescale):
    /// [`log_weight_tolerance`] with this row's score error.
    pub fn weight_tolerance(&self, j: usize, nk: usize) -> f64 {
        log_weight_tolerance(self.log_weights[j], self.gaps[j], self.score_error, nk, 0)
    }
}

impl Problem<'_> {
    /// The reference for row `i`.
    ///
    /// Error bound (each term a standard rounding-error bound, `u = 2⁻²⁴`):
    /// a score is off by at most `Δs = |scale|·(D + 4)·u·Σ|qₖ·kₖ|` (a dot
    /// product in any summation order, the scale, the two additions) plus
    /// `4u·(|ALiBi| + |bias|)` ([`Problem::first_order_score_error`] with 4
    /// roundings, which also covers the pre-scaled order's `scale·log₂e`). A
    /// weight `e^{s−m}/Σ` is then off by a factor `e^{2Δs}` plus
    /// `(NK + 8)·u` from exp (≤ 2 ulp), the sum and the rescales, and the
    /// weighted sum adds `NK·u`. So
    /// `|out − ref| ≤ max|v|·(expm1(2Δs) + (2·NK + 8)·u)`, with `max|v|` over
    /// the visible value rows, plus `1e-30` for gradual underflow (the factor
    /// capped at 2: outputs lie in the convex hull of the values).
    pub fn row_reference(&self, i: usize) -> RowRef {
        let (nk, dv) = (self.nk, self.dv);
        let scale32 = self.scale();
        let scale = f64::from(scale32);
        let slope = self.settings.alibi_slope;
        let q = self.q_row(i);
        let visible: Vec<bool> = (0..nk).map(|j| self.visible(i, j)).collect();
        let any_visible = visible.iter().any(|&x| x);
        let (mut nan_score, mut unknown_score) = (false, false);
        let mut some_finite_score = false;
        let mut nan_columns = vec![false; dv];
        let mut finite =
            any_visible && q.iter().all(|x| x.is_finite()) && scale32.is_finite() && slope.is_none_or(f32::is_finite);
        let prescale = self.may_prescale();
        let log2e = std::f64::consts::LOG2_E;
        if prescale {
            // Nor may `scale·log₂e` or the pre-scaled query overflow.
            finite &= (scale * log2e).abs() <= LIMIT;
            finite &= q.iter().all(|x| (f64::from(*x) * scale * log2e).abs() <= LIMIT);
        }
        let (mut pre_nan, mut pre_unknown, mut pre_finite) = (false, false, false);
        let (mut all_neg_inf, mut pre_all_neg_inf) = (true, true);
        let mut values_finite = true;
        for j in (0..nk).filter(|&j| visible[j]) {
            let class = self.score_class(i, j);
            nan_score |= class == ScoreClass::NanOrPosInf;
            unknown_score |= class == ScoreClass::Unknown;
            some_finite_score |= class == ScoreClass::Finite;
            all_neg_inf &= class == ScoreClass::NegInf;
            if prescale {
                let pre = self.prescaled_class(i, j);
                pre_all_neg_inf &= pre == ScoreClass::NegInf;
                match pre {
                    ScoreClass::NanOrPosInf => pre_nan = true,
                    ScoreClass::Unknown => pre_unknown = true,
                    ScoreClass::Finite => pre_finite = true,
                    ScoreClass::NegInf => {}
                }
            }
            let (k, v) = (self.k_row(j), self.v_row(j));
            for (n, x) in nan_columns.iter_mut().zip(v) {
                *n |= x.is_nan();
            }
            let bias = self.bias_at(i, j).map_or(0.0, f64::from);
            finite &= class == ScoreClass::Finite && bias.is_finite();
            finite &= k.iter().chain(v).all(|x| x.is_finite());
            values_finite &= v.iter().all(|x| x.is_finite());
            let abs_dot = abs_dot64(q, k);
            finite &= abs_dot <= LIMIT && abs_dot * scale.abs() * log2e <= LIMIT;
            finite &= self.alibi64(i, j).abs() <= LIMIT && bias.abs() <= LIMIT;
        }
        let values = self.visible_values(i);
        let vmax = values.abs.iter().copied().fold(0.0, f64::max);
        let values_safe = values_finite && vmax * nk as f64 <= LIMIT;
        finite &= values_safe;
        let score_error = self.first_order_row_error(i, 4.0);
        let (mut weights, mut gaps, mut log_weights) = (vec![0.0; nk], vec![0.0; nk], vec![f64::NEG_INFINITY; nk]);
        let mut out = vec![0.0; dv];
        if finite {
            Softmax64 { weights, gaps, log_weights } = Softmax64::of(&self.masked_scores64(i));
            out = self.mix64(&weights);
        }
        // An output lies in the convex hull of its column, so no error exceeds
        // 2·max|v|: the factor is capped there (also keeps 0·∞ out).
        let factor = ((2.0 * score_error).exp_m1() + (2.0 * nk as f64 + 8.0) * U).min(2.0);
        let tolerance = vmax * factor + 1e-30;
        let nan_row = if nan_score { Some(true) } else { (!unknown_score).then_some(false) };
        let fused_nan = match (prescale, pre_nan, pre_unknown) {
            (false, _, _) => nan_row,
            (true, true, _) if nan_row == Some(true) => Some(true),
            (true, false, false) if nan_row == Some(false) => Some(false),
            _ => None,
        };
        let fused_some_finite = some_finite_score && (!prescale || pre_finite);
        RowRef {
            any_visible,
            visible,
            nan_row,
            some_finite_score,
            fused_nan,
            fused_some_finite,
            all_neg_inf: any_visible && all_neg_inf,
            fused_all_neg_inf: any_visible && all_neg_inf && (!prescale || pre_all_neg_inf),
            values_safe,
            nan_columns,
            finite,
            out,
            weights,
            gaps,
            log_weights,
            score_error,
            tolerance,
            lo: values.lo,
            hi: values.hi,
        }
    }
}
