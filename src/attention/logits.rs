//! The softmax step every engine shares, in natural units: scores stay
//! `x = q·k·scale (+ ALiBi, bias)` until the running maximum `m` is
//! subtracted, and only `t = x − m` is converted to base 2 and
//! exponentiated, `w = 2^(t·log₂e)`. So a weight's error depends on
//! `|x − m|`, not on `|x|`: large but close scores come out as well as
//! small ones, and equal scores give exactly equal weights.

use crate::kernels::{exp2_nonpositive, first_lane, scale_with};
use crate::simd::Simd;

/// `log₂ e`.
pub(crate) const LOG2_E: f32 = core::f32::consts::LOG2_E;

/// `e^(x − shift)` per lane, for `x ≤ shift` (`−∞` gives exactly 0, `x =
/// shift` exactly 1, NaN stays NaN).
#[inline(always)]
pub(crate) fn exp_shifted<const L: usize, S: Simd<L>>(s: S, x: S::V, shift: S::V) -> S::V {
    exp2_nonpositive(s, (x - shift) * s.splat(LOG2_E))
}

/// The value to subtract: the maximum, or `0` while every score is `−∞`,
/// so that `(−∞) − (−∞)` is never formed.
#[inline(always)]
pub(crate) fn shift_for(max: f32) -> f32 {
    if max == f32::NEG_INFINITY { 0.0 } else { max }
}

/// The online softmax state of one query row: running maximum `m` and
/// running sum `l = Σ e^(x − m)`.
pub(crate) struct Running {
    max: f32,
    sum: f32,
}

impl Running {
    /// Nothing seen: `m = −∞`, `l = 0`.
    pub(crate) const fn new() -> Self {
        Running { max: f32::NEG_INFINITY, sum: 0.0 }
    }

    /// Folds a block of scores in, rewriting each to its weight
    /// `e^(x − m_new)`; returns `e^(m_old − m_new)`, the factor for what was
    /// accumulated before (exactly 1 when the maximum did not change).
    #[inline(always)]
    pub(crate) fn update<const L: usize, S: Simd<L>>(&mut self, s: S, scores: &mut [f32]) -> f32 {
        let (body, tail) = scores.as_chunks_mut::<L>();
        let mut m = s.load_padded(tail, f32::NEG_INFINITY);
        for x in body.iter() {
            m = s.max(s.load(x), m);
        }
        let block_max = s.reduce_max(m);
        let new_max = if block_max > self.max { block_max } else { self.max };
        let shift = shift_for(new_max);
        let rescale =
            if new_max == self.max { 1.0 } else { first_lane(s, exp_shifted(s, s.splat(self.max), s.splat(shift))) };
        let shift_v = s.splat(shift);
        let mut sum = s.zero();
        for x in body.iter_mut() {
            let w = exp_shifted(s, s.load(x), shift_v);
            sum = sum + w;
            s.store(w, x);
        }
        if !tail.is_empty() {
            let w = exp_shifted(s, s.load_padded(tail, f32::NEG_INFINITY), shift_v);
            sum = sum + w;
            s.store_partial(w, tail);
        }
        self.sum = self.sum * rescale + s.reduce_add(sum);
        self.max = new_max;
        rescale
    }

    /// `out /= l`, or the zero row when no score (or only `−∞`) was seen.
    #[inline(always)]
    pub(crate) fn finish<const L: usize, S: Simd<L>>(&self, s: S, out: &mut [f32]) {
        if self.sum == 0.0 {
            out.fill(0.0);
        } else {
            scale_with(s, out, 1.0 / self.sum);
        }
    }
}
