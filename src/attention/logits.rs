//! The softmax step every engine shares, in natural units: scores stay
//! `x = q·k·scale (+ ALiBi, bias)` until the running maximum `m` is
//! subtracted, and only `t = x − m` is exponentiated, `w = e^t` (with the
//! Cody–Waite split of [`exp_nonpositive`]). So a weight's error depends on
//! `|x − m|`, not on `|x|`: large but close scores come out as well as
//! small ones, and equal scores give exactly equal weights.

use crate::kernels::{exp_nonpositive, first_lane};
use crate::simd::Simd;

/// `e^(x − shift)` per lane, for `x ≤ shift` (`−∞` gives exactly 0, `x =
/// shift` exactly 1, NaN stays NaN).
#[inline(always)]
pub(crate) fn exp_shifted<const L: usize, S: Simd<L>>(s: S, x: S::V, shift: S::V) -> S::V {
    exp_nonpositive(s, x - shift)
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

    /// Folds a block of scores in (vectors of `L`; lanes past the block's
    /// keys hold `−∞`), rewriting each to its weight `e^(x − m_new)`;
    /// returns `e^(m_old − m_new)`, the factor for what was accumulated
    /// before (exactly 1 when the maximum did not change).
    #[inline(always)]
    pub(crate) fn update<const L: usize, S: Simd<L>>(&mut self, s: S, scores: &mut [[f32; L]]) -> f32 {
        let m = scores.iter().fold(s.splat(f32::NEG_INFINITY), |m, x| s.max(s.load(x), m));
        let block_max = s.reduce_max(m);
        let new_max = if block_max > self.max { block_max } else { self.max };
        let shift = shift_for(new_max);
        let rescale =
            if new_max == self.max { 1.0 } else { first_lane(s, exp_shifted(s, s.splat(self.max), s.splat(shift))) };
        let shift = s.splat(shift);
        let mut sum = s.zero();
        for x in scores.iter_mut() {
            let w = exp_shifted(s, s.load(x), shift);
            sum = sum + w;
            s.store(w, x);
        }
        self.sum = self.sum * rescale + s.reduce_add(sum);
        self.max = new_max;
        rescale
    }

    /// `out /= l`, or the zero row when no score (or only `−∞`) was seen
    /// (`empty`: no block at all, `out` holds nothing of this row yet).
    #[inline(always)]
    pub(crate) fn finish<const L: usize, S: Simd<L>>(&self, s: S, out: &mut [f32], empty: bool) {
        // `black_box`: a zero the optimizer cannot see, so the stores stay
        // stores (a loop storing a constant zero becomes a `memset` call).
        let factor = if empty || self.sum == 0.0 { None } else { Some(1.0 / self.sum) };
        let (body, tail) = out.as_chunks_mut::<L>();
        match factor {
            Some(f) => {
                let f = s.splat(f);
                for x in body {
                    s.store(s.load(x) * f, x);
                }
                if !tail.is_empty() {
                    s.store_partial(s.load_padded(tail, 0.0) * f, tail);
                }
            }
            None => {
                let zero = core::hint::black_box(0.0);
                for x in body {
                    s.store(s.splat(zero), x);
                }
                for x in tail {
                    *x = zero;
                }
            }
        }
    }
}
