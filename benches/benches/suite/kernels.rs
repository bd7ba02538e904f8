//! One group per kernel, each beside its scalar reference (and `std`/libm
//! where a user would reach for them).

use criterion::{BenchmarkId, Criterion, Throughput};
use sdpa::kernels;
use sdpa_bench::data::Rng;
use std::hint::black_box;

/// Lengths every kernel runs at: one attention row (64) and a long one.
const LENGTHS: [usize; 2] = [64, 1024];

pub fn bench(c: &mut Criterion) {
    let mut rng = Rng::new(7);
    for n in LENGTHS {
        let a = rng.vec(n);
        let b = rng.vec(n);
        let scores: Vec<f32> = a.iter().map(|x| x * 8.0).collect();

        let mut g = c.benchmark_group("kernel dot");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("sdpa", n), |bench| {
            bench.iter(|| kernels::dot(black_box(&a), black_box(&b)))
        });
        g.bench_function(BenchmarkId::new("reference", n), |bench| {
            bench.iter(|| kernels::dot_reference(black_box(&a), black_box(&b)))
        });
        g.finish();

        let mut g = c.benchmark_group("kernel softmax");
        g.throughput(Throughput::Elements(n as u64));
        let mut x = scores.clone();
        g.bench_function(BenchmarkId::new("sdpa", n), |bench| {
            bench.iter(|| {
                x.copy_from_slice(&scores);
                kernels::softmax(black_box(&mut x));
            })
        });
        g.bench_function(BenchmarkId::new("reference", n), |bench| {
            bench.iter(|| {
                x.copy_from_slice(&scores);
                kernels::softmax_reference(black_box(&mut x));
            })
        });
        g.finish();

        let mut g = c.benchmark_group("kernel exp");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("sdpa", n), |bench| {
            bench.iter(|| {
                x.copy_from_slice(&scores);
                kernels::exp_in_place(black_box(&mut x));
            })
        });
        g.bench_function(BenchmarkId::new("libm expf", n), |bench| {
            bench.iter(|| {
                x.copy_from_slice(&scores);
                black_box(&mut x).iter_mut().for_each(|v| *v = libm::expf(*v));
            })
        });
        g.bench_function(BenchmarkId::new("std exp", n), |bench| {
            bench.iter(|| {
                x.copy_from_slice(&scores);
                black_box(&mut x).iter_mut().for_each(|v| *v = v.exp());
            })
        });
        g.finish();

        let mut g = c.benchmark_group("kernel accumulate");
        g.throughput(Throughput::Elements(n as u64));
        let mut acc = a.clone();
        g.bench_function(BenchmarkId::new("sdpa axpy", n), |bench| {
            bench.iter(|| kernels::axpy(black_box(&mut acc), 1e-3, black_box(&b)))
        });
        g.bench_function(BenchmarkId::new("reference axpy", n), |bench| {
            bench.iter(|| kernels::axpy_reference(black_box(&mut acc), 1e-3, black_box(&b)))
        });
        // 16 value rows of width n/16 folded into one accumulator.
        let w: Vec<f32> = (0..16).map(|i| i as f32 * 1e-3).collect();
        let mut row = vec![0.0f32; n / 16];
        g.bench_function(BenchmarkId::new("sdpa axpy_rows 16 rows", n), |bench| {
            bench.iter(|| kernels::axpy_rows(black_box(&mut row), black_box(&w), black_box(&b)))
        });
        g.finish();
    }
}
