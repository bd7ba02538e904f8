//! What the machine can do, measured in the same binary as the kernels:
//! the FP32 FMA peak of one core, and the time to stream a buffer from L2.

use criterion::{Criterion, Throughput};
use std::hint::black_box;

#[cfg(target_feature = "avx512f")]
type V = wide::f32x16;
#[cfg(all(not(target_feature = "avx512f"), target_feature = "avx"))]
type V = wide::f32x8;
#[cfg(not(any(target_feature = "avx512f", target_feature = "avx")))]
type V = wide::f32x4;

/// Lanes of the widest vector this build targets.
pub const LANES: usize = core::mem::size_of::<V>() / 4;

/// Independent multiply-add chains: more than latency × ports (4 × 2 on
/// current x86), few enough to stay in 16 registers with the two constants.
const CHAINS: usize = 12;
/// Iterations of the unrolled loop per call.
const STEPS: usize = 4096;

/// Flops of one [`fma_chains`] call: 2 per lane per multiply-add.
pub const PEAK_FLOPS: u64 = (2 * LANES * CHAINS * STEPS) as u64;

/// `CHAINS` independent `acc = acc·b + c` chains; fused on targets with FMA
/// (`wide` picks `vfmadd` when `target_feature = "fma"`), `mul` + `add`
/// otherwise: whatever the build's kernels get, the peak gets too.
#[inline(never)]
fn fma_chains(b: V, c: V) -> V {
    let mut acc = [V::splat(1.0); CHAINS];
    for (i, a) in acc.iter_mut().enumerate() {
        *a = V::splat(i as f32 * 0.01);
    }
    for _ in 0..STEPS {
        for a in acc.iter_mut() {
            *a = a.mul_add(b, c);
        }
    }
    acc.iter().fold(V::splat(0.0), |s, &a| s + a)
}

/// Sum of every float of `data`, eight vector accumulators.
#[inline(never)]
fn stream_sum(data: &[f32]) -> f32 {
    let mut acc = [V::splat(0.0); 8];
    let (body, _) = data.as_chunks::<LANES>();
    for group in body.chunks_exact(8) {
        for (a, x) in acc.iter_mut().zip(group) {
            *a += V::from(*x);
        }
    }
    acc.iter().fold(V::splat(0.0), |s, &a| s + a).reduce_add()
}

/// Bytes of K and V in the decode workload W8 (1024 keys, D = DV = 64).
pub const W8_KV_BYTES: usize = 2 * 1024 * 64 * 4;

pub fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("machine");
    g.throughput(Throughput::Elements(PEAK_FLOPS));
    g.bench_function("fma peak", |bench| {
        bench.iter(|| fma_chains(black_box(V::splat(0.999_999)), black_box(V::splat(1e-7))))
    });
    let data: Vec<f32> = (0..W8_KV_BYTES / 4).map(|i| (i % 7) as f32).collect();
    g.throughput(Throughput::Bytes(W8_KV_BYTES as u64));
    g.bench_function("L2 stream K+V of W8", |bench| bench.iter(|| stream_sum(black_box(&data))));
    g.finish();
}
