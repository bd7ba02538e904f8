//! Vector backend on `wide`: f32x16 with AVX-512F, f32x8 with AVX, else f32x4
//! (SSE2, NEON, simd128).

use super::{Elementwise, ROUNDING_SHIFTER};

#[cfg(target_feature = "avx512f")]
mod pick {
    pub(crate) type F32s = wide::f32x16;
    pub(crate) type U32s = wide::u32x16;
    pub(crate) const BACKEND: &str = "f32x16";
    pub(crate) const REGISTERS: usize = 32;
}
#[cfg(all(not(target_feature = "avx512f"), target_feature = "avx"))]
mod pick {
    pub(crate) type F32s = wide::f32x8;
    pub(crate) type U32s = wide::u32x8;
    pub(crate) const BACKEND: &str = "f32x8";
    pub(crate) const REGISTERS: usize = 16;
}
#[cfg(not(any(target_feature = "avx512f", target_feature = "avx")))]
mod pick {
    pub(crate) type F32s = wide::f32x4;
    pub(crate) type U32s = wide::u32x4;
    pub(crate) const BACKEND: &str = "f32x4";
    // 16 on x86_64 (SSE) and wasm's register allocator; 32 on aarch64.
    pub(crate) const REGISTERS: usize = 16;
}

use pick::U32s;
pub(crate) use pick::{BACKEND, F32s, REGISTERS};

/// Lanes in one [`F32s`].
pub(crate) const LANES: usize = core::mem::size_of::<F32s>() / 4;

/// All lanes equal to `x`.
#[inline(always)]
pub(crate) fn splat(x: f32) -> F32s {
    F32s::splat(x)
}

/// Loads one full vector.
#[inline(always)]
pub(crate) fn load(lanes: &[f32; LANES]) -> F32s {
    F32s::new(*lanes)
}

/// Stores one full vector.
#[inline(always)]
pub(crate) fn store(v: F32s, lanes: &mut [f32; LANES]) {
    *lanes = v.to_array();
}

/// `a * b + c`, one rounding where [`FUSED`].
#[inline(always)]
pub(crate) fn mul_add(a: F32s, b: F32s, c: F32s) -> F32s {
    a.mul_add(b, c)
}

/// `a * b + c` on one scalar, rounded exactly as a lane of [`mul_add`].
#[inline(always)]
pub(crate) fn mul_add_one(a: f32, b: f32, c: f32) -> f32 {
    wide::f32x4::splat(a).mul_add(wide::f32x4::splat(b), wide::f32x4::splat(c)).to_array()[0]
}

/// Lane-wise maximum ignoring NaN: where one operand is NaN the other wins
/// (`fast_max` would let a NaN replace a running maximum on x86).
#[inline(always)]
pub(crate) fn max(a: F32s, b: F32s) -> F32s {
    a.max(b)
}

/// `0` in the lanes where `v` is `−∞`, `v` elsewhere (NaN stays NaN).
#[inline(always)]
pub(crate) fn zero_if_neg_inf(v: F32s) -> F32s {
    v.simd_eq(F32s::splat(f32::NEG_INFINITY)).select(F32s::splat(0.0), v)
}

/// Sum of all lanes by a halving tree (`log₂L` roundings per lane, the
/// order of the portable backend). `wide`'s own `f32x4::reduce_add` sums the
/// lanes in order, three roundings for the first, which the dot-product
/// bounds do not allow; the fuzzer found an input where it mattered. Its
/// f32x8 (AVX) and f32x16 (AVX-512F) sums already are this tree, in shuffles
/// that LLVM does not find from the generic form, so those are used as is.
#[inline(always)]
pub(crate) fn reduce_add(v: F32s) -> f32 {
    if LANES >= 8 { v.reduce_add() } else { halving_tree(v, |x, y| x + y, 0.0) }
}

/// Maximum of all lanes, ignoring NaN lanes (NaN only if every lane is).
#[inline(always)]
pub(crate) fn reduce_max(v: F32s) -> f32 {
    halving_tree(v, f32::max, f32::NEG_INFINITY)
}

/// Folds the lanes pairwise, upper half into lower half, `log₂L` levels;
/// LLVM lowers it to extracts and vector operations.
#[inline(always)]
fn halving_tree(v: F32s, op: impl Fn(f32, f32) -> f32, empty: f32) -> f32 {
    let mut a = v.to_array();
    let mut half = LANES / 2;
    while half > 0 {
        if let Some((lo, hi)) = a.split_at_mut_checked(half) {
            for (x, y) in lo.iter_mut().zip(hi.iter()) {
                *x = op(*x, *y);
            }
        }
        half /= 2;
    }
    a.first().copied().unwrap_or(empty)
}

impl Elementwise for F32s {
    #[inline(always)]
    fn splat(x: f32) -> Self {
        F32s::splat(x)
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        F32s::mul_add(self, b, c)
    }
    #[inline(always)]
    fn clamp_to(self, lo: f32, hi: f32) -> Self {
        self.fast_max(F32s::splat(lo)).fast_min(F32s::splat(hi))
    }
    #[inline(always)]
    fn select_below(self, lo: f32, then: Self, otherwise: Self) -> Self {
        self.simd_lt(F32s::splat(lo)).select(then, otherwise)
    }
    #[inline(always)]
    fn max_keep_nan(self, lo: f32) -> Self {
        keep_nan_max(F32s::splat(lo), self)
    }
    #[inline(always)]
    fn pow2_of_shifted(self) -> Self {
        F32s::from_bits((self.to_bits() << 23) + U32s::splat(127 << 23))
    }
    #[inline(always)]
    fn pow2i(self) -> Self {
        let shifted = (self + F32s::splat(ROUNDING_SHIFTER)).to_bits();
        F32s::from_bits((shifted << 23) + U32s::splat(127 << 23))
    }
    #[inline(always)]
    fn nan_or(self, value: Self) -> Self {
        self.is_nan().select(self, value)
    }
}

/// `max(lo, x)` lane-wise, NaN lanes of `x` kept. On x86 `maxps(lo, x)`
/// returns its second operand when either is NaN, so one instruction does it.
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[inline(always)]
fn keep_nan_max(lo: F32s, x: F32s) -> F32s {
    lo.fast_max(x)
}

/// `max(lo, x)` lane-wise, NaN lanes of `x` kept (portable form).
#[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
#[inline(always)]
fn keep_nan_max(lo: F32s, x: F32s) -> F32s {
    x.is_nan().select(x, x.fast_max(lo))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lanes of mixed magnitude and sign, so any other summation order
    /// rounds differently somewhere in the run.
    fn lanes(seed: u32) -> [f32; LANES] {
        let mut x = seed.wrapping_mul(2_654_435_761) | 1;
        core::array::from_fn(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let exponent = (x >> 24) as i32 % 40 - 20;
            let mantissa = (x & 0xff_ffff) as f32 / (1 << 23) as f32 - 1.0;
            mantissa * libm::exp2f(exponent as f32)
        })
    }

    /// The documented order: lane `i` += lane `i + n` for n = L/2, L/4, … 1.
    fn upper_into_lower(mut a: [f32; LANES]) -> f32 {
        let mut n = LANES / 2;
        while n > 0 {
            for i in 0..n {
                a[i] += a[i + n];
            }
            n /= 2;
        }
        a[0]
    }

    #[test]
    fn reduce_add_sums_upper_halves_into_lower_bit_for_bit() {
        for seed in 0..100_000 {
            let a = lanes(seed);
            assert_eq!(reduce_add(load(&a)).to_bits(), upper_into_lower(a).to_bits(), "seed {seed}: {a:?}");
        }
    }
}
