//! The `f32x8` backend: AVX2 + FMA (+ F16C) on `core::arch`.

use super::detect::features;
use crate::element::{Bf16, F16};
use crate::simd::{Backend, Simd};
use core::arch::x86_64::*;
use core::ops::{Add, Mul, Sub};

/// Calls AVX2/FMA intrinsics from code compiled without those features.
macro_rules! avx2 {
    ($e:expr) => {
        // SAFETY: reached only through an `Avx2` or `Avx512` token or an
        // `F32x8` made by one, and `Avx2::new` / `Avx512::new` return a token
        // only when the CPU (and OS) support AVX2, FMA and F16C (see `detect`).
        unsafe { $e }
    };
}

/// Proof that the CPU runs AVX2, FMA and F16C.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2 {
    _private: (),
}

impl Avx2 {
    /// The token, if this CPU has the features (detected once per process;
    /// no detection when the build enables them).
    #[inline(always)]
    pub(crate) fn new() -> Option<Self> {
        let fixed = cfg!(all(target_feature = "avx2", target_feature = "fma", target_feature = "f16c"));
        (fixed || features().avx2).then_some(Self { _private: () })
    }
}

/// Eight `f32` lanes in a YMM register.
#[derive(Clone, Copy, Debug)]
pub(crate) struct F32x8(__m256);

impl Add for F32x8 {
    type Output = Self;
    #[inline(always)]
    fn add(self, rhs: Self) -> Self {
        F32x8(avx2!(_mm256_add_ps(self.0, rhs.0)))
    }
}

impl Sub for F32x8 {
    type Output = Self;
    #[inline(always)]
    fn sub(self, rhs: Self) -> Self {
        F32x8(avx2!(_mm256_sub_ps(self.0, rhs.0)))
    }
}

impl Mul for F32x8 {
    type Output = Self;
    #[inline(always)]
    fn mul(self, rhs: Self) -> Self {
        F32x8(avx2!(_mm256_mul_ps(self.0, rhs.0)))
    }
}

/// Runs `f` compiled with AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

impl Simd<8> for Avx2 {
    type V = F32x8;
    const BACKEND: Backend = Backend::F32x8;
    const REGISTERS: usize = 16;
    const FUSED: bool = true;

    #[inline(always)]
    fn vectorize<R>(self, f: impl FnOnce() -> R) -> R {
        avx2!(with_avx2(f))
    }
    #[inline(always)]
    fn splat(self, x: f32) -> F32x8 {
        F32x8(avx2!(_mm256_set1_ps(x)))
    }
    #[inline(always)]
    fn load(self, lanes: &[f32; 8]) -> F32x8 {
        F32x8(avx2!(_mm256_loadu_ps(lanes.as_ptr())))
    }
    #[inline(always)]
    fn store(self, v: F32x8, lanes: &mut [f32; 8]) {
        avx2!(_mm256_storeu_ps(lanes.as_mut_ptr(), v.0))
    }
    #[inline(always)]
    fn load_f16(self, lanes: &[F16; 8]) -> F32x8 {
        F32x8(avx2!(_mm256_cvtph_ps(_mm_loadu_si128(lanes.as_ptr().cast()))))
    }
    #[inline(always)]
    fn load_bf16(self, lanes: &[Bf16; 8]) -> F32x8 {
        avx2!({
            let wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(lanes.as_ptr().cast()));
            F32x8(_mm256_castsi256_ps(_mm256_slli_epi32::<16>(wide)))
        })
    }
    #[inline(always)]
    fn mul_add(self, a: F32x8, b: F32x8, c: F32x8) -> F32x8 {
        F32x8(avx2!(_mm256_fmadd_ps(a.0, b.0, c.0)))
    }
    #[inline(always)]
    fn max(self, a: F32x8, b: F32x8) -> F32x8 {
        // `vmaxps(a, b)` is exactly `a > b ? a : b`.
        F32x8(avx2!(_mm256_max_ps(a.0, b.0)))
    }
    #[inline(always)]
    fn min(self, a: F32x8, b: F32x8) -> F32x8 {
        F32x8(avx2!(_mm256_min_ps(a.0, b.0)))
    }
    #[inline(always)]
    fn select_lt(self, a: F32x8, b: F32x8, then: F32x8, otherwise: F32x8) -> F32x8 {
        F32x8(avx2!(_mm256_blendv_ps(otherwise.0, then.0, _mm256_cmp_ps::<_CMP_LT_OQ>(a.0, b.0))))
    }
    #[inline(always)]
    fn select_eq(self, a: F32x8, b: F32x8, then: F32x8, otherwise: F32x8) -> F32x8 {
        F32x8(avx2!(_mm256_blendv_ps(otherwise.0, then.0, _mm256_cmp_ps::<_CMP_EQ_OQ>(a.0, b.0))))
    }
    #[inline(always)]
    fn select_nan(self, a: F32x8, then: F32x8, otherwise: F32x8) -> F32x8 {
        F32x8(avx2!(_mm256_blendv_ps(otherwise.0, then.0, _mm256_cmp_ps::<_CMP_UNORD_Q>(a.0, a.0))))
    }
    #[inline(always)]
    fn pow2_of_shifted(self, v: F32x8) -> F32x8 {
        avx2!({
            let bits = _mm256_slli_epi32::<23>(_mm256_castps_si256(v.0));
            F32x8(_mm256_castsi256_ps(_mm256_add_epi32(bits, _mm256_set1_epi32(127 << 23))))
        })
    }
    #[inline(always)]
    fn reduce_add(self, v: F32x8) -> f32 {
        avx2!({
            let s = _mm_add_ps(_mm256_castps256_ps128(v.0), _mm256_extractf128_ps::<1>(v.0));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps::<1>(s, s)))
        })
    }
    #[inline(always)]
    fn reduce_add_each(self, v: [F32x8; 8]) -> F32x8 {
        let mut raw = [avx2!(_mm256_setzero_ps()); 8];
        for (slot, v) in raw.iter_mut().zip(v) {
            *slot = v.0;
        }
        F32x8(transpose_sum(raw))
    }
    #[inline(always)]
    fn reduce_max(self, v: F32x8) -> f32 {
        avx2!({
            let m = _mm_max_ps(_mm256_extractf128_ps::<1>(v.0), _mm256_castps256_ps128(v.0));
            let m = _mm_max_ps(_mm_movehl_ps(m, m), m);
            _mm_cvtss_f32(_mm_max_ss(_mm_shuffle_ps::<1>(m, m), m))
        })
    }
}

/// Lane `j` = the sum of the lanes of `v[j]`: adjacent pairs, then pairs of
/// pairs (`vhaddps`), then the two 128-bit halves. Also used by the
/// AVX-512 backend, whose token implies AVX2.
#[inline(always)]
pub(super) fn transpose_sum(v: [__m256; 8]) -> __m256 {
    avx2!({
        let [a, b, c, d, e, f, g, h] = v;
        let q0 = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
        let q1 = _mm256_hadd_ps(_mm256_hadd_ps(e, f), _mm256_hadd_ps(g, h));
        _mm256_add_ps(_mm256_permute2f128_ps::<0x20>(q0, q1), _mm256_permute2f128_ps::<0x31>(q0, q1))
    })
}
