//! The only module that knows lane widths and target features.
//!
//! One vector type, [`F32s`], is chosen at compile time from the target
//! features the build enables:
//!
//! | build | type | lanes |
//! |---|---|---:|
//! | `avx512f` (e.g. `-C target-cpu=native` on Zen 4/5) | `wide::f32x16` | 16 |
//! | `avx` (e.g. `-C target-cpu=haswell`) | `wide::f32x8` | 8 |
//! | `sse2` (x86_64 default), `neon` (aarch64), `simd128` (wasm32) | `wide::f32x4` | 4 |
//! | anything else (Cortex-M, RISC-V), or feature `force-scalar` | portable `[f32; 4]` lanes | 4 |
//!
//! `mul_add` fuses (one rounding) only where the target has FMA (`fma` on
//! x86, always on aarch64 through `wide`); the scalar backend always computes
//! `a * b + c` with two roundings. Results therefore differ in the last bits
//! between builds, never more than the bounds the kernels document.
//!
//! Everything else in the crate is written against the free functions below,
//! so a new backend is one more `cfg` arm here.

// The portable backend runs where `wide` has no vector unit to use, and
// everywhere under `force-scalar`; the two conditions below are exact negations.
#[cfg_attr(
    any(
        feature = "force-scalar",
        not(any(
            target_feature = "sse2",
            all(target_arch = "aarch64", target_feature = "neon"),
            all(target_arch = "wasm32", target_feature = "simd128")
        ))
    ),
    path = "scalar.rs"
)]
#[cfg_attr(
    not(any(
        feature = "force-scalar",
        not(any(
            target_feature = "sse2",
            all(target_arch = "aarch64", target_feature = "neon"),
            all(target_arch = "wasm32", target_feature = "simd128")
        ))
    )),
    path = "wide_backend.rs"
)]
mod backend;

pub(crate) use backend::*;

/// Name of the backend this build uses, for reports and benchmarks.
///
/// ```
/// let name = sdpa::backend();
/// assert!(["f32x16", "f32x8", "f32x4", "scalar"].contains(&name));
/// ```
pub const fn backend() -> &'static str {
    BACKEND
}

/// Loads a vector whose missing tail lanes are `pad`.
#[inline(always)]
pub(crate) fn load_padded(tail: &[f32], pad: f32) -> F32s {
    let mut lanes = [pad; LANES];
    for (lane, &x) in lanes.iter_mut().zip(tail) {
        *lane = x;
    }
    load(&lanes)
}

/// Stores the first `tail.len()` lanes of `v` into `tail`.
#[inline(always)]
pub(crate) fn store_partial(v: F32s, tail: &mut [f32]) {
    let mut lanes = [0.0; LANES];
    store(v, &mut lanes);
    for (dst, &x) in tail.iter_mut().zip(&lanes) {
        *dst = x;
    }
}

/// Operations the elementwise math kernels (exp) need, implemented both for
/// one `f32` and for a whole [`F32s`], so the scalar function and every
/// vector lane run the same algorithm.
pub(crate) trait Elementwise:
    Copy + core::ops::Add<Output = Self> + core::ops::Sub<Output = Self> + core::ops::Mul<Output = Self>
{
    fn splat(x: f32) -> Self;
    /// `self * b + c`, fused where the backend fuses.
    fn mul_add(self, b: Self, c: Self) -> Self;
    /// Clamps to `[lo, hi]`; NaN lanes may become anything (callers restore them).
    fn clamp_to(self, lo: f32, hi: f32) -> Self;
    /// `then` in the lanes where `self < lo`, `otherwise` elsewhere (NaN
    /// lanes take `otherwise`).
    fn select_below(self, lo: f32, then: Self, otherwise: Self) -> Self;
    /// `max(self, lo)`, keeping NaN lanes NaN.
    fn max_keep_nan(self, lo: f32) -> Self;
    /// `2^n` from `self = n + ROUNDING_SHIFTER` (`n` integral in `[-127, 127]`),
    /// built from the exponent bits; `n = -127` gives `+0`.
    fn pow2_of_shifted(self) -> Self;
    /// `2^n` for integral `n` in `[-126, 127]`, built from the exponent bits.
    fn pow2i(self) -> Self;
    /// `other` in the lanes where `self` is NaN, `value` elsewhere.
    fn nan_or(self, value: Self) -> Self;
}

impl Elementwise for f32 {
    #[inline(always)]
    fn splat(x: f32) -> Self {
        x
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        mul_add_one(self, b, c)
    }
    #[inline(always)]
    fn clamp_to(self, lo: f32, hi: f32) -> Self {
        self.max(lo).min(hi)
    }
    #[inline(always)]
    fn select_below(self, lo: f32, then: Self, otherwise: Self) -> Self {
        if self < lo { then } else { otherwise }
    }
    #[inline(always)]
    fn max_keep_nan(self, lo: f32) -> Self {
        if self < lo { lo } else { self }
    }
    #[inline(always)]
    fn pow2_of_shifted(self) -> Self {
        f32::from_bits(pow2_bits(self.to_bits()))
    }
    #[inline(always)]
    fn pow2i(self) -> Self {
        f32::from_bits(pow2_bits((self + ROUNDING_SHIFTER).to_bits()))
    }
    #[inline(always)]
    fn nan_or(self, value: Self) -> Self {
        if self.is_nan() { self } else { value }
    }
}

/// Adding then subtracting this rounds an `f32` with `|x| < 2^22` to the
/// nearest integer, ties to even, in the default rounding mode; the integer
/// then sits in the low mantissa bits of the sum.
pub(crate) const ROUNDING_SHIFTER: f32 = 12_582_912.0; // 1.5 * 2^23

/// Bits of `2^n` from the bits of `n + ROUNDING_SHIFTER`: the shift drops the
/// shifter's own bits (all above bit 9) and moves `n` into the exponent field.
#[inline(always)]
pub(crate) const fn pow2_bits(shifted_bits: u32) -> u32 {
    (shifted_bits << 23).wrapping_add(127 << 23)
}
