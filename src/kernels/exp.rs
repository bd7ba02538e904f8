//! Vectorized `e^x` for `f32`, the exponential behind every softmax here.
//!
//! Method: clamp `x` to `[-104, 88.8]`, split `x = n·ln2 + r` with
//! `n = round(x·log2 e)` and a two-constant (Cody–Waite) `ln2` so `r` is
//! exact to well below an ulp, approximate `e^r = 1 + r + r²·P(r)` on
//! `|r| ≤ ln2/2` with a degree-4 `P` fitted for this crate (Chebyshev fit, max
//! error 6.5e-8 in `P`, so under 8e-9 in `e^r`), then scale by `2^n` as
//! `2^(n - n/2) · 2^(n/2)` so gradual underflow and overflow round once.
//!
//! Accuracy (measured over every `f32` in `[-87.3, 0]` by `tests/exp_exhaustive.rs`):
//! see the crate README, section "Accuracy". Special values: `exp(-∞) = 0`,
//! `exp(±0) = 1` exactly, `exp(NaN) = NaN`, `exp(+∞) = +∞`, results below
//! the smallest subnormal round to `+0`, above `f32::MAX` to `+∞`.

use crate::simd::{self, Elementwise, F32s, LANES, ROUNDING_SHIFTER};

const LOG2_E: f32 = core::f32::consts::LOG2_E;
/// `ln 2` to 15 significant bits, so `n · LN2_HI` is exact for `|n| < 512`.
const LN2_HI: f32 = 0.693_145_75;
/// `ln 2 - LN2_HI`.
const LN2_LO: f32 = 1.428_606_8e-6;
/// Coefficients of `P(r) ≈ (e^r - 1 - r) / r²`, lowest degree first.
const P: [f32; 5] = [0.5, 0.166_665_78, 0.041_666_556, 0.008_363_173, 0.001_392_617_6];
/// Below this every result is `+0` (`e^-104 < 2^-150`).
const LOWEST: f32 = -104.0;
/// Above this every result is `+∞` (`e^88.8 > f32::MAX`).
const HIGHEST: f32 = 88.8;

/// The algorithm, once, for one `f32` or a whole vector of lanes.
#[inline(always)]
pub(crate) fn exp_lanes<T: Elementwise>(x: T) -> T {
    // Lanes below LOWEST (−∞ included: masked scores, padding) compute on 0
    // and are set to +0 at the end: clamping them to LOWEST instead would
    // underflow in the final scaling, and on x86 every instruction whose
    // result underflows takes a ~150-cycle microcode assist.
    let zero = T::splat(0.0);
    let xc = x.select_below(LOWEST, zero, x.clamp_to(LOWEST, HIGHEST));
    let shifter = T::splat(ROUNDING_SHIFTER);
    let n = (xc * T::splat(LOG2_E) + shifter) - shifter;
    let r = n.mul_add(T::splat(-LN2_HI), xc);
    let r = n.mul_add(T::splat(-LN2_LO), r);
    let p = T::splat(P[4]).mul_add(r, T::splat(P[3]));
    let p = p.mul_add(r, T::splat(P[2]));
    let p = p.mul_add(r, T::splat(P[1]));
    let p = p.mul_add(r, T::splat(P[0]));
    let y = (r * r).mul_add(p, r) + T::splat(1.0);
    let half = (n * T::splat(0.5) + shifter) - shifter;
    let scaled = y * half.pow2i() * (n - half).pow2i();
    x.select_below(LOWEST, zero, x.nan_or(scaled))
}

/// Coefficients of `Q(r) ≈ (2^r − 1) / r` on `|r| ≤ ½`, lowest degree first:
/// a minimax (Lawson-reweighted least squares) fit made for this crate;
/// `1 + r·Q(r)` is within 1.6·10⁻⁸ relative of `2^r` before rounding (the
/// fit's constant term rounds to `ln 2` in `f32`).
const Q2: [f32; 6] =
    [core::f32::consts::LN_2, 0.240_226_48, 0.055_503_324, 0.009_618_437, 0.001_339_887_5, 0.000_153_533_62];

/// `2^x` for `x ≤ 0`, the exponential of the fused attention engine, which
/// works on scores pre-multiplied by `log₂ e` so that no Cody–Waite split is
/// needed: `n = round(x)`, `r = x − n` exactly, `2^r = 1 + r·Q(r)`, times
/// `2^n` from the exponent bits. About half the operations of [`exp`].
///
/// Range: results below `2^-126.5` (`x < −126.5`) flush to `+0`, so `−∞`
/// gives exactly `0`; `0` gives exactly `1`; NaN stays NaN. Positive `x` is
/// never passed (scores minus their running maximum). Accuracy on
/// `[−126, 0]`: measured over every `f32` by the test below,
/// `exp2_nonpositive_error` (see the README's "Accuracy" table).
#[inline(always)]
pub(crate) fn exp2_nonpositive_lanes<T: Elementwise>(x: T) -> T {
    let x = x.max_keep_nan(-127.0);
    let shifter = T::splat(ROUNDING_SHIFTER);
    let shifted = x + shifter;
    let r = x - (shifted - shifter);
    let q = T::splat(Q2[5]).mul_add(r, T::splat(Q2[4]));
    let q = q.mul_add(r, T::splat(Q2[3]));
    let q = q.mul_add(r, T::splat(Q2[2]));
    let q = q.mul_add(r, T::splat(Q2[1]));
    let q = q.mul_add(r, T::splat(Q2[0]));
    r.mul_add(q, T::splat(1.0)) * shifted.pow2_of_shifted()
}

/// `e^x` for one `f32`, bit-identical to each lane of [`exp_in_place`].
///
/// Within 2 ulp of the correctly rounded result on `[-87.3, 0]` (measured
/// exhaustively; see the README's "Accuracy" section for the figure of each
/// backend), with gradual underflow below and overflow to `+∞` above
/// `ln(f32::MAX)`.
///
/// ```
/// use sdpa::kernels::exp;
/// assert_eq!(exp(0.0), 1.0);
/// assert_eq!(exp(f32::NEG_INFINITY), 0.0);
/// assert!(exp(f32::NAN).is_nan());
/// assert!((exp(1.0) - core::f32::consts::E).abs() <= 2.0 * f32::EPSILON);
/// ```
#[inline]
pub fn exp(x: f32) -> f32 {
    exp_lanes(x)
}

/// `e^x` in place over a slice, vectorized; each element as [`exp`].
///
/// ```
/// let mut xs = [0.0, -1.0, f32::NEG_INFINITY];
/// sdpa::kernels::exp_in_place(&mut xs);
/// assert_eq!(xs[0], 1.0);
/// assert!((xs[1] - 0.367_879_44).abs() < 1e-7);
/// assert_eq!(xs[2], 0.0);
/// ```
pub fn exp_in_place(xs: &mut [f32]) {
    let (body, tail) = xs.as_chunks_mut::<LANES>();
    for chunk in body {
        simd::store(exp_lanes(simd::load(chunk)), chunk);
    }
    let v: F32s = simd::load_padded(tail, 0.0);
    simd::store_partial(exp_lanes(v), tail);
}

/// Scalar reference: `libm::expf` (correctly rounded in practice, < 1 ulp).
///
/// ```
/// assert_eq!(sdpa::kernels::exp_reference(0.0), 1.0);
/// ```
pub fn exp_reference(x: f32) -> f32 {
    libm::expf(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between two finite, same-sign floats.
    fn ulps(a: f32, b: f32) -> u32 {
        a.to_bits().abs_diff(b.to_bits())
    }

    #[test]
    fn special_values() {
        assert_eq!(exp(0.0).to_bits(), 1.0f32.to_bits());
        assert_eq!(exp(-0.0).to_bits(), 1.0f32.to_bits());
        assert_eq!(exp(f32::NEG_INFINITY).to_bits(), 0);
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(-104.0), 0.0);
        assert_eq!(exp(-200.0), 0.0);
        assert_eq!(exp(-f32::MAX), 0.0);
        assert_eq!(exp(89.0), f32::INFINITY);
        assert_eq!(exp(f32::MAX), f32::INFINITY);
        assert!(exp(88.72).is_finite());
    }

    #[test]
    fn vector_lanes_match_scalar_on_a_sweep() {
        let mut xs = [0.0f32; 37];
        for (i, x) in xs.iter_mut().enumerate() {
            *x = -90.0 + 4.9 * i as f32;
        }
        let mut ys = xs;
        exp_in_place(&mut ys);
        for (x, y) in xs.iter().zip(&ys) {
            assert_eq!(exp(*x).to_bits(), y.to_bits(), "x = {x}");
        }
    }

    #[test]
    fn close_to_libm_on_known_points() {
        for x in [-87.3f32, -50.0, -10.5, -1.0, -0.5, -1e-3, -1e-30, 0.3, 1.0, 10.0, 80.0] {
            let (got, want) = (exp(x), exp_reference(x));
            assert!(ulps(got, want) <= 2, "x = {x}: {got} vs {want}");
        }
    }

    #[test]
    fn exp2_nonpositive_special_values() {
        assert_eq!(exp2_nonpositive_lanes(0.0f32).to_bits(), 1.0f32.to_bits());
        assert_eq!(exp2_nonpositive_lanes(-0.0f32).to_bits(), 1.0f32.to_bits());
        assert_eq!(exp2_nonpositive_lanes(-1.0f32), 0.5);
        assert_eq!(exp2_nonpositive_lanes(-126.0f32), f32::MIN_POSITIVE);
        assert_eq!(exp2_nonpositive_lanes(f32::NEG_INFINITY).to_bits(), 0);
        assert_eq!(exp2_nonpositive_lanes(-127.0f32).to_bits(), 0);
        assert_eq!(exp2_nonpositive_lanes(-1e30f32).to_bits(), 0);
        assert!(exp2_nonpositive_lanes(f32::NAN).is_nan());
        let lanes = exp2_nonpositive_lanes(simd::load_padded(&[f32::NAN, -0.5, f32::NEG_INFINITY], f32::NAN));
        let mut out = [0.0; LANES];
        simd::store(lanes, &mut out);
        assert!(out[0].is_nan() && out[2] == 0.0 && out.get(3).is_none_or(|x| x.is_nan()));
        assert_eq!(out[1], exp2_nonpositive_lanes(-0.5f32));
    }

    /// Max error of `exp2_nonpositive_lanes` in ulp of the correctly rounded
    /// `2^x`, over every `f32` in `[-126, -2^-30]` (below `2^-30` in
    /// magnitude the result must be `1` or its neighbour below); vector
    /// lanes are checked bit-identical to the scalar path on a sweep.
    /// Release builds only (3·10⁸ points).
    #[cfg(not(debug_assertions))]
    #[test]
    fn exp2_nonpositive_error() {
        extern crate std;
        let mut worst = 0.0f64;
        let mut bits = (-(2.0f32.powi(-30))).to_bits();
        let last = (-126.0f32).to_bits();
        while bits <= last {
            let x = f32::from_bits(bits);
            let got = exp2_nonpositive_lanes(x) as f64;
            let want = libm::exp2(x as f64);
            let ulp = f64::from(f32::EPSILON) * libm::exp2(libm::floor(libm::log2(want)));
            worst = worst.max((got - want).abs() / ulp);
            bits += 1;
        }
        assert!(worst <= 2.0, "exp2_nonpositive: {worst} ulp");
        for t in [1e-30f32, 1e-10, 2e-9] {
            assert!(exp2_nonpositive_lanes(-t) == 1.0 || exp2_nonpositive_lanes(-t) == 1.0 - f32::EPSILON / 2.0);
        }
        let mut xs = [0.0f32; 64];
        for (i, x) in xs.iter_mut().enumerate() {
            *x = -126.0 + 1.97 * i as f32;
        }
        for chunk in xs.chunks_exact(LANES) {
            let mut out = [0.0; LANES];
            let arr: &[f32; LANES] = chunk.try_into().unwrap();
            simd::store(exp2_nonpositive_lanes(simd::load(arr)), &mut out);
            for (x, y) in chunk.iter().zip(&out) {
                assert_eq!(exp2_nonpositive_lanes(*x).to_bits(), y.to_bits());
            }
        }
        std::println!("exp2_nonpositive max error: {worst:.3} ulp");
    }

    #[test]
    fn gradual_underflow() {
        // e^-100 ≈ 3.72e-44 is subnormal: must not flush to zero.
        let got = exp(-100.0);
        let want = exp_reference(-100.0);
        assert!(got > 0.0 && ulps(got, want) <= 1, "{got} vs {want}");
    }
}
