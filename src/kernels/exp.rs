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

use crate::simd::{ROUNDING_SHIFTER, Simd, dispatch};

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

/// The algorithm on one vector of lanes (the scalar [`exp`] runs it on a
/// splatted vector, so both give the same bits on a backend).
#[inline(always)]
pub(crate) fn exp_lanes<const L: usize, S: Simd<L>>(s: S, x: S::V) -> S::V {
    // Lanes below LOWEST (−∞ included: masked scores, padding) compute on 0
    // and are set to +0 at the end: clamping them to LOWEST instead would
    // underflow in the final scaling, and on x86 every instruction whose
    // result underflows takes a ~150-cycle microcode assist.
    let zero = s.zero();
    let lowest = s.splat(LOWEST);
    // NaN lanes clamp to LOWEST here (`max` picks its second operand) and are
    // restored at the end.
    let xc = s.select_lt(x, lowest, zero, s.min(s.max(x, lowest), s.splat(HIGHEST)));
    let shifter = s.splat(ROUNDING_SHIFTER);
    let n = (xc * s.splat(LOG2_E) + shifter) - shifter;
    let r = s.mul_add(n, s.splat(-LN2_HI), xc);
    let r = s.mul_add(n, s.splat(-LN2_LO), r);
    let p = s.mul_add(s.splat(P[4]), r, s.splat(P[3]));
    let p = s.mul_add(p, r, s.splat(P[2]));
    let p = s.mul_add(p, r, s.splat(P[1]));
    let p = s.mul_add(p, r, s.splat(P[0]));
    let y = s.mul_add(r * r, p, r) + s.splat(1.0);
    let half = (n * s.splat(0.5) + shifter) - shifter;
    let scaled = y * pow2i(s, half) * pow2i(s, n - half);
    s.select_lt(x, lowest, zero, s.select_nan(x, x, scaled))
}

/// `2^n` for integral `n` in `[-126, 127]`, built from the exponent bits.
#[inline(always)]
fn pow2i<const L: usize, S: Simd<L>>(s: S, n: S::V) -> S::V {
    s.pow2_of_shifted(n + s.splat(ROUNDING_SHIFTER))
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
pub(crate) fn exp2_nonpositive<const L: usize, S: Simd<L>>(s: S, x: S::V) -> S::V {
    // `max(−127, x)`: NaN lanes of `x` stay NaN (`max` picks its second operand).
    let x = s.max(s.splat(-127.0), x);
    let shifter = s.splat(ROUNDING_SHIFTER);
    let shifted = x + shifter;
    let r = x - (shifted - shifter);
    let q = s.mul_add(s.splat(Q2[5]), r, s.splat(Q2[4]));
    let q = s.mul_add(q, r, s.splat(Q2[3]));
    let q = s.mul_add(q, r, s.splat(Q2[2]));
    let q = s.mul_add(q, r, s.splat(Q2[1]));
    let q = s.mul_add(q, r, s.splat(Q2[0]));
    s.mul_add(r, q, s.splat(1.0)) * s.pow2_of_shifted(shifted)
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
    dispatch!(|s| first_lane(s, exp_lanes(s, s.splat(x))))
}

/// Lane 0 of `v`.
#[inline(always)]
pub(crate) fn first_lane<const L: usize, S: Simd<L>>(s: S, v: S::V) -> f32 {
    s.to_array(v).first().copied().unwrap_or(0.0)
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
    dispatch!(|s| exp_slice(s, xs))
}

/// [`exp_in_place`] on backend `s`.
#[inline(always)]
fn exp_slice<const L: usize, S: Simd<L>>(s: S, xs: &mut [f32]) {
    let (body, tail) = xs.as_chunks_mut::<L>();
    for chunk in body {
        s.store(exp_lanes(s, s.load(chunk)), chunk);
    }
    s.store_partial(exp_lanes(s, s.load_padded(tail, 0.0)), tail);
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
    use crate::simd::each_backend;

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

    /// `exp2_nonpositive` on one value, on backend `s`.
    fn exp2_one<const L: usize, S: Simd<L>>(s: S, x: f32) -> f32 {
        first_lane(s, exp2_nonpositive(s, s.splat(x)))
    }

    #[test]
    fn exp2_nonpositive_special_values() {
        each_backend!(|s| {
            assert_eq!(exp2_one(s, 0.0).to_bits(), 1.0f32.to_bits());
            assert_eq!(exp2_one(s, -0.0).to_bits(), 1.0f32.to_bits());
            assert_eq!(exp2_one(s, -1.0), 0.5);
            assert_eq!(exp2_one(s, -126.0), f32::MIN_POSITIVE);
            assert_eq!(exp2_one(s, f32::NEG_INFINITY).to_bits(), 0);
            assert_eq!(exp2_one(s, -127.0).to_bits(), 0);
            assert_eq!(exp2_one(s, -1e30).to_bits(), 0);
            assert!(exp2_one(s, f32::NAN).is_nan());
            let lanes = s.to_array(exp2_nonpositive(s, s.load_padded(&[f32::NAN, -0.5, f32::NEG_INFINITY], f32::NAN)));
            assert!(lanes[0].is_nan() && lanes[2] == 0.0 && lanes[3..].iter().all(|x| x.is_nan()));
            assert_eq!(lanes[1], exp2_one(s, -0.5));
        });
    }

    /// Max error of `exp2_nonpositive` in ulp of the correctly rounded
    /// `2^x`, over every `f32` in `[-126, -2^-30]` (below `2^-30` in
    /// magnitude the result must be `1` or its neighbour below), on every
    /// backend, `L` values per call. Release builds only (3·10⁸ points).
    #[cfg(not(debug_assertions))]
    #[test]
    fn exp2_nonpositive_error() {
        extern crate std;
        // The backends round in two ways only (fused `mul_add` or not): one
        // exhaustive sweep for each.
        let mut swept = [false; 2];
        each_backend!(|s| if !core::mem::replace(&mut swept[usize::from(fused(s))], true) {
            let mut worst = 0.0f64;
            let first = (-(2.0f32.powi(-30))).to_bits();
            let last = (-126.0f32).to_bits();
            let mut bits = first;
            while bits <= last {
                let xs: [f32; _] = core::array::from_fn(|i| f32::from_bits((bits + i as u32).min(last)));
                let got = s.to_array(exp2_nonpositive(s, s.load(&xs)));
                for (x, y) in xs.iter().zip(got) {
                    let want = libm::exp2(*x as f64);
                    let ulp = f64::from(f32::EPSILON) * libm::exp2(libm::floor(libm::log2(want)));
                    worst = worst.max((y as f64 - want).abs() / ulp);
                }
                bits += xs.len() as u32;
            }
            assert!(worst <= 2.0, "{}: exp2_nonpositive {worst} ulp", backend_name(s));
            for t in [1e-30f32, 1e-10, 2e-9] {
                let y = exp2_one(s, -t);
                assert!(y == 1.0 || y == 1.0 - f32::EPSILON / 2.0);
            }
            std::println!("{}: exp2_nonpositive max error {worst:.3} ulp", backend_name(s));
        });
    }

    #[cfg(not(debug_assertions))]
    fn backend_name<const L: usize, S: Simd<L>>(_: S) -> &'static str {
        S::BACKEND.name()
    }

    #[cfg(not(debug_assertions))]
    fn fused<const L: usize, S: Simd<L>>(_: S) -> bool {
        S::FUSED
    }

    #[test]
    fn gradual_underflow() {
        // e^-100 ≈ 3.72e-44 is subnormal: must not flush to zero.
        let got = exp(-100.0);
        let want = exp_reference(-100.0);
        assert!(got > 0.0 && ulps(got, want) <= 1, "{got} vs {want}");
    }
}
