//! The `f32x16` backend: AVX-512F on `core::arch`.

use super::avx2::transpose_sum;
use super::detect::features;
use crate::element::{Bf16, F16};
use crate::simd::{Backend, Simd};
use core::arch::x86_64::*;
use core::ops::{Add, Mul, Sub};

/// Calls AVX-512F intrinsics from code compiled without the feature.
macro_rules! avx512 {
    ($e:expr) => {
        // SAFETY: reached only through an `Avx512` token or an `F32x16` made
        // by one, and `Avx512::new` returns a token only when the CPU (and
        // OS) support AVX-512F, AVX2, FMA and F16C (see `detect`).
        unsafe { $e }
    };
}

/// Proof that the CPU runs AVX-512F (and AVX2, FMA, F16C).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512 {
    _private: (),
}

impl Avx512 {
    /// The token, if this CPU has the features (detected once per process;
    /// no detection when the build enables them).
    #[inline(always)]
    pub(crate) fn new() -> Option<Self> {
        (cfg!(target_feature = "avx512f") || features().avx512).then_some(Self { _private: () })
    }
}

/// Sixteen `f32` lanes in a ZMM register.
#[derive(Clone, Copy, Debug)]
pub(crate) struct F32x16(__m512);

impl Add for F32x16 {
    type Output = Self;
    #[inline(always)]
    fn add(self, rhs: Self) -> Self {
        F32x16(avx512!(_mm512_add_ps(self.0, rhs.0)))
    }
}

impl Sub for F32x16 {
    type Output = Self;
    #[inline(always)]
    fn sub(self, rhs: Self) -> Self {
        F32x16(avx512!(_mm512_sub_ps(self.0, rhs.0)))
    }
}

impl Mul for F32x16 {
    type Output = Self;
    #[inline(always)]
    fn mul(self, rhs: Self) -> Self {
        F32x16(avx512!(_mm512_mul_ps(self.0, rhs.0)))
    }
}

/// Runs `f` compiled with AVX-512F (and what it implies).
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
#[inline]
fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// The upper and lower 256-bit halves.
#[inline(always)]
fn halves(v: __m512) -> (__m256, __m256) {
    avx512!((_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v))), _mm512_castps512_ps256(v)))
}

impl Simd<16> for Avx512 {
    type V = F32x16;
    const BACKEND: Backend = Backend::F32x16;
    const REGISTERS: usize = 32;
    const FUSED: bool = true;

    #[inline(always)]
    fn vectorize<R>(self, f: impl FnOnce() -> R) -> R {
        avx512!(with_avx512(f))
    }
    #[inline(always)]
    fn splat(self, x: f32) -> F32x16 {
        F32x16(avx512!(_mm512_set1_ps(x)))
    }
    #[inline(always)]
    fn load(self, lanes: &[f32; 16]) -> F32x16 {
        F32x16(avx512!(_mm512_loadu_ps(lanes.as_ptr())))
    }
    #[inline(always)]
    fn store(self, v: F32x16, lanes: &mut [f32; 16]) {
        avx512!(_mm512_storeu_ps(lanes.as_mut_ptr(), v.0))
    }
    #[inline(always)]
    fn load_f16(self, lanes: &[F16; 16]) -> F32x16 {
        F32x16(avx512!(_mm512_cvtph_ps(_mm256_loadu_si256(lanes.as_ptr().cast()))))
    }
    #[inline(always)]
    fn load_bf16(self, lanes: &[Bf16; 16]) -> F32x16 {
        avx512!({
            let wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(lanes.as_ptr().cast()));
            F32x16(_mm512_castsi512_ps(_mm512_slli_epi32::<16>(wide)))
        })
    }
    #[inline(always)]
    fn mul_add(self, a: F32x16, b: F32x16, c: F32x16) -> F32x16 {
        F32x16(avx512!(_mm512_fmadd_ps(a.0, b.0, c.0)))
    }
    #[inline(always)]
    fn max(self, a: F32x16, b: F32x16) -> F32x16 {
        // `vmaxps(a, b)` is exactly `a > b ? a : b`.
        F32x16(avx512!(_mm512_max_ps(a.0, b.0)))
    }
    #[inline(always)]
    fn min(self, a: F32x16, b: F32x16) -> F32x16 {
        F32x16(avx512!(_mm512_min_ps(a.0, b.0)))
    }
    #[inline(always)]
    fn select_lt(self, a: F32x16, b: F32x16, then: F32x16, otherwise: F32x16) -> F32x16 {
        F32x16(avx512!(_mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(a.0, b.0), otherwise.0, then.0)))
    }
    #[inline(always)]
    fn select_eq(self, a: F32x16, b: F32x16, then: F32x16, otherwise: F32x16) -> F32x16 {
        F32x16(avx512!(_mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_EQ_OQ>(a.0, b.0), otherwise.0, then.0)))
    }
    #[inline(always)]
    fn select_nan(self, a: F32x16, then: F32x16, otherwise: F32x16) -> F32x16 {
        F32x16(avx512!(_mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a.0, a.0), otherwise.0, then.0)))
    }
    #[inline(always)]
    fn pow2_of_shifted(self, v: F32x16) -> F32x16 {
        avx512!({
            let bits = _mm512_slli_epi32::<23>(_mm512_castps_si512(v.0));
            F32x16(_mm512_castsi512_ps(_mm512_add_epi32(bits, _mm512_set1_epi32(127 << 23))))
        })
    }
    #[inline(always)]
    fn reduce_add(self, v: F32x16) -> f32 {
        let (hi, lo) = halves(v.0);
        avx512!({
            let s = _mm256_add_ps(lo, hi);
            let s = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps::<1>(s));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps::<1>(s, s)))
        })
    }
    #[inline(always)]
    fn reduce_add_each(self, v: [F32x16; 16]) -> F32x16 {
        // Each vector's upper half onto its lower half, then two 8-way
        // transposing sums.
        // Loops, not `map`: a closure the optimizer leaves out of line runs
        // without the backend's target features (every intrinsic a call).
        let mut folded = [[avx512!(_mm256_setzero_ps()); 8]; 2];
        for (slot, v) in folded.as_flattened_mut().iter_mut().zip(v) {
            let (hi, lo) = halves(v.0);
            *slot = avx512!(_mm256_add_ps(lo, hi));
        }
        let [first, second] = folded;
        let (lo, hi) = (transpose_sum(first), transpose_sum(second));
        F32x16(avx512!(_mm512_castpd_ps(_mm512_insertf64x4::<1>(
            _mm512_castpd256_pd512(_mm256_castps_pd(lo)),
            _mm256_castps_pd(hi)
        ))))
    }
    #[inline(always)]
    fn reduce_max(self, v: F32x16) -> f32 {
        let (hi, lo) = halves(v.0);
        avx512!({
            let m = _mm256_max_ps(hi, lo);
            let m = _mm_max_ps(_mm256_extractf128_ps::<1>(m), _mm256_castps256_ps128(m));
            let m = _mm_max_ps(_mm_movehl_ps(m, m), m);
            _mm_cvtss_f32(_mm_max_ss(_mm_shuffle_ps::<1>(m, m), m))
        })
    }
}
