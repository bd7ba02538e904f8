//! The two orders in which the engines form a score, and what each makes of
//! scores near or past `f32::MAX`.
//!
//! The per-row engine (and `attention_weights`) scores dot-then-scale,
//! `(q·k)·scale − ALiBi + bias`. The tiled and tiny engines, which take
//! problems with no per-key mask, bias or ALiBi, fold `scale·log₂e` into the
//! query first, `Σ (q·scale·log₂e)·k`. The crate documents both; they agree
//! on every finite problem up to rounding, but an intermediate that overflows
//! in one order may not in the other. Two models of that are kept here:
//!
//! - [`ScoreOrder::overflow`] (`tests/edge_cases.rs`): for *one* order,
//!   whether the exact f64 intermediate rounds past `f32` range; the test
//!   then accepts a row if it is right under either order;
//! - [`ScoreClass`] and [`Problem::prescaled_class`] (the fuzz targets):
//!   what the pre-scaled score is in *every* summation order and with or
//!   without FMA, with [`ScoreClass::Unknown`] where the order decides; the
//!   fuzz checks then accept both outcomes there. [`Problem::score32`]
//!   replays the dot-then-scale score in f32 step by step.

use crate::kernels::dot64;
use crate::problem::Problem;

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

/// One of the two documented score orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreOrder {
    /// `(q·k)·scale`: the per-row engine and `attention_weights`.
    DotThenScale,
    /// `(q·scale·log₂e)·k`: the tiled and tiny engines.
    ScaledQuery,
}

impl ScoreOrder {
    /// `±∞` (or NaN) when this order's f32 intermediate on key `j` of row `i`
    /// (the dot product, or the dot product of the pre-scaled query) is not
    /// finite, rounding its exact f64 value once; `None` otherwise.
    pub fn overflow(self, p: &Problem<'_>, i: usize, j: usize) -> Option<f64> {
        let (q, k) = (p.q_row(i), p.k_row(j));
        let raw = match self {
            ScoreOrder::DotThenScale => dot64(q, k),
            ScoreOrder::ScaledQuery => {
                let factor = p.prescale_factor();
                let scaled: Vec<f32> = q.iter().map(|x| x * factor).collect();
                dot64(&scaled, k)
            }
        };
        (!(raw as f32).is_finite()).then(|| if raw.is_nan() { f64::NAN } else { raw.signum() * f64::INFINITY })
    }
}

impl Problem<'_> {
    /// `scale·log₂e` rounded to f32: the factor the tiled and tiny engines
    /// multiply the queries by.
    pub fn prescale_factor(&self) -> f32 {
        self.scale() * core::f32::consts::LOG2_E
    }

    /// Whether the fused kernel may score this problem with pre-scaled
    /// queries (tiled or tiny engine): no mask, bias or ALiBi.
    pub fn may_prescale(&self) -> bool {
        self.mask.is_none() && self.bias.is_none() && self.settings.alibi_slope.is_none()
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
        if let Some(b) = self.bias_at(i, j) {
            s += b;
        }
        s
    }

    /// The class of the f32 score of key `j` for query `i` when the query is
    /// pre-multiplied by `scale·log₂e` (rounded to f32, as the tiled and tiny
    /// engines do) and then dotted with the key in some order, with or
    /// without fused multiply-adds. [`ScoreClass::Unknown`] when the order
    /// decides (finite terms whose magnitudes sum past `f32::MAX / 2`).
    pub fn prescaled_class(&self, i: usize, j: usize) -> ScoreClass {
        let factor = self.prescale_factor();
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
}
