//! Max-subtracted softmax in place, the exact three-pass form.

use super::accumulate::scale_with;
use super::exp::exp_lanes;
use crate::simd::{Simd, dispatch};

/// `xs ← softmax(xs)`: `exp(xᵢ − max) / Σⱼ exp(xⱼ − max)`, in three
/// vectorized passes (max; exponentials and their sum; scaling).
///
/// Specified non-finite behaviour:
/// - every element `−∞` (a fully masked row), or an empty slice: all zeros,
///   never NaN and never a uniform row;
/// - `−∞` elements get weight exactly `0`;
/// - any NaN, or any `+∞`, makes every element NaN (like PyTorch).
///
/// Finite inputs never overflow, whatever their magnitude, because the
/// maximum is subtracted first. Each weight `w` is within the relative
/// `2⁻²⁴·(|t| + min(R, (n−1)/e) + n + 9)` of the exact value (`t = x − max`,
/// `R` the input range; exp ≤ 2 ulp), the weights sum to 1 within
/// `(⌈n/L⌉ + log₂L + 2)·2⁻²⁴` (`L` lanes), and `x ↦ w` is monotone; see
/// docs/ACCURACY.md for measured figures.
///
/// ```
/// let mut x = [1.0, 2.0, 3.0, f32::NEG_INFINITY];
/// sdpa::kernels::softmax(&mut x);
/// assert!((x.iter().sum::<f32>() - 1.0).abs() < 1e-6);
/// assert!(x[2] > x[1] && x[1] > x[0] && x[3] == 0.0);
///
/// let mut masked = [f32::NEG_INFINITY; 3];
/// sdpa::kernels::softmax(&mut masked);
/// assert_eq!(masked, [0.0; 3]);
/// ```
pub fn softmax(xs: &mut [f32]) {
    dispatch!(|s| softmax_with(s, xs))
}

/// [`softmax`] on backend `s`.
#[inline(always)]
pub(crate) fn softmax_with<const L: usize, S: Simd<L>>(s: S, xs: &mut [f32]) {
    let max = max_value(s, xs);
    let sum = exp_shifted_sum(s, xs, shift_for(max));
    if sum == 0.0 {
        xs.fill(0.0);
    } else {
        scale_with(s, xs, 1.0 / sum);
    }
}

/// Scalar reference for [`softmax`] on `libm::expf`, with the same
/// non-finite rules.
///
/// ```
/// let mut x = [0.0, 0.0];
/// sdpa::kernels::softmax_reference(&mut x);
/// assert_eq!(x, [0.5, 0.5]);
/// ```
pub fn softmax_reference(xs: &mut [f32]) {
    let max = xs.iter().fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m });
    let shift = shift_for(max);
    let mut sum = 0.0;
    for x in xs.iter_mut() {
        *x = libm::expf(*x - shift);
        sum += *x;
    }
    let inv = if sum == 0.0 { 0.0 } else { 1.0 / sum };
    for x in xs.iter_mut() {
        *x *= inv;
    }
}

/// The value to subtract before exponentiating: the maximum, or `0` when
/// every score is `−∞` so that `(−∞) − (−∞)` is never formed.
#[inline(always)]
pub(crate) fn shift_for(max: f32) -> f32 {
    if max == f32::NEG_INFINITY { 0.0 } else { max }
}

/// Largest non-NaN element, `−∞` for an empty slice (or all NaN). NaN
/// elements are ignored here; the exponentials turn them into a NaN sum.
#[inline(always)]
pub(crate) fn max_value<const L: usize, S: Simd<L>>(s: S, xs: &[f32]) -> f32 {
    let (body, tail) = xs.as_chunks::<L>();
    // `max(x, m)` keeps `m` where `x` is NaN: a NaN tail lane must not start `m`.
    let mut m = s.max(s.load_padded(tail, f32::NEG_INFINITY), s.splat(f32::NEG_INFINITY));
    for chunk in body {
        m = s.max(s.load(chunk), m);
    }
    s.reduce_max(m)
}

/// `xs[i] ← exp(xs[i] − shift)`, returning the sum of the new values.
/// Tail lanes are padded with `−∞`, which contribute exactly `0`.
#[inline(always)]
pub(crate) fn exp_shifted_sum<const L: usize, S: Simd<L>>(s: S, xs: &mut [f32], shift: f32) -> f32 {
    let shift = s.splat(shift);
    let (body, tail) = xs.as_chunks_mut::<L>();
    let mut sum = s.splat(0.0);
    for chunk in body {
        let e = exp_lanes(s, s.load(chunk) - shift);
        s.store(e, chunk);
        sum = sum + e;
    }
    let e = exp_lanes(s, s.load_padded(tail, f32::NEG_INFINITY) - shift);
    s.store_partial(e, tail);
    s.reduce_add(sum + e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_reference_and_sums_to_one() {
        for n in 1..70 {
            let mut x: [f32; 70] = core::array::from_fn(|i| (i as f32 * 1.7).sin() * 30.0);
            let mut r = x;
            softmax(&mut x[..n]);
            softmax_reference(&mut r[..n]);
            let sum: f32 = x[..n].iter().sum();
            assert!((sum - 1.0).abs() <= 1e-6 * n as f32, "n = {n}: {sum}");
            for (a, b) in x[..n].iter().zip(&r[..n]) {
                assert!((a - b).abs() <= 1e-6 * b.max(1e-30) + 1e-37, "n = {n}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn non_finite_rules() {
        let mut empty: [f32; 0] = [];
        softmax(&mut empty);

        let mut all_masked = [f32::NEG_INFINITY; 17];
        softmax(&mut all_masked);
        assert_eq!(all_masked, [0.0; 17]);

        let mut with_nan = [1.0, f32::NAN, 2.0];
        softmax(&mut with_nan);
        assert!(with_nan.iter().all(|x| x.is_nan()));

        let mut with_inf = [1.0, f32::INFINITY, 2.0];
        softmax(&mut with_inf);
        assert!(with_inf.iter().all(|x| x.is_nan()));

        let mut huge = [f32::MAX, -f32::MAX, f32::MAX];
        softmax(&mut huge);
        assert_eq!(huge, [0.5, 0.0, 0.5]);
    }
}
