//! The `f32x4` backend on `wide`: SSE2 on x86-64 (the baseline, no
//! detection needed), NEON on aarch64, simd128 on wasm32.

use super::{Backend, Simd};
use wide::{f32x4, u32x4};

/// The `f32x4` backend's token: compiled only where the target has the unit.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Wide4;

impl Simd<4> for Wide4 {
    type V = f32x4;
    const BACKEND: Backend = Backend::F32x4;
    /// 16 XMM registers on x86-64 (aarch64 has 32; the tilings stay at 16).
    const REGISTERS: usize = 16;
    const FUSED: bool = Backend::F32x4.fused_mul_add();

    #[inline(always)]
    fn vectorize<R>(self, f: impl FnOnce() -> R) -> R {
        f()
    }
    #[inline(always)]
    fn splat(self, x: f32) -> f32x4 {
        f32x4::splat(x)
    }
    #[inline(always)]
    fn load(self, lanes: &[f32; 4]) -> f32x4 {
        f32x4::new(*lanes)
    }
    #[inline(always)]
    fn store(self, v: f32x4, lanes: &mut [f32; 4]) {
        *lanes = v.to_array();
    }
    #[inline(always)]
    fn mul_add(self, a: f32x4, b: f32x4, c: f32x4) -> f32x4 {
        a.mul_add(b, c)
    }
    #[inline(always)]
    fn max(self, a: f32x4, b: f32x4) -> f32x4 {
        // SSE's `maxps(a, b)` is exactly `a > b ? a : b`.
        if cfg!(target_feature = "sse") { a.fast_max(b) } else { a.simd_gt(b).select(a, b) }
    }
    #[inline(always)]
    fn min(self, a: f32x4, b: f32x4) -> f32x4 {
        if cfg!(target_feature = "sse") { a.fast_min(b) } else { a.simd_lt(b).select(a, b) }
    }
    #[inline(always)]
    fn select_lt(self, a: f32x4, b: f32x4, then: f32x4, otherwise: f32x4) -> f32x4 {
        a.simd_lt(b).select(then, otherwise)
    }
    #[inline(always)]
    fn select_eq(self, a: f32x4, b: f32x4, then: f32x4, otherwise: f32x4) -> f32x4 {
        a.simd_eq(b).select(then, otherwise)
    }
    #[inline(always)]
    fn select_nan(self, a: f32x4, then: f32x4, otherwise: f32x4) -> f32x4 {
        a.is_nan().select(then, otherwise)
    }
    #[inline(always)]
    fn pow2_of_shifted(self, v: f32x4) -> f32x4 {
        f32x4::from_bits((v.to_bits() << 23) + u32x4::splat(127 << 23))
    }
    #[inline(always)]
    fn reduce_add(self, v: f32x4) -> f32 {
        // `wide`'s own f32x4 sum adds the lanes in order; the halving tree is
        // the documented order (the fuzzer found a dot product where it mattered).
        let [a, b, c, d] = v.to_array();
        (a + c) + (b + d)
    }
    #[inline(always)]
    fn reduce_max(self, v: f32x4) -> f32 {
        let [a, b, c, d] = v.to_array();
        let (x, y) = (if c > a { c } else { a }, if d > b { d } else { b });
        if y > x { y } else { x }
    }
}
