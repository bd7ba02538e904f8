//! The only module that knows lane widths and target features.
//!
//! Every kernel and engine is generic over one trait, [`Simd`], implemented
//! by a zero-sized token per backend:
//!
//! | backend | token | lanes | registers | fused `mul_add` | compiled when |
//! |---|---|---:|---:|---|---|
//! | `f32x16` | `x86::Avx512` | 16 | 32 | yes | x86-64 with feature `runtime-dispatch` (default), or `avx512f` enabled |
//! | `f32x8` | `x86::Avx2` | 8 | 16 | yes | x86-64 with `runtime-dispatch`, or `avx2,fma,f16c` enabled |
//! | `f32x4` | `wide4::Wide4` | 4 | 16 | on aarch64 | SSE2 (x86-64), NEON (aarch64), simd128 (wasm32) |
//! | `scalar` | `portable::Portable` | 4 | 8 | no | always (the only one on Cortex-M, RISC-V, and under `force-scalar`) |
//!
//! `build.rs` decides which are compiled (the crate's one `cfg` ladder);
//! [`select`] picks one per public call (`dispatch!`), at run time on x86-64
//! (cpuid, detected once and cached in an atomic) and at compile time
//! elsewhere. Adding a backend takes a token file here implementing [`Simd`],
//! a `build.rs` line, a [`Backend`] variant and an arm in `select::choice`
//! and `dispatch!`.
//!
//! Arithmetic is the same on every backend except where it must differ:
//! `mul_add` fuses (one rounding) only where [`Simd::FUSED`]. `max`, `min`
//! and the selections are exact (up to the sign of a zero maximum), so they
//! give the same values everywhere.

mod portable;
pub(crate) mod select;
#[cfg(sdpa_wide4)]
mod wide4;
#[cfg(any(sdpa_avx2, sdpa_avx512))]
#[allow(unsafe_code)] // the crate's only unsafe code; see its module docs
mod x86;

pub(crate) use select::dispatch;
#[cfg(test)]
pub(crate) use select::each_backend;
#[cfg(feature = "std")]
pub use select::with_backend;
pub use select::{Backend, Unsupported, backend, set_backend};

use crate::element::sealed::Lanes;
use crate::element::{Bf16, F16, KvElement};
use core::ops::{Add, Mul, Sub};

/// Adding then subtracting this rounds an `f32` with `|x| < 2^22` to the
/// nearest integer, ties to even, in the default rounding mode; the integer
/// then sits in the low mantissa bits of the sum.
pub(crate) const ROUNDING_SHIFTER: f32 = 12_582_912.0; // 1.5 * 2^23

/// A SIMD backend with `L` lanes of `f32`: a zero-sized token whose
/// existence proves the CPU can run it, and the vector operations the
/// kernels use.
///
/// Semantics every implementation follows exactly (so results differ
/// between backends only through [`FUSED`](Self::FUSED)):
/// - `max(a, b)` is `a > b ? a : b` per lane, `min(a, b)` is `a < b ? a : b`:
///   a NaN in `a` gives `b`, equal values give `b`, except that of `+0` and
///   `−0` either may come back (aarch64 codegen does not keep the order);
/// - `reduce_add` and `reduce_max` fold the upper half of the lanes into the
///   lower half, `log₂L` times (`reduce_max` with `max(upper, lower)`).
pub(crate) trait Simd<const L: usize>: Copy + Send + Sync {
    /// `L` lanes of `f32`.
    type V: Copy + Add<Output = Self::V> + Sub<Output = Self::V> + Mul<Output = Self::V>;

    /// The backend's name, as [`Backend::name`] gives it.
    const BACKEND: Backend;
    /// Vector registers the tilings may plan on.
    const REGISTERS: usize;
    /// Whether `mul_add` rounds once.
    const FUSED: bool;

    /// Runs `f` with this backend's target features enabled, so that the
    /// vector operations inlined into it compile to its instructions. Every
    /// function that is not inlined into a dispatched call re-enters the
    /// backend through this.
    fn vectorize<R>(self, f: impl FnOnce() -> R) -> R;

    /// All lanes `x`.
    fn splat(self, x: f32) -> Self::V;
    /// One whole vector.
    fn load(self, lanes: &[f32; L]) -> Self::V;
    /// Stores one whole vector.
    fn store(self, v: Self::V, lanes: &mut [f32; L]);
    /// `a * b + c`, one rounding where [`FUSED`](Self::FUSED).
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a > b ? a : b` per lane.
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a < b ? a : b` per lane.
    fn min(self, a: Self::V, b: Self::V) -> Self::V;
    /// `then` where `a < b`, `otherwise` elsewhere (NaN lanes: `otherwise`).
    fn select_lt(self, a: Self::V, b: Self::V, then: Self::V, otherwise: Self::V) -> Self::V;
    /// `then` where `a == b`, `otherwise` elsewhere.
    fn select_eq(self, a: Self::V, b: Self::V, then: Self::V, otherwise: Self::V) -> Self::V;
    /// `then` where `a` is NaN, `otherwise` elsewhere.
    fn select_nan(self, a: Self::V, then: Self::V, otherwise: Self::V) -> Self::V;
    /// `2^n` from `v = n + ROUNDING_SHIFTER` (`n` integral in `[-127, 127]`),
    /// built from the exponent bits: `(bits(v) << 23) + (127 << 23)`;
    /// `n = -127` gives `+0`.
    fn pow2_of_shifted(self, v: Self::V) -> Self::V;
    /// Sum of the lanes by the halving tree.
    fn reduce_add(self, v: Self::V) -> f32;
    /// Maximum of the lanes by the halving tree (NaN lanes lose to numbers).
    fn reduce_max(self, v: Self::V) -> f32;

    /// Every vector of `lanes`, loaded. Hot paths build vector arrays with
    /// loops like this one, never `map` or `from_fn`: a closure the optimizer
    /// leaves out of line runs without the backend's target features, so
    /// every intrinsic in it becomes a call.
    #[inline(always)]
    fn load_all<const N: usize>(self, lanes: &[[f32; L]; N]) -> [Self::V; N] {
        let mut v = [self.zero(); N];
        for (v, lanes) in v.iter_mut().zip(lanes) {
            *v = self.load(lanes);
        }
        v
    }

    /// Lane `j` = the sum of the lanes of `v[j]`, each by a fixed pairwise
    /// tree of `log₂L` levels (the halving tree here; the x86 backends use
    /// their transposing adds, which pair adjacent lanes first).
    #[inline(always)]
    fn reduce_add_each(self, v: [Self::V; L]) -> Self::V {
        let mut sums = [0.0; L];
        for (sum, v) in sums.iter_mut().zip(v) {
            *sum = self.reduce_add(v);
        }
        self.load(&sums)
    }

    /// `L` binary16 values widened to `f32` (exact).
    #[inline(always)]
    fn load_f16(self, lanes: &[F16; L]) -> Self::V {
        self.load(&lanes.map(F16::to_f32))
    }

    /// `L` bfloat16 values widened to `f32` (exact).
    #[inline(always)]
    fn load_bf16(self, lanes: &[Bf16; L]) -> Self::V {
        self.load(&lanes.map(Bf16::to_f32))
    }

    /// `L` keys or values of any [`KvElement`] widened to `f32` (exact):
    /// [`load`](Self::load), [`load_f16`](Self::load_f16) or
    /// [`load_bf16`](Self::load_bf16).
    #[inline(always)]
    fn load_kv<E: KvElement>(self, lanes: &[E; L]) -> Self::V {
        match E::lanes(lanes) {
            Lanes::F32(x) => self.load(x),
            Lanes::F16(x) => self.load_f16(x),
            Lanes::Bf16(x) => self.load_bf16(x),
        }
    }

    /// [`load_padded`](Self::load_padded) of keys or values of any
    /// [`KvElement`], widened to `f32`.
    #[inline(always)]
    fn load_kv_padded<E: KvElement>(self, tail: &[E], pad: f32) -> Self::V {
        self.load(&core::array::from_fn(|i| tail.get(i).map_or(pad, |&x| x.to_f32())))
    }

    /// All lanes `0`.
    #[inline(always)]
    fn zero(self) -> Self::V {
        self.splat(0.0)
    }

    /// Loads a vector whose lanes past `tail.len()` are `pad`.
    ///
    /// Lane by lane over all `L` lanes, each copied only if `tail` has it:
    /// a conditional copy, which the optimizer cannot turn into a `memcpy`
    /// call (a zipped copy loop became one on Cortex-M).
    #[inline(always)]
    fn load_padded(self, tail: &[f32], pad: f32) -> Self::V {
        self.load(&core::array::from_fn(|i| tail.get(i).copied().unwrap_or(pad)))
    }

    /// Stores the first `tail.len()` lanes of `v` into `tail` (lane by
    /// lane, as [`load_padded`](Self::load_padded)).
    #[inline(always)]
    fn store_partial(self, v: Self::V, tail: &mut [f32]) {
        for (i, x) in self.to_array(v).into_iter().enumerate() {
            if let Some(dst) = tail.get_mut(i) {
                *dst = x;
            }
        }
    }

    /// The lanes as an array.
    #[inline(always)]
    fn to_array(self, v: Self::V) -> [f32; L] {
        let mut lanes = [0.0; L];
        self.store(v, &mut lanes);
        lanes
    }

    /// `0` where `v` is `−∞`, `v` elsewhere (NaN stays NaN).
    #[inline(always)]
    fn zero_if_neg_inf(self, v: Self::V) -> Self::V {
        self.select_eq(v, self.splat(f32::NEG_INFINITY), self.zero(), v)
    }
}

/// Bits of `2^n` from the bits of `n + ROUNDING_SHIFTER`: the shift drops the
/// shifter's own bits (all above bit 9) and moves `n` into the exponent field.
#[inline(always)]
pub(crate) const fn pow2_bits(shifted_bits: u32) -> u32 {
    (shifted_bits << 23).wrapping_add(127 << 23)
}

#[cfg(test)]
mod tests;
