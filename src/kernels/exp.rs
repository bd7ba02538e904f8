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
//! see docs/ACCURACY.md. Special values: `exp(-∞) = 0`,
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

/// Below this, `e^t` is under `2^-127.5`: the clamp of [`exp_nonpositive`]
/// (its `n = −127` gives `2^n = +0`).
const NONPOSITIVE_LOWEST: f32 = -88.0;

/// `e^t` for `t ≤ 0`: the softmax's exponential (`t` = a score minus the
/// running maximum), in natural units.
///
/// Method: `t` clamped below at −88, `n = round(t·log₂e)`, `r = t − n·ln2`
/// with the two-constant `ln2` of [`exp`] (the first product and
/// difference exact), `e^r = 1 + (r + r²·P(r))` with `exp`'s degree-4 `P`
/// evaluated in Estrin's form (two independent halves, which an in-order
/// FPU overlaps), times `2^n` from the exponent bits. No `n/2` split and no
/// final selections: about two thirds of `exp`'s operations (on a
/// Cortex-M4F about 24 instructions per element, no library call).
///
/// Accuracy on `[-87.3, 0]` (every `f32`, every backend, measured by the
/// test `exp_nonpositive_error` below): ≤ 2 ulp of the correctly rounded
/// `e^t`, and monotone, as [`exp`]. `e^0 = 1` exactly; `−∞`, and every `t`
/// below −87.68 (results under `2^-126.5`), give exactly `+0`; results in
/// `[2^-126.5, 2^-126)` are subnormal products, rounded once; NaN stays
/// NaN. Positive `t` is never passed.
#[inline(always)]
pub(crate) fn exp_nonpositive<const L: usize, S: Simd<L>>(s: S, t: S::V) -> S::V {
    // `max(lowest, t)`: NaN lanes of `t` stay NaN (`max` picks its second operand).
    let t = s.max(s.splat(NONPOSITIVE_LOWEST), t);
    let shifter = s.splat(ROUNDING_SHIFTER);
    let z = s.mul_add(t, s.splat(LOG2_E), shifter);
    let n = z - shifter;
    let r = s.mul_add(n, s.splat(-LN2_HI), t);
    let r = s.mul_add(n, s.splat(-LN2_LO), r);
    let r2 = r * r;
    let low = s.mul_add(s.splat(P[1]), r, s.splat(P[0]));
    let high = s.mul_add(s.splat(P[3]), r, s.splat(P[2]));
    let high = s.mul_add(s.splat(P[4]), r2, high);
    let p = s.mul_add(high, r2, low);
    let y = s.mul_add(p, r2, r) + s.splat(1.0);
    y * s.pow2_of_shifted(z)
}

/// `e^x` for one `f32`, bit-identical to each lane of [`exp_in_place`].
///
/// Within 2 ulp of the correctly rounded result on `[-87.3, 0]` (measured
/// exhaustively; see docs/ACCURACY.md for the figure of each
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

    /// `exp_nonpositive` on one value, on backend `s`.
    fn exp_np_one<const L: usize, S: Simd<L>>(s: S, t: f32) -> f32 {
        first_lane(s, exp_nonpositive(s, s.splat(t)))
    }

    #[test]
    fn exp_nonpositive_special_values() {
        each_backend!(|s| {
            assert_eq!(exp_np_one(s, 0.0).to_bits(), 1.0f32.to_bits());
            assert_eq!(exp_np_one(s, -0.0).to_bits(), 1.0f32.to_bits());
            assert_eq!(exp_np_one(s, f32::NEG_INFINITY).to_bits(), 0);
            for t in [-87.7f32, -88.0, -88.5, -100.0, -1e30, -f32::MAX] {
                assert_eq!(exp_np_one(s, t).to_bits(), 0, "t = {t}");
            }
            // 2^-126.5 < e^-87.6 < 2^-126: a subnormal product, rounded once.
            let want = libm::exp(f64::from(-87.6f32));
            let got = f64::from(exp_np_one(s, -87.6));
            assert!((got - want).abs() <= libm::exp2(-149.0), "{got:e} vs {want:e}");
            assert!(exp_np_one(s, f32::NAN).is_nan());
            assert!(exp_np_one(s, f32::from_bits(0xffc0_0001)).is_nan());
            let lanes = s.to_array(exp_nonpositive(s, s.load_padded(&[f32::NAN, -0.5, f32::NEG_INFINITY], f32::NAN)));
            assert!(lanes[0].is_nan() && lanes[2] == 0.0 && lanes[3..].iter().all(|x| x.is_nan()));
            assert_eq!(lanes[1], exp_np_one(s, -0.5));
        });
    }

    /// Max error of `exp_nonpositive` in ulp of the correctly rounded
    /// `e^t`, over every `f32` in `[-87.3, 0]`, and its monotonicity, on
    /// every backend, `L` values per call. Release builds only (1.1·10⁹
    /// points per rounding mode).
    #[cfg(not(debug_assertions))]
    #[test]
    fn exp_nonpositive_error() {
        extern crate std;
        // The backends round in two ways only (fused `mul_add` or not): one
        // exhaustive sweep for each.
        let mut swept = [false; 2];
        each_backend!(|s| if !core::mem::replace(&mut swept[usize::from(fused(s))], true) {
            let (mut worst, mut at) = (0.0f64, 0.0f32);
            let mut non_monotone = 0u32;
            let mut previous = 1.0f32;
            let first = (-0.0f32).to_bits();
            let last = (-87.3f32).to_bits();
            let mut bits = first;
            while bits <= last {
                let ts: [f32; _] = core::array::from_fn(|i| f32::from_bits((bits + i as u32).min(last)));
                let got = s.to_array(exp_nonpositive(s, s.load(&ts)));
                for (t, y) in ts.iter().zip(got) {
                    let want = libm::exp(f64::from(*t));
                    // One ulp of `want` as an f32: 2^(exponent − 23), from the f64 bits.
                    let ulp = f64::from_bits(((want.to_bits() >> 52) - 23) << 52);
                    let e = (f64::from(y) - want).abs() / ulp;
                    if e > worst || e.is_nan() {
                        (worst, at) = (if e.is_nan() { f64::INFINITY } else { e }, *t);
                    }
                    // Bits grow with |t|: e^t must not grow with them.
                    non_monotone += u32::from(y > previous);
                    previous = y;
                }
                bits += ts.len() as u32;
            }
            std::println!("{}: exp_nonpositive max error {worst:.3} ulp at t = {at:e}", backend_name(s));
            assert!(worst <= 2.0, "{}: exp_nonpositive {worst} ulp at t = {at:e}", backend_name(s));
            assert_eq!(non_monotone, 0, "{}: exp_nonpositive is not monotone", backend_name(s));
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
