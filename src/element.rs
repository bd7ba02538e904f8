//! 16-bit storage for keys and values: IEEE binary16 ([`F16`]) and bfloat16
//! ([`Bf16`]), kept as bits and widened to `f32` in registers when the
//! kernels load them (F16C / AVX-512 conversions where the CPU has them,
//! portable integer code elsewhere; both exact, so every backend sees the
//! same `f32`). Queries, accumulation and outputs stay `f32`.
//!
//! ```
//! use sdpa::{Bf16, F16};
//! let x = 0.1f32;
//! assert_eq!(F16::from_f32(x).to_f32(), 0.099975586); // 11 significant bits
//! assert_eq!(Bf16::from_f32(x).to_f32(), 0.100097656); // 8 significant bits
//! assert!(F16::from_f32(1e5).to_f32().is_infinite()); // beyond f16's 65504
//! ```

/// An IEEE 754 binary16 value (`half::f16`'s layout), stored as its bits:
/// 11 significant bits, largest finite value 65504.
///
/// ```
/// let h = sdpa::F16::from_f32(1.5);
/// assert_eq!((h.to_bits(), h.to_f32()), (0x3e00, 1.5));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct F16(u16);

/// A bfloat16 value (`half::bf16`'s layout: the upper half of an `f32`),
/// stored as its bits: 8 significant bits, the range of `f32`.
///
/// ```
/// let b = sdpa::Bf16::from_f32(1.5);
/// assert_eq!((b.to_bits(), b.to_f32()), (0x3fc0, 1.5));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Bf16(u16);

impl F16 {
    /// The value with these bits.
    ///
    /// ```
    /// assert_eq!(sdpa::F16::from_bits(0x3c00).to_f32(), 1.0);
    /// ```
    pub const fn from_bits(bits: u16) -> Self {
        F16(bits)
    }

    /// The bits.
    ///
    /// ```
    /// assert_eq!(sdpa::F16::from_f32(-2.0).to_bits(), 0xc000);
    /// ```
    pub const fn to_bits(self) -> u16 {
        self.0
    }

    /// `x` rounded to the nearest binary16, ties to even; beyond 65504 it
    /// rounds to `±∞` (from 65520 up), below the smallest subnormal to
    /// `±0`; NaN stays NaN (quiet).
    ///
    /// ```
    /// use sdpa::F16;
    /// assert_eq!(F16::from_f32(65519.0).to_f32(), 65504.0);
    /// assert_eq!(F16::from_f32(65520.0).to_f32(), f32::INFINITY);
    /// assert_eq!(F16::from_f32(1e-8).to_f32(), 0.0);
    /// assert!(F16::from_f32(f32::NAN).to_f32().is_nan());
    /// ```
    pub const fn from_f32(x: f32) -> Self {
        let bits = x.to_bits();
        let sign = ((bits >> 16) & 0x8000) as u16;
        let exp = ((bits >> 23) & 0xff) as i32;
        let man = bits & 0x7f_ffff;
        if exp == 0xff {
            // ±∞, or NaN with its top payload bits and the quiet bit set.
            let nan = if man != 0 { 0x0200 | (man >> 13) as u16 } else { 0 };
            return F16(sign | 0x7c00 | nan);
        }
        // Unbiased exponent; binary16 normals have e in [-14, 15].
        let e = exp - 127;
        if e > 15 {
            return F16(sign | 0x7c00);
        }
        // The significand with its implicit bit, and how far to shift it
        // right to land in the 10-bit field (more for subnormals).
        let (significand, shift) = if e >= -14 {
            (man | 0x80_0000, 13)
        } else if e >= -25 {
            (man | 0x80_0000, (-1 - e) as u32)
        } else {
            return F16(sign); // below half the smallest subnormal: ±0
        };
        let half = 1u32 << (shift - 1);
        let rest = significand & ((1u32 << shift) - 1);
        let mut rounded = significand >> shift;
        if rest > half || (rest == half && rounded & 1 == 1) {
            rounded += 1; // may carry into the exponent: still correct
        }
        let biased = if e >= -14 { ((e + 15) as u32) << 10 } else { 0 };
        // Normals: the implicit bit (bit 10 of `rounded`) is dropped by the
        // addition of the exponent field minus one unit.
        let out = if e >= -14 { biased + rounded - 0x400 } else { rounded };
        F16(sign | out as u16)
    }

    /// The exact `f32` value (a signalling NaN comes back quiet, as the
    /// F16C conversion gives it).
    ///
    /// ```
    /// assert_eq!(sdpa::F16::from_bits(0x0001).to_f32(), 2f32.powi(-24)); // smallest subnormal
    /// ```
    pub const fn to_f32(self) -> f32 {
        f32::from_bits(f16_bits_to_f32_bits(self.0))
    }
}

/// The bits of the `f32` equal to the binary16 with bits `h`.
const fn f16_bits_to_f32_bits(h: u16) -> u32 {
    let sign = ((h & 0x8000) as u32) << 16;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    match exp {
        0 if man == 0 => sign,
        0 => {
            // Subnormal: normalise. man < 2^10, so 1 ≤ shift ≤ 10.
            let shift = man.leading_zeros() - 21;
            sign | ((113 - shift) << 23) | ((man << (shift + 13)) & 0x7f_ffff)
        }
        0x1f if man == 0 => sign | 0x7f80_0000,
        0x1f => sign | 0x7fc0_0000 | (man << 13),
        _ => sign | ((exp + 112) << 23) | (man << 13),
    }
}

impl Bf16 {
    /// The value with these bits.
    ///
    /// ```
    /// assert_eq!(sdpa::Bf16::from_bits(0x3f80).to_f32(), 1.0);
    /// ```
    pub const fn from_bits(bits: u16) -> Self {
        Bf16(bits)
    }

    /// The bits.
    ///
    /// ```
    /// assert_eq!(sdpa::Bf16::from_f32(-2.0).to_bits(), 0xc000);
    /// ```
    pub const fn to_bits(self) -> u16 {
        self.0
    }

    /// `x` rounded to the nearest bfloat16, ties to even (overflow to
    /// `±∞`); NaN stays NaN (quiet).
    ///
    /// ```
    /// use sdpa::Bf16;
    /// assert_eq!(Bf16::from_f32(1.0 + 1.0 / 256.0).to_f32(), 1.0); // a tie: to even
    /// assert_eq!(Bf16::from_f32(f32::MAX).to_f32(), f32::INFINITY);
    /// ```
    pub const fn from_f32(x: f32) -> Self {
        let bits = x.to_bits();
        if x.is_nan() {
            return Bf16(((bits >> 16) | 0x0040) as u16);
        }
        let round = 0x7fff + ((bits >> 16) & 1);
        Bf16((bits.wrapping_add(round) >> 16) as u16)
    }

    /// The exact `f32` value.
    ///
    /// ```
    /// assert_eq!(sdpa::Bf16::from_bits(0x4049).to_f32(), 3.140625);
    /// ```
    pub const fn to_f32(self) -> f32 {
        f32::from_bits((self.0 as u32) << 16)
    }
}

/// The element types keys and values can be stored in: `f32`, [`F16`],
/// [`Bf16`]. Sealed; the engines read each through vector loads that
/// widen to `f32` in registers (`vcvtph2ps` with F16C or AVX-512, a
/// zero-extend and shift for bf16, exact integer code on the other
/// backends), so a 16-bit K/V call gives the same bits as the `f32` call on
/// the widened values, on the row engine, which runs every 16-bit call.
///
/// # Error bound
/// Against the f64 reference of the *rounded* inputs (the widened K and V),
/// the output obeys the crate's attention bound unchanged (README,
/// "Accuracy": `max|v|·((e^{2Δ} − 1) + e^{2Δ}·K)` per output), since the
/// engine computes exactly what it computes for those `f32` values.
/// Rounding to 16 bits is what comes on top, against the unrounded inputs:
/// each entry moves by at most `ε·|x| + η` (`ε = 2⁻¹¹, η = 2⁻²⁵` for
/// binary16, 11 significant bits; `ε = 2⁻⁸, η = 2⁻¹³⁴` for bfloat16, 8
/// bits; binary16 turns `|x| ≥ 65520` into `±∞`), so each score by at most
/// `Δₖ = |scale|·maxⱼ Σᵢ |qᵢ|·(ε·|kⱼᵢ| + η)`, each weight by the factor
/// `e^{±2Δₖ}`, and each output by at most `max|v|·(e^{2Δₖ} − 1 + ε) + η`
/// (`max|v|` over the visible values of its column). With `|q|, |k| ≤ 1`,
/// D = 64 and scale `1/8`: `Δₖ ≤ 2⁻¹¹·8 ≈ 0.004` for binary16, so the
/// rounding adds at most about 0.8 % of `max|v|` (bfloat16: about 7 %).
/// `tests/kv16.rs` checks both statements on every backend.
///
/// ```
/// use sdpa::{F16, KvElement};
/// let k: Vec<F16> = [0.1f32, -2.0].iter().map(|&x| F16::from_f32(x)).collect();
/// assert_eq!(k[1].to_f32(), -2.0);
/// ```
pub trait KvElement: Copy + Send + Sync + PartialEq + core::fmt::Debug + sealed::Sealed + 'static {
    /// The exact `f32` value.
    ///
    /// ```
    /// use sdpa::KvElement;
    /// assert_eq!(KvElement::to_f32(sdpa::F16::from_f32(0.5)), 0.5);
    /// ```
    fn to_f32(self) -> f32;
    /// `x` rounded to this type (nearest, ties to even).
    ///
    /// ```
    /// use sdpa::{Bf16, KvElement};
    /// assert_eq!(<Bf16 as KvElement>::from_f32(1.0), Bf16::from_f32(1.0));
    /// ```
    fn from_f32(x: f32) -> Self;
}

impl KvElement for f32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        x
    }
}

impl KvElement for F16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        F16::to_f32(self)
    }
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        F16::from_f32(x)
    }
}

impl KvElement for Bf16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        Bf16::to_f32(self)
    }
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        Bf16::from_f32(x)
    }
}

/// What the engines need of an element type, kept out of the public API
/// (public items of a private module: unnameable outside the crate).
pub(crate) mod sealed {
    use super::{Bf16, F16};

    /// `L` elements of one of the three types, for the backend's widening
    /// load (`Simd::load_kv`): each type gives its own variant, so the
    /// match folds away once the type is known.
    pub enum Lanes<'a, const L: usize> {
        /// `f32` lanes.
        F32(&'a [f32; L]),
        /// Binary16 lanes.
        F16(&'a [F16; L]),
        /// Bfloat16 lanes.
        Bf16(&'a [Bf16; L]),
    }

    pub trait Sealed: Sized {
        /// The element equal to `+0.0`.
        const ZERO: Self;
        /// The lanes, tagged with their type.
        fn lanes<const L: usize>(lanes: &[Self; L]) -> Lanes<'_, L>;
        /// The data as `f32`, for `f32` only: the engines that read K and
        /// V as `f32` only take the call then.
        fn as_f32(data: &[Self]) -> Option<&[f32]>;
    }

    impl Sealed for f32 {
        const ZERO: Self = 0.0;
        #[inline(always)]
        fn lanes<const L: usize>(lanes: &[f32; L]) -> Lanes<'_, L> {
            Lanes::F32(lanes)
        }
        #[inline(always)]
        fn as_f32(data: &[f32]) -> Option<&[f32]> {
            Some(data)
        }
    }

    impl Sealed for F16 {
        const ZERO: Self = F16::from_bits(0);
        #[inline(always)]
        fn lanes<const L: usize>(lanes: &[F16; L]) -> Lanes<'_, L> {
            Lanes::F16(lanes)
        }
        #[inline(always)]
        fn as_f32(_: &[F16]) -> Option<&[f32]> {
            None
        }
    }

    impl Sealed for Bf16 {
        const ZERO: Self = Bf16::from_bits(0);
        #[inline(always)]
        fn lanes<const L: usize>(lanes: &[Bf16; L]) -> Lanes<'_, L> {
            Lanes::Bf16(lanes)
        }
        #[inline(always)]
        fn as_f32(_: &[Bf16]) -> Option<&[f32]> {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every binary16: to f32 and back is the identity (NaNs stay NaN), and
    /// the conversion is exact (checked against the value's definition).
    #[test]
    fn every_f16_round_trips_exactly() {
        for bits in 0..=u16::MAX {
            let h = F16::from_bits(bits);
            let x = h.to_f32();
            let exp = (bits >> 10) & 0x1f;
            let man = f64::from(bits & 0x3ff);
            let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
            let want = match exp {
                0 => sign * man * 2f64.powi(-24),
                0x1f if man == 0.0 => sign * f64::INFINITY,
                0x1f => f64::NAN,
                e => sign * (1.0 + man / 1024.0) * 2f64.powi(i32::from(e) - 15),
            };
            if want.is_nan() {
                assert!(x.is_nan() && F16::from_f32(x).to_f32().is_nan(), "{bits:#06x}");
                assert_eq!(x.to_bits() & 0x0040_0000, 0x0040_0000, "{bits:#06x}: NaN comes back quiet");
            } else {
                assert_eq!(f64::from(x), want, "{bits:#06x}");
                assert_eq!(F16::from_f32(x).to_bits(), bits, "{bits:#06x}");
            }
        }
    }

    /// Rounding of f32 to binary16 against the nearest-even rule, on the
    /// midpoints of every interval between finite binary16 values and their
    /// neighbours; and the overflow threshold 65520 (the midpoint between
    /// 65504 and 2^16).
    #[test]
    fn f32_to_f16_rounds_to_nearest_even() {
        assert_eq!(F16::from_f32(65520.0).to_bits(), 0x7c00);
        assert_eq!(F16::from_f32(f32::from_bits(65520f32.to_bits() - 1)).to_bits(), 0x7bff);
        for bits in 0..0x7bffu16 {
            let (lo, hi) = (F16::from_bits(bits).to_f32() as f64, F16::from_bits(bits + 1).to_f32() as f64);
            let mid = ((lo + hi) / 2.0) as f32; // exact: 12 bits fit in f32
            let even = if bits & 1 == 0 { bits } else { bits + 1 };
            assert_eq!(F16::from_f32(mid).to_bits(), even, "midpoint above {bits:#06x}");
            let below = f32::from_bits(mid.to_bits() - 1);
            let above = f32::from_bits(mid.to_bits() + 1);
            assert_eq!(F16::from_f32(below).to_bits(), bits, "below the midpoint above {bits:#06x}");
            assert_eq!(F16::from_f32(above).to_bits(), bits + 1, "above the midpoint above {bits:#06x}");
            assert_eq!(F16::from_f32(-mid).to_bits(), even | 0x8000);
        }
    }

    #[test]
    fn bf16_rounds_to_nearest_even_and_round_trips() {
        for bits in (0..=u16::MAX).step_by(7) {
            let b = Bf16::from_bits(bits);
            let x = b.to_f32();
            if x.is_nan() {
                assert!(Bf16::from_f32(x).to_f32().is_nan());
                continue;
            }
            assert_eq!(Bf16::from_f32(x), b, "{bits:#06x}");
            let up = f32::from_bits(x.to_bits() + 0x8000); // the midpoint to the next
            if up.is_finite() {
                let even = if bits & 1 == 0 { bits } else { bits.wrapping_add(1) };
                assert_eq!(Bf16::from_f32(up).to_bits(), even, "midpoint above {bits:#06x}");
            }
        }
    }
}
