//! The orders in which the engines may form a score, and what each makes
//! of scores near or past `f32::MAX`.
//!
//! Every engine scores dot-then-scale, `(q·k)·scale − ALiBi + bias`, each
//! with its own summation order (blocks of keys, register tiles, lane
//! reductions, fused or separate multiply-adds). The crate also documents a
//! pre-scaled order, `Σ (q·scale·log₂e)·k`, that the tiled and tiny engines
//! used to take on problems with no per-key mask, bias or ALiBi. The orders
//! agree on every finite problem up to rounding, but an intermediate that
//! overflows in one may not in another. Two models of that are kept here:
//!
//! - [`ScoreOrder::overflow`] (`tests/edge_cases.rs`): for *one* order,
//!   whether the exact f64 intermediate rounds past `f32` range; the test
//!   then accepts a row if it is right under either order;
//! - [`ScoreClass`], [`Problem::score_class`] and
//!   [`Problem::prescaled_class`] (the fuzz targets): what the score is in
//!   *every* summation order and with or without FMA, with
//!   [`ScoreClass::Unknown`] where the order decides; the fuzz checks then
//!   accept both outcomes there.

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

    /// The class of the f32 score of key `j` for query `i` when the query is
    /// pre-multiplied by `scale·log₂e` (rounded to f32, as the tiled and tiny
    /// engines do) and then dotted with the key in some order, with or
    /// without fused multiply-adds. [`ScoreClass::Unknown`] when the order
    /// decides (finite terms whose magnitudes sum past `f32::MAX / 2`).
    pub fn prescaled_class(&self, i: usize, j: usize) -> ScoreClass {
        dot_class(self.q_row(i), self.k_row(j), self.prescale_factor()).class()
    }

    /// The class of the f32 score of key `j` for query `i` scored
    /// dot-then-scale, `(q·k)·scale − ALiBi + bias`, in every summation
    /// order of the dot product and with or without fused multiply-adds:
    /// the engines' blocks, tiles and lane reductions all differ in order,
    /// and an intermediate near `f32::MAX` may overflow in one and not in
    /// another ([`ScoreClass::Unknown`] there).
    pub fn score_class(&self, i: usize, j: usize) -> ScoreClass {
        let mut x = dot_class(self.q_row(i), self.k_row(j), 1.0).times(self.scale());
        if let Some(slope) = self.settings.alibi_slope {
            x = x.plus(-(slope * self.distance(i, j) as f32));
        }
        if let Some(b) = self.bias_at(i, j) {
            x = x.plus(b);
        }
        x.class()
    }
}

/// What an f32 intermediate can be in every evaluation order: finite with
/// a bound on its magnitude, or a [`ScoreClass`] that is not finite.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Bounded {
    /// Finite in every order, at most this large in magnitude.
    Finite(f64),
    /// One of the other classes.
    Not(ScoreClass),
}

/// Below this, sums and products of finite f32 terms cannot overflow in
/// any order: half of `f32::MAX`, leaving room for every rounding.
const SAFE: f64 = f32::MAX as f64 / 2.0;

/// The class of `Σ (aᵢ·factor)·bᵢ` (the product `aᵢ·factor` rounded to
/// f32, the rest in any order, with or without fused multiply-adds).
fn dot_class(a: &[f32], b: &[f32], factor: f32) -> Bounded {
    let (mut nan, mut pos, mut neg, mut big, mut abs) = (false, false, false, false, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let t = f64::from(x * factor) * f64::from(*y);
        if t.is_nan() {
            nan = true;
        } else if t == f64::INFINITY {
            pos = true;
        } else if t == f64::NEG_INFINITY {
            neg = true;
        } else {
            // A product past f32::MAX may or may not become ±∞ in f32
            // (rounded alone, or inside a fused multiply-add).
            big |= t.abs() > SAFE;
            abs += t.abs();
        }
    }
    if nan || pos {
        // NaN propagates; +∞ stays +∞ or meets −∞ (NaN): the same class.
        Bounded::Not(ScoreClass::NanOrPosInf)
    } else if big || abs > SAFE {
        // The finite terms may overflow to either infinity first.
        Bounded::Not(ScoreClass::Unknown)
    } else if neg {
        Bounded::Not(ScoreClass::NegInf)
    } else {
        Bounded::Finite(abs)
    }
}

impl Bounded {
    /// The class, with a finite bound forgotten.
    fn class(self) -> ScoreClass {
        match self {
            Bounded::Finite(_) => ScoreClass::Finite,
            Bounded::Not(c) => c,
        }
    }

    /// `self · c` rounded to f32.
    fn times(self, c: f32) -> Self {
        use ScoreClass::*;
        let nan = Bounded::Not(NanOrPosInf);
        if c.is_nan() {
            return nan;
        }
        match self {
            Bounded::Finite(_) if c.is_infinite() => Bounded::Not(Unknown), // 0·∞ or ±∞
            Bounded::Finite(m) if m * f64::from(c.abs()) <= SAFE => Bounded::Finite(m * f64::from(c.abs())),
            Bounded::Finite(_) => Bounded::Not(Unknown),
            // NaN stays NaN; +∞ stays +∞ for c > 0, is NaN for c = 0.
            Bounded::Not(NanOrPosInf) if c >= 0.0 => nan,
            Bounded::Not(NegInf) if c > 0.0 => self,
            Bounded::Not(NegInf) => nan, // −∞·0 = NaN, −∞·(−c) = +∞
            Bounded::Not(_) => Bounded::Not(Unknown),
        }
    }

    /// `self + c` rounded to f32.
    fn plus(self, c: f32) -> Self {
        use ScoreClass::*;
        let nan = Bounded::Not(NanOrPosInf);
        match self {
            _ if c.is_nan() || c == f32::INFINITY => nan, // whatever `self` is
            Bounded::Not(NanOrPosInf) => nan,
            _ if c == f32::NEG_INFINITY => match self {
                Bounded::Not(Unknown) => self,
                _ => Bounded::Not(NegInf),
            },
            Bounded::Finite(m) if m + f64::from(c.abs()) <= SAFE => Bounded::Finite(m + f64::from(c.abs())),
            Bounded::Finite(_) => Bounded::Not(Unknown),
            Bounded::Not(_) => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sdpa::Settings;

    /// The class of the one score of a 1×1 problem with head dimension
    /// `q.len()` and scale `scale`.
    fn class(q: &[f32], k: &[f32], scale: f32) -> ScoreClass {
        let settings = Settings { scale: Some(scale), ..Settings::default() };
        let v = [0.0];
        let p = Problem { nq: 1, nk: 1, d: q.len(), dv: 1, q, k, v: &v, settings, mask: None, bias: None };
        p.score_class(0, 0)
    }

    #[test]
    fn finite_terms_that_may_overflow_in_some_order_are_unknown() {
        let small = f32::MAX / 5.0;
        assert_eq!(class(&[1.0, 1.0], &[small, small], 1.0), ScoreClass::Finite);
        let big = f32::MAX / 2.5;
        // Finite terms whose magnitudes sum past f32::MAX / 2 are not
        // predicted (conservatively: some orders overflow); with a −∞ term
        // they may give −∞ or, once they overflow to +∞ first, NaN.
        assert_eq!(class(&[1.0; 3], &[big; 3], 1.0), ScoreClass::Unknown);
        assert_eq!(class(&[1.0; 4], &[big, big, big, f32::NEG_INFINITY], 1.0), ScoreClass::Unknown);
        assert_eq!(class(&[1.0, 1.0], &[big, f32::NEG_INFINITY], 1.0), ScoreClass::NegInf);
    }

    #[test]
    fn the_scale_moves_infinities_by_its_sign() {
        let inf = f32::INFINITY;
        assert_eq!(class(&[1.0], &[inf], 0.5), ScoreClass::NanOrPosInf);
        assert_eq!(class(&[1.0], &[inf], 0.0), ScoreClass::NanOrPosInf);
        assert_eq!(class(&[1.0], &[-inf], -0.5), ScoreClass::NanOrPosInf);
        assert_eq!(class(&[1.0], &[-inf], 0.5), ScoreClass::NegInf);
        // +∞ or NaN times a negative scale: −∞ or NaN.
        assert_eq!(class(&[1.0, 1.0], &[inf, 1.0], -0.5), ScoreClass::Unknown);
        // A finite dot product scaled past f32::MAX.
        assert_eq!(class(&[1.0], &[f32::MAX / 4.0], 4.0), ScoreClass::Unknown);
        assert_eq!(class(&[1.0], &[3.0], f32::NAN), ScoreClass::NanOrPosInf);
    }
}
