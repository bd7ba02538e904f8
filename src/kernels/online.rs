//! Online (streaming) softmax: running max, running sum, rescaled accumulator.

use super::accumulate::{axpy_rows_with, scale_with};
use super::exp::{exp_lanes, first_lane};
use super::softmax::{exp_shifted_sum, max_value, shift_for};
use crate::simd::{Simd, dispatch};

/// State of a softmax computed one block of scores at a time
/// (Milakov & Gimelshein 2018; FlashAttention-2's per-row loop).
///
/// After blocks `s₁ … sₖ` it holds `m = max` of every score seen and
/// `l = Σ exp(s − m)`. Each [`update`](Self::update) returns the factor by
/// which a caller's accumulator must be rescaled so that it stays relative to
/// the current maximum; [`finish`](Self::finish) divides by `l` once at the
/// end. Memory: two `f32`, whatever the number of scores.
///
/// Non-finite rules match [`softmax`](super::softmax): `−∞` scores weigh
/// exactly `0`; while every score so far is `−∞` the state stays empty and
/// `(−∞) − (−∞)` is never formed; a state that saw only `−∞` (or nothing)
/// finishes to zeros; NaN or `+∞` scores make the result NaN.
///
/// Accuracy: with `t = s − max`, `R` the score range, `n` scores in `b`
/// blocks, each weight is within the relative
/// `2⁻²⁴·(|t| + min(R, (n−1)/e) + n + 9 + 11·(b − 1))` of the exact softmax
/// (three-pass: `b = 1`); equal scores in different blocks may differ in the
/// last bits, as earlier blocks are rescaled once more per new maximum.
///
/// ```
/// use sdpa::kernels::OnlineSoftmax;
/// // Two value rows of width 2, fed one score at a time.
/// let values = [[1.0, 0.0], [0.0, 1.0]];
/// let mut state = OnlineSoftmax::new();
/// let mut acc = [0.0; 2];
/// for (score, row) in [0.0f32, 0.0].iter().zip(&values) {
///     state.accumulate(&mut [*score], row, &mut acc);
/// }
/// state.finish(&mut acc);
/// assert_eq!(acc, [0.5, 0.5]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OnlineSoftmax {
    max: f32,
    sum: f32,
}

impl Default for OnlineSoftmax {
    fn default() -> Self {
        Self::new()
    }
}

impl OnlineSoftmax {
    /// The empty state: max `−∞`, sum `0`.
    ///
    /// ```
    /// let s = sdpa::kernels::OnlineSoftmax::new();
    /// assert_eq!((s.max(), s.sum()), (f32::NEG_INFINITY, 0.0));
    /// ```
    pub const fn new() -> Self {
        Self { max: f32::NEG_INFINITY, sum: 0.0 }
    }

    /// Running maximum of every non-NaN score folded in so far (`−∞` if none).
    ///
    /// ```
    /// let mut s = sdpa::kernels::OnlineSoftmax::new();
    /// s.update(&mut [3.0, 1.0]);
    /// assert_eq!(s.max(), 3.0);
    /// ```
    pub const fn max(&self) -> f32 {
        self.max
    }

    /// Running `Σ exp(s − max)` over every score folded in so far.
    ///
    /// ```
    /// let mut s = sdpa::kernels::OnlineSoftmax::new();
    /// s.update(&mut [0.0, 0.0]);
    /// assert_eq!(s.sum(), 2.0);
    /// ```
    pub const fn sum(&self) -> f32 {
        self.sum
    }

    /// Folds a block of scores into the state and rewrites each score to its
    /// unnormalised weight `exp(s − m_new)`. Returns `exp(m_old − m_new)`, the
    /// factor to multiply anything accumulated with earlier weights by
    /// (exactly `1.0` when the maximum did not change).
    ///
    /// ```
    /// let mut s = sdpa::kernels::OnlineSoftmax::new();
    /// let mut first = [0.0];
    /// assert_eq!(s.update(&mut first), 0.0); // nothing accumulated before
    /// let mut second = [2.0f32.ln()];
    /// let rescale = s.update(&mut second);
    /// assert!((rescale - 0.5).abs() < 1e-7 && second[0] == 1.0);
    /// ```
    pub fn update(&mut self, scores: &mut [f32]) -> f32 {
        dispatch!(|s| self.update_with(s, scores))
    }

    /// [`update`](Self::update) on backend `s`.
    #[inline(always)]
    fn update_with<const L: usize, S: Simd<L>>(&mut self, s: S, scores: &mut [f32]) -> f32 {
        let block_max = max_value(s, scores);
        let new_max = if block_max > self.max { block_max } else { self.max };
        let shift = shift_for(new_max);
        let block_sum = exp_shifted_sum(s, scores, shift);
        let rescale = if self.max == new_max { 1.0 } else { first_lane(s, exp_lanes(s, s.splat(self.max - shift))) };
        self.sum = self.sum * rescale + block_sum;
        self.max = new_max;
        rescale
    }

    /// One fused step: [`update`](Self::update) with `scores`, rescale `acc`,
    /// then `acc += Σⱼ wⱼ · rows[j]` where the rows have `acc.len()` elements.
    ///
    /// Every row is read, even one whose score is `−∞` (its weight is `0`, but
    /// `0 · NaN` is NaN): skip masked rows before calling, as the attention
    /// kernels do.
    ///
    /// ```
    /// let mut s = sdpa::kernels::OnlineSoftmax::new();
    /// let mut acc = [0.0; 2];
    /// s.accumulate(&mut [0.0, 0.0], &[1.0, 2.0, 3.0, 4.0], &mut acc);
    /// s.finish(&mut acc);
    /// assert_eq!(acc, [2.0, 3.0]);
    /// ```
    pub fn accumulate(&mut self, scores: &mut [f32], rows: &[f32], acc: &mut [f32]) {
        dispatch!(|s| {
            let rescale = self.update_with(s, scores);
            if rescale != 1.0 {
                scale_with(s, acc, rescale);
            }
            axpy_rows_with(s, acc, scores, rows);
        })
    }

    /// Normalises the accumulator once at the end: `acc /= sum`, or all zeros
    /// when no score (or only `−∞`) was folded in.
    ///
    /// ```
    /// let s = sdpa::kernels::OnlineSoftmax::new();
    /// let mut acc = [f32::NAN; 3];
    /// s.finish(&mut acc); // nothing attended: a zero row, not NaN
    /// assert_eq!(acc, [0.0; 3]);
    /// ```
    pub fn finish(&self, acc: &mut [f32]) {
        if self.sum == 0.0 {
            acc.fill(0.0);
        } else {
            super::scale(acc, 1.0 / self.sum);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::softmax;

    #[test]
    fn blockwise_equals_three_pass() {
        let scores: [f32; 50] = core::array::from_fn(|i| (i as f32 * 2.3).sin() * 20.0 - i as f32 * 0.1);
        let mut exact = scores;
        softmax(&mut exact);
        for block in 1..=50 {
            let mut state = OnlineSoftmax::new();
            let mut weights = scores;
            let mut rescaled = [0.0f32; 50];
            let mut done = 0;
            for chunk in weights.chunks_mut(block) {
                let r = state.update(chunk);
                for w in &mut rescaled[..done] {
                    *w *= r;
                }
                rescaled[done..done + chunk.len()].copy_from_slice(chunk);
                done += chunk.len();
            }
            state.finish(&mut rescaled);
            for (a, b) in rescaled.iter().zip(&exact) {
                assert!((a - b).abs() <= 4e-7 * b.max(1e-30), "block {block}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn minus_infinity_blocks_leave_the_state_empty() {
        let mut state = OnlineSoftmax::new();
        let mut block = [f32::NEG_INFINITY; 5];
        assert_eq!(state.update(&mut block), 1.0);
        assert_eq!(block, [0.0; 5]);
        assert_eq!(state, OnlineSoftmax::new());
        let mut acc = [1.0; 2];
        state.finish(&mut acc);
        assert_eq!(acc, [0.0; 2]);
    }

    #[test]
    fn nan_scores_poison_the_result() {
        let mut state = OnlineSoftmax::new();
        let mut acc = [0.0; 2];
        state.accumulate(&mut [1.0, f32::NAN], &[1.0, 1.0, 1.0, 1.0], &mut acc);
        state.accumulate(&mut [5.0], &[1.0, 1.0], &mut acc);
        state.finish(&mut acc);
        assert!(acc.iter().all(|x| x.is_nan()));
    }
}
