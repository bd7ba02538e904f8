//! Criterion benchmarks of the kernels and of fused attention.
//!
//! Run: `RUSTFLAGS="-C target-cpu=native" cargo bench --bench kernels`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sdpa::{Matrix, Options, attention, kernels};
use std::hint::black_box;

fn filled<const R: usize, const C: usize>(seed: usize) -> Matrix<R, C> {
    Matrix::from_fn(|r, c| (((r * C + c + seed) as f32) * 0.618).sin())
}

fn bench_kernels(c: &mut Criterion) {
    let n = 1024;
    let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.1).sin()).collect();
    let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.3).cos()).collect();
    let mut g = c.benchmark_group("kernels");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("dot/1024", |bench| bench.iter(|| kernels::dot(black_box(&a), black_box(&b))));
    g.bench_function("softmax/1024", |bench| {
        let mut x = a.clone();
        bench.iter(|| {
            x.copy_from_slice(&a);
            kernels::softmax(black_box(&mut x));
        })
    });
    g.bench_function("exp/1024", |bench| {
        let mut x = a.clone();
        bench.iter(|| {
            x.copy_from_slice(&a);
            kernels::exp_in_place(black_box(&mut x));
        })
    });
    g.bench_function("axpy/1024", |bench| {
        let mut acc = a.clone();
        bench.iter(|| kernels::axpy(black_box(&mut acc), 1e-3, black_box(&b)))
    });
    g.finish();
}

fn bench_attention_shape<const NQ: usize, const NK: usize, const D: usize, const DV: usize>(
    c: &mut Criterion,
    name: &str,
) {
    let (q, k, v) = (filled::<NQ, D>(1), filled::<NK, D>(2), filled::<NK, DV>(3));
    let mut out = Box::new(Matrix::<NQ, DV>::zeros());
    let mut g = c.benchmark_group("attention");
    g.throughput(Throughput::Elements((2 * NQ * NK * (D + DV)) as u64));
    g.bench_function(BenchmarkId::new("sdpa", name), |bench| {
        bench.iter(|| attention(black_box(&q), black_box(&k), black_box(&v), &mut out, &Options::new()))
    });
    g.finish();
}

fn bench_attention(c: &mut Criterion) {
    bench_attention_shape::<3, 5, 4, 6>(c, "W1 seed toy");
    bench_attention_shape::<128, 128, 64, 64>(c, "W4 128x128x64");
}

criterion_group!(benches, bench_kernels, bench_attention);
criterion_main!(benches);
