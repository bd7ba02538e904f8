//! What the machine can do, measured in the same run as the kernels: the FP32
//! FMA peak of one core on the widest vector unit the *CPU* has (detected at
//! run time, whatever the build's target features), and the time to stream a
//! buffer from L2 on the same unit.
//!
//! The only `unsafe` of the benchmarks: calling the `#[target_feature]`
//! kernels right after their features were detected (a `Unit` the CPU lacks
//! panics instead), and their unaligned vector loads and stores.

/// Independent multiply-add chains: more than latency × ports (4 × 2 on
/// current x86), few enough to stay in 16 registers with the two constants.
pub const CHAINS: usize = 12;
/// Iterations of the unrolled loop per call.
pub const STEPS: usize = 4096;
/// Vector accumulators of the stream sum.
const STREAM_ACCS: usize = 8;

/// Bytes of K and V in the decode workload W8 (1024 keys, D = DV = 64).
pub const W8_KV_BYTES: usize = 2 * 1024 * 64 * 4;

/// A vector unit the peak and stream kernels can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// 512-bit AVX-512F, fused multiply-add (`vfmadd…ps zmm`).
    Avx512,
    /// 256-bit AVX2 with FMA3 (`vfmadd…ps ymm`).
    Avx2Fma,
    /// 128-bit SSE2, the x86-64 baseline: no fused multiply-add, so a
    /// multiply and an add (2 flops, 2 instructions) per lane and step.
    Sse2,
    /// Four-float arrays with `f32::mul_add`, left to LLVM (not x86-64).
    Portable,
}

impl Unit {
    /// The widest unit this CPU runs (cpuid and the OS's saved state, via
    /// `is_x86_feature_detected!`). These are the three x86-64 units sdpa's
    /// runtime dispatch is to choose from.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Unit::Avx512;
            }
            if has_avx2_fma() {
                return Unit::Avx2Fma;
            }
            Unit::Sse2
        }
        #[cfg(not(target_arch = "x86_64"))]
        Unit::Portable
    }

    /// Name in the benchmark id (`machine/fma peak/<name>`), read back by
    /// `scripts/bench_chart.py`.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Avx512 => "AVX-512F f32x16 FMA",
            Unit::Avx2Fma => "AVX2+FMA f32x8",
            Unit::Sse2 => "SSE2 f32x4 mul+add",
            Unit::Portable => "portable f32x4 mul_add",
        }
    }

    /// f32 lanes of one vector.
    pub fn lanes(self) -> usize {
        match self {
            Unit::Avx512 => 16,
            Unit::Avx2Fma => 8,
            Unit::Sse2 | Unit::Portable => 4,
        }
    }

    /// Flops of one [`Unit::fma_chains`] call: 2 per lane per multiply-add.
    pub fn peak_flops(self) -> u64 {
        (2 * self.lanes() * CHAINS * STEPS) as u64
    }

    /// [`CHAINS`] independent chains `acc = acc·b + c`, [`STEPS`] steps each,
    /// on this unit; returns the sum of the chains.
    pub fn fma_chains(self, b: f32, c: f32) -> f32 {
        match self {
            #[cfg(target_arch = "x86_64")]
            Unit::Avx512 => {
                assert!(std::arch::is_x86_feature_detected!("avx512f"), "this CPU has no AVX-512F");
                // SAFETY: AVX-512F was detected just above.
                unsafe { x86::fma_chains_avx512(b, c) }
            }
            #[cfg(target_arch = "x86_64")]
            Unit::Avx2Fma => {
                assert!(has_avx2_fma(), "this CPU has no AVX2+FMA");
                // SAFETY: AVX2 and FMA were detected just above.
                unsafe { x86::fma_chains_avx2(b, c) }
            }
            #[cfg(target_arch = "x86_64")]
            // SAFETY: SSE2 is part of x86-64, every such CPU has it.
            Unit::Sse2 => unsafe { x86::mul_add_chains_sse2(b, c) },
            _ => portable_chains(b, c),
        }
    }

    /// Sum of every float of `data` (a multiple of 128 floats is summed in
    /// full; the rest is ignored), [`STREAM_ACCS`] vector accumulators.
    pub fn stream_sum(self, data: &[f32]) -> f32 {
        match self {
            #[cfg(target_arch = "x86_64")]
            Unit::Avx512 => {
                assert!(std::arch::is_x86_feature_detected!("avx512f"), "this CPU has no AVX-512F");
                // SAFETY: AVX-512F was detected just above.
                unsafe { x86::stream_avx512(data) }
            }
            #[cfg(target_arch = "x86_64")]
            Unit::Avx2Fma => {
                assert!(has_avx2_fma(), "this CPU has no AVX2+FMA");
                // SAFETY: AVX2 and FMA were detected just above.
                unsafe { x86::stream_avx2(data) }
            }
            #[cfg(target_arch = "x86_64")]
            // SAFETY: SSE2 is part of x86-64, every such CPU has it.
            Unit::Sse2 => unsafe { x86::stream_sse2(data) },
            _ => portable_stream(data),
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// What [`Unit::fma_chains`] runs on `Portable`.
fn portable_chains(b: f32, c: f32) -> f32 {
    let mut acc = [[0.0f32; 4]; CHAINS];
    for (i, a) in acc.iter_mut().enumerate() {
        *a = [i as f32 * 0.01; 4];
    }
    for _ in 0..STEPS {
        for a in acc.iter_mut() {
            for x in a.iter_mut() {
                *x = x.mul_add(b, c);
            }
        }
    }
    acc.iter().flatten().sum()
}

/// What [`Unit::stream_sum`] runs on `Portable`.
fn portable_stream(data: &[f32]) -> f32 {
    let mut acc = [[0.0f32; 4]; STREAM_ACCS];
    for group in data.as_chunks::<{ 4 * STREAM_ACCS }>().0 {
        for (a, x) in acc.iter_mut().zip(group.as_chunks::<4>().0) {
            for (a, x) in a.iter_mut().zip(x) {
                *a += x;
            }
        }
    }
    acc.iter().flatten().sum()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{CHAINS, STEPS, STREAM_ACCS};
    use core::arch::x86_64::*;

    #[target_feature(enable = "avx512f")]
    pub fn fma_chains_avx512(b: f32, c: f32) -> f32 {
        let (b, c) = (_mm512_set1_ps(b), _mm512_set1_ps(c));
        let mut acc = [_mm512_setzero_ps(); CHAINS];
        for (i, a) in acc.iter_mut().enumerate() {
            *a = _mm512_set1_ps(i as f32 * 0.01);
        }
        for _ in 0..STEPS {
            for a in acc.iter_mut() {
                *a = _mm512_fmadd_ps(*a, b, c);
            }
        }
        _mm512_reduce_add_ps(acc.iter().fold(_mm512_setzero_ps(), |s, &a| _mm512_add_ps(s, a)))
    }

    #[target_feature(enable = "avx2,fma")]
    pub fn fma_chains_avx2(b: f32, c: f32) -> f32 {
        let (b, c) = (_mm256_set1_ps(b), _mm256_set1_ps(c));
        let mut acc = [_mm256_setzero_ps(); CHAINS];
        for (i, a) in acc.iter_mut().enumerate() {
            *a = _mm256_set1_ps(i as f32 * 0.01);
        }
        for _ in 0..STEPS {
            for a in acc.iter_mut() {
                *a = _mm256_fmadd_ps(*a, b, c);
            }
        }
        sum8(acc.iter().fold(_mm256_setzero_ps(), |s, &a| _mm256_add_ps(s, a)))
    }

    #[target_feature(enable = "sse2")]
    pub fn mul_add_chains_sse2(b: f32, c: f32) -> f32 {
        let (b, c) = (_mm_set1_ps(b), _mm_set1_ps(c));
        let mut acc = [_mm_setzero_ps(); CHAINS];
        for (i, a) in acc.iter_mut().enumerate() {
            *a = _mm_set1_ps(i as f32 * 0.01);
        }
        for _ in 0..STEPS {
            for a in acc.iter_mut() {
                *a = _mm_add_ps(_mm_mul_ps(*a, b), c);
            }
        }
        sum4(acc.iter().fold(_mm_setzero_ps(), |s, &a| _mm_add_ps(s, a)))
    }

    #[target_feature(enable = "avx512f")]
    pub fn stream_avx512(data: &[f32]) -> f32 {
        let mut acc = [_mm512_setzero_ps(); STREAM_ACCS];
        for group in data.as_chunks::<{ 16 * STREAM_ACCS }>().0 {
            for (a, x) in acc.iter_mut().zip(group.as_chunks::<16>().0) {
                // SAFETY: `x` is 16 readable floats; `loadu` takes any alignment.
                *a = _mm512_add_ps(*a, unsafe { _mm512_loadu_ps(x.as_ptr()) });
            }
        }
        _mm512_reduce_add_ps(acc.iter().fold(_mm512_setzero_ps(), |s, &a| _mm512_add_ps(s, a)))
    }

    #[target_feature(enable = "avx2,fma")]
    pub fn stream_avx2(data: &[f32]) -> f32 {
        let mut acc = [_mm256_setzero_ps(); STREAM_ACCS];
        for group in data.as_chunks::<{ 8 * STREAM_ACCS }>().0 {
            for (a, x) in acc.iter_mut().zip(group.as_chunks::<8>().0) {
                // SAFETY: `x` is 8 readable floats; `loadu` takes any alignment.
                *a = _mm256_add_ps(*a, unsafe { _mm256_loadu_ps(x.as_ptr()) });
            }
        }
        sum8(acc.iter().fold(_mm256_setzero_ps(), |s, &a| _mm256_add_ps(s, a)))
    }

    #[target_feature(enable = "sse2")]
    pub fn stream_sse2(data: &[f32]) -> f32 {
        let mut acc = [_mm_setzero_ps(); STREAM_ACCS];
        for group in data.as_chunks::<{ 4 * STREAM_ACCS }>().0 {
            for (a, x) in acc.iter_mut().zip(group.as_chunks::<4>().0) {
                // SAFETY: `x` is 4 readable floats; `loadu` takes any alignment.
                *a = _mm_add_ps(*a, unsafe { _mm_loadu_ps(x.as_ptr()) });
            }
        }
        sum4(acc.iter().fold(_mm_setzero_ps(), |s, &a| _mm_add_ps(s, a)))
    }

    #[target_feature(enable = "avx")]
    fn sum8(v: __m256) -> f32 {
        sum4(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v)))
    }

    #[target_feature(enable = "sse2")]
    fn sum4(v: __m128) -> f32 {
        let mut lanes = [0.0f32; 4];
        // SAFETY: `lanes` is 4 writable floats; `storeu` takes any alignment.
        unsafe { _mm_storeu_ps(lanes.as_mut_ptr(), v) };
        lanes.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_and_stream_agree_with_scalar() {
        let unit = Unit::detect();
        // One chain in scalar: the vector lanes of every chain compute exactly this.
        let (b, c) = (0.999_9f32, 1e-4f32);
        let mut expected = 0.0f64;
        for i in 0..CHAINS {
            let mut a = i as f32 * 0.01;
            for _ in 0..STEPS {
                a = if unit == Unit::Sse2 { a * b + c } else { a.mul_add(b, c) };
            }
            expected += a as f64 * unit.lanes() as f64;
        }
        let got = unit.fma_chains(b, c) as f64;
        assert!((got - expected).abs() <= 1e-4 * expected.abs(), "{}: {got} vs {expected}", unit.name());

        let data: Vec<f32> = (0..W8_KV_BYTES / 4).map(|i| (i % 7) as f32).collect();
        let exact: f64 = data.iter().map(|&x| x as f64).sum();
        assert_eq!(unit.stream_sum(&data) as f64, exact, "{}", unit.name());
        for other in [Unit::Sse2, Unit::Portable] {
            if cfg!(target_arch = "x86_64") || other == Unit::Portable {
                assert_eq!(other.stream_sum(&data) as f64, exact, "{}", other.name());
            }
        }
    }
}
