//! A small f64 reference for attention, written from the semantics in the
//! crate README (not from its code), plus an exact replica of the f32 score
//! so the checks know which rows the f32 pipeline turns into NaN.

use sdpa::runtime::{self, Bias, Mask, Shape};
use sdpa::{Alignment, Settings};

/// Unit roundoff of `f32`, `2⁻²⁴`.
pub const U: f64 = f32::EPSILON as f64 / 2.0;
/// Largest magnitude a checked intermediate may reach: far enough from
/// `f32::MAX` that no f32 sum of such terms overflows.
pub const LIMIT: f64 = f32::MAX as f64 / 4.0;

/// Per-query or per-key data (a mask or a bias), flat and row-major.
#[derive(Clone, Copy, Debug)]
pub enum Spread<'a, T> {
    /// `nq · nk` entries.
    PerQuery(&'a [T]),
    /// `nk` entries shared by every query.
    PerKey(&'a [T]),
}

impl<T: Copy> Spread<'_, T> {
    fn at(&self, nk: usize, i: usize, j: usize) -> Option<T> {
        match self {
            Spread::PerQuery(all) => all.get(i * nk + j).copied(),
            Spread::PerKey(keys) => keys.get(j).copied(),
        }
    }
}

/// One attention problem, flat row-major, as the runtime API takes it.
#[derive(Clone, Copy, Debug)]
pub struct Problem<'a> {
    pub nq: usize,
    pub nk: usize,
    pub d: usize,
    pub dv: usize,
    pub q: &'a [f32],
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub settings: Settings,
    pub mask: Option<Spread<'a, bool>>,
    pub bias: Option<Spread<'a, f32>>,
}

/// What an f32 score can be, for predicting NaN rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreClass {
    /// Finite in any summation order.
    Finite,
    /// `−∞`: weighs 0, like a masked key.
    NegInf,
    /// NaN or `+∞`: makes the row NaN.
    NanOrPosInf,
    /// Depends on the summation order.
    Unknown,
}

/// What the reference says about one query row.
#[derive(Clone, Debug)]
pub struct RowRef {
    /// Some key is visible (not masked by causal, window, mask or `−∞` bias).
    pub any_visible: bool,
    /// Visible keys, by index.
    pub visible: Vec<bool>,
    /// Some visible key's f32 score, computed dot-then-scale as the per-row
    /// engine and `attention_weights` do, is NaN or `+∞`: the row must be NaN.
    pub nan_row: bool,
    /// Some visible key's f32 score (dot-then-scale) is finite (its weight
    /// is not forced to 0).
    pub some_finite_score: bool,
    /// What the fused kernel must give: `Some(true)` a NaN row, `Some(false)`
    /// not, `None` either. Unmasked problems may run on the tiled or tiny
    /// engine, which scores `Σ (q·scale·log₂e)·k`: an intermediate that
    /// overflows in one order may not in the other (documented), so where
    /// the two orders disagree, or the pre-scaled one cannot be predicted
    /// (a sum near `f32::MAX`), both outcomes are accepted.
    pub fused_nan: Option<bool>,
    /// Some visible key's score is finite in every order the fused kernel
    /// may use.
    pub fused_some_finite: bool,
    /// Every visible key's score is `−∞` (dot-then-scale): the row must be
    /// exactly `+0` whatever the values.
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
    /// f64 output row (`dv`) and weights (`nk`); meaningful when `finite`.
    pub out: Vec<f64>,
    pub weights: Vec<f64>,
    /// `|s_j − max|` in f64 per key (0 for masked keys).
    pub gaps: Vec<f64>,
    /// `ln` of each weight, exact where the weight itself underflows f64.
    pub log_weights: Vec<f64>,
    /// Bound on the f32 error of any one score (see [`Problem::row_reference`]).
    pub score_error: f64,
    /// Allowed `|out − reference|` for this row.
    pub tolerance: f64,
    /// Per value column, the smallest and largest visible value.
    pub lo: Vec<f64>,
    pub hi: Vec<f64>,
}

impl<'a> Problem<'a> {
    /// The runtime shape.
    pub fn shape(&self) -> Shape {
        Shape { queries: self.nq, keys: self.nk, head_dim: self.d, value_dim: self.dv }
    }

    /// The same problem as runtime options.
    pub fn runtime_options(&self) -> runtime::Options<'a> {
        let mut o = runtime::Options::new().with_settings(self.settings);
        match self.mask {
            Some(Spread::PerQuery(m)) => o = o.mask(Mask::PerQuery(m)),
            Some(Spread::PerKey(m)) => o = o.mask(Mask::PerKey(m)),
            None => {}
        }
        match self.bias {
            Some(Spread::PerQuery(b)) => o = o.bias(Bias::PerQuery(b)),
            Some(Spread::PerKey(b)) => o = o.bias(Bias::PerKey(b)),
            None => {}
        }
        o
    }

    /// The `q·k` multiplier: the given scale, or `1/√D` rounded to f32 as documented.
    pub fn scale(&self) -> f32 {
        self.settings.scale.unwrap_or(1.0 / (self.d as f32).sqrt())
    }

    /// Key-axis position `p(i)` of query `i`.
    pub fn position(&self, i: usize) -> i128 {
        match self.settings.alignment {
            Alignment::TopLeft => i as i128,
            Alignment::BottomRight => i as i128 + self.nk as i128 - self.nq as i128,
        }
    }

    /// Whether query `i` may attend key `j` under every masking rule.
    pub fn visible(&self, i: usize, j: usize) -> bool {
        let (p, jj) = (self.position(i), j as i128);
        let s = &self.settings;
        let causal_ok = !s.causal || jj <= p;
        let window_ok = s.window.is_none_or(|w| jj >= p - w.left as i128 && jj <= p + w.right as i128);
        let mask_ok = self.mask.is_none_or(|m| m.at(self.nk, i, j).unwrap_or(false));
        let bias_ok = self.bias.is_none_or(|b| b.at(self.nk, i, j) != Some(f32::NEG_INFINITY));
        causal_ok && window_ok && mask_ok && bias_ok
    }

    fn q_row(&self, i: usize) -> &'a [f32] {
        self.q.get(i * self.d..(i + 1) * self.d).unwrap_or_default()
    }

    fn k_row(&self, j: usize) -> &'a [f32] {
        self.k.get(j * self.d..(j + 1) * self.d).unwrap_or_default()
    }

    fn v_row(&self, j: usize) -> &'a [f32] {
        self.v.get(j * self.dv..(j + 1) * self.dv).unwrap_or_default()
    }

    fn distance(&self, i: usize, j: usize) -> u128 {
        self.position(i).abs_diff(j as i128)
    }

    /// The f32 score of a visible key, rounded step by step as the
    /// documented pipeline does: `dot_rows` (whose result the docs promise
    /// does not depend on the row's position in a block), times the scale,
    /// minus the ALiBi term, plus the bias. Used only to predict which rows
    /// the f32 pipeline makes NaN; accuracy is judged against f64.
    pub fn score32(&self, i: usize, j: usize) -> f32 {
        let mut s = [0.0f32];
        sdpa::kernels::dot_rows(self.q_row(i), self.k_row(j), &mut s);
        let mut s = s[0] * self.scale();
        if let Some(slope) = self.settings.alibi_slope {
            s -= slope * self.distance(i, j) as f32;
        }
        if let Some(b) = self.bias.and_then(|b| b.at(self.nk, i, j)) {
            s += b;
        }
        s
    }

    /// Whether the fused kernel may score this problem with pre-scaled
    /// queries (tiled or tiny engine): no mask, bias or ALiBi.
    pub fn may_prescale(&self) -> bool {
        self.mask.is_none() && self.bias.is_none() && self.settings.alibi_slope.is_none()
    }

    /// The class of the f32 score of key `j` for query `i` when the query is
    /// pre-multiplied by `scale·log₂e` (rounded to f32, as the tiled and tiny
    /// engines do) and then dotted with the key in some order, with or
    /// without fused multiply-adds. [`ScoreClass::Unknown`] when the order
    /// decides (finite terms whose magnitudes sum past `f32::MAX / 2`).
    pub fn prescaled_class(&self, i: usize, j: usize) -> ScoreClass {
        let factor = self.scale() * core::f32::consts::LOG2_E;
        let (mut nan, mut pos, mut neg, mut big, mut abs) = (false, false, false, false, 0.0f64);
        let half = f64::from(f32::MAX) / 2.0;
        for (a, b) in self.q_row(i).iter().zip(self.k_row(j)) {
            let t = f64::from(a * factor) * f64::from(*b);
            if t.is_nan() {
                nan = true;
            } else if t == f64::INFINITY {
                pos = true;
            } else if t == f64::NEG_INFINITY {
                neg = true;
            } else {
                // A product past f32::MAX may or may not become ±∞ in f32
                // (rounded alone, or inside a fused multiply-add).
                big |= t.abs() > half;
                abs += t.abs();
            }
        }
        if nan || pos {
            // NaN propagates; +∞ stays +∞ or meets −∞ (NaN): the same class.
            ScoreClass::NanOrPosInf
        } else if big {
            ScoreClass::Unknown
        } else if neg {
            ScoreClass::NegInf
        } else if abs <= half {
            ScoreClass::Finite
        } else {
            ScoreClass::Unknown
        }
    }

    /// The reference for row `i`.
    ///
    /// Error bound (each term a standard rounding-error bound, `u = 2⁻²⁴`):
    /// a score is off by at most `Δs = |scale|·(D + 4)·u·Σ|qₖ·kₖ|` (a dot
    /// product in any summation order, the scale, the two additions) plus
    /// `4u·(|ALiBi| + |bias|)`. A weight `e^{s−m}/Σ` is then off by a factor
    /// `e^{2Δs}` plus `(NK + 8)·u` from exp (≤ 2 ulp), the sum and the
    /// rescales, and the weighted sum adds `NK·u`. So
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
        let mut nan_row = false;
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
        let mut scores = vec![f64::NEG_INFINITY; nk];
        let mut score_error: f64 = 0.0;
        let mut vmax: f64 = 0.0;
        let (mut lo, mut hi) = (vec![f64::INFINITY; dv], vec![f64::NEG_INFINITY; dv]);
        for j in (0..nk).filter(|&j| visible[j]) {
            let s32 = self.score32(i, j);
            nan_row |= s32.is_nan() || s32 == f32::INFINITY;
            some_finite_score |= s32.is_finite();
            all_neg_inf &= s32 == f32::NEG_INFINITY;
            if prescale {
                let class = self.prescaled_class(i, j);
                pre_all_neg_inf &= class == ScoreClass::NegInf;
                match class {
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
            let bias = self.bias.and_then(|b| b.at(nk, i, j)).map_or(0.0, f64::from);
            finite &= s32.is_finite() && bias.is_finite();
            finite &= k.iter().chain(v).all(|x| x.is_finite());
            values_finite &= v.iter().all(|x| x.is_finite());
            let dot: f64 = q.iter().zip(k).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
            let abs_dot: f64 = q.iter().zip(k).map(|(a, b)| (f64::from(*a) * f64::from(*b)).abs()).sum();
            let alibi = slope.map_or(0.0, |m| f64::from(m) * self.distance(i, j) as f64);
            finite &= abs_dot <= LIMIT && abs_dot * scale.abs() * log2e <= LIMIT;
            finite &= alibi.abs() <= LIMIT && bias.abs() <= LIMIT;
            scores[j] = dot * scale - alibi + bias;
            let extra = alibi.abs() + bias.abs();
            score_error = score_error.max(scale.abs() * (self.d as f64 + 4.0) * U * abs_dot + 4.0 * U * extra);
            for (c, x) in v.iter().enumerate() {
                let x = f64::from(*x);
                vmax = vmax.max(x.abs());
                lo[c] = lo[c].min(x);
                hi[c] = hi[c].max(x);
            }
        }
        let values_safe = values_finite && vmax * nk as f64 <= LIMIT;
        finite &= values_safe;
        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut weights = vec![0.0; nk];
        let mut gaps = vec![0.0; nk];
        let mut log_weights = vec![f64::NEG_INFINITY; nk];
        let mut out = vec![0.0; dv];
        if finite {
            for j in (0..nk).filter(|&j| visible[j]) {
                gaps[j] = max - scores[j];
                weights[j] = (-gaps[j]).exp();
            }
            let sum: f64 = weights.iter().sum();
            for j in (0..nk).filter(|&j| visible[j]) {
                log_weights[j] = -gaps[j] - sum.ln();
                weights[j] /= sum;
                let w = weights[j];
                for (o, x) in out.iter_mut().zip(self.v_row(j)) {
                    *o += w * f64::from(*x);
                }
            }
        }
        // An output lies in the convex hull of its column, so no error exceeds
        // 2·max|v|: the factor is capped there (also keeps 0·∞ out).
        let factor = ((2.0 * score_error).exp_m1() + (2.0 * nk as f64 + 8.0) * U).min(2.0);
        let tolerance = vmax * factor + 1e-30;
        let fused_nan = match (prescale, pre_nan, pre_unknown) {
            (false, _, _) => Some(nan_row),
            (true, true, _) if nan_row => Some(true),
            (true, false, false) if !nan_row => Some(false),
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
            lo,
            hi,
        }
    }
}
