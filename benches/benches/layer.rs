//! Criterion benchmarks of the self-attention layer: the projection kernel
//! (`kernels::linear`, against one `dot_rows` call per token and the scalar
//! reference), a whole-layer forward, and a decode step at the last position
//! of a fixed cache (plus one against a wrapped rolling cache with ALiBi,
//! which takes the engine's per-key bias path).
//!
//! Run from `benches/`: `RUSTFLAGS="-C target-cpu=native" cargo bench --bench layer`
//! (`-- --test` runs each benchmark once: `.ci/layer.sh`). The layer on the
//! shapes PyTorch is compared on is in the suite (`benches/benches/suite/layers.rs`).
//! Throughput is in multiply-adds (MAC): GFLOP/s = 2 × Gelem/s.

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sdpa::Matrix;
use sdpa::kernels::{dot_rows, linear, linear_reference};
use sdpa::layer::{DecodeScratch, KvCache, LayerMask, Positions, Rope, Scratch, SelfAttention, Weights};
use std::hint::black_box;
use std::time::Duration;

fn wave(n: usize, step: f32) -> Vec<f32> {
    (0..n).map(|i| (i as f32 * step).sin() * 0.1).collect()
}

fn bench_linear_shape(c: &mut Criterion, tokens: usize, n_in: usize, n_out: usize, reference: bool) {
    let (x, w, b) = (wave(tokens * n_in, 0.37), wave(n_out * n_in, 0.11), wave(n_out, 0.5));
    let mut y = vec![0.0; tokens * n_out];
    let mut g = c.benchmark_group("linear");
    g.throughput(Throughput::Elements((tokens * n_in * n_out) as u64));
    let name = format!("T{tokens} {n_in}->{n_out}");
    g.bench_function(BenchmarkId::new("simd", &name), |bench| {
        bench.iter(|| linear(black_box(&x), black_box(&w), Some(&b), &mut y, n_in))
    });
    g.bench_function(BenchmarkId::new("dot_rows per token", &name), |bench| {
        bench.iter(|| {
            for ((xr, yr), _) in x.chunks_exact(n_in).zip(y.chunks_exact_mut(n_out)).zip(0..tokens) {
                dot_rows(black_box(xr), black_box(&w), yr);
                yr.iter_mut().zip(&b).for_each(|(y, b)| *y += b);
            }
        })
    });
    if reference {
        g.bench_function(BenchmarkId::new("scalar reference", &name), |bench| {
            bench.iter(|| linear_reference(black_box(&x), black_box(&w), Some(&b), &mut y, n_in))
        });
    }
    g.finish();
}

fn bench_linear(c: &mut Criterion) {
    bench_linear_shape(c, 128, 128, 128, true);
    bench_linear_shape(c, 128, 256, 256, false);
    bench_linear_shape(c, 128, 384, 384, false); // MiniLM width
    bench_linear_shape(c, 1, 512, 512, true); // one decode token
}

/// Forward over `T` tokens and a decode step against a full sliding cache
/// of `T` tokens, for one layer shape.
fn bench_layer_shape<const T: usize, const D: usize, const QH: usize, const KVH: usize, const HD: usize>(
    c: &mut Criterion,
    name: &str,
    positions: Positions,
    mask: LayerMask<'_, T>,
) {
    let (wq, wk, wv, wo) = (wave(D * D, 0.13), wave(KVH * HD * D, 0.17), wave(KVH * HD * D, 0.19), wave(D * D, 0.23));
    let layer = SelfAttention::new(Weights::<D, QH, KVH, HD>::new(&wq, &wk, &wv, &wo).unwrap(), positions);
    let x = Box::new(Matrix::<T, D>::from_fn(|t, i| ((t * D + i) as f32 * 0.031).sin()));
    let mut out = Box::new(Matrix::<T, D>::zeros());
    let mut scratch = Box::new(Scratch::<T, D, QH, KVH, HD>::new());
    let projection_macs = T * D * (2 * D + 2 * KVH * HD);
    let attention_macs = QH * T * T * 2 * HD / if mask.is_causal() { 2 } else { 1 };
    let mut g = c.benchmark_group("layer");
    g.throughput(Throughput::Elements((projection_macs + attention_macs) as u64));
    g.bench_function(BenchmarkId::new("forward", name), |bench| {
        bench.iter(|| layer.forward(black_box(&x), &mut out, &mask, &mut scratch))
    });

    // Decode the last token against a fixed cache holding the T − 1 before it.
    let mut cache = Box::new(KvCache::<T, KVH, HD>::new());
    let mut step = DecodeScratch::<D, T>::new();
    let mut row = [0.0; D];
    for token in &x.rows()[..T - 1] {
        layer.decode(token, &mut row, &mut cache, &mut step).unwrap();
    }
    let last = x.rows()[T - 1];
    g.throughput(Throughput::Elements((D * (2 * D + 2 * KVH * HD) + QH * T * 2 * HD) as u64));
    g.bench_function(BenchmarkId::new(format!("decode step at position {}", T - 1), name), |bench| {
        bench.iter_batched_ref(
            || cache.clone(),
            |c| layer.decode(black_box(&last), &mut row, c, &mut step),
            BatchSize::PerIteration,
        )
    });
    if positions == Positions::Alibi {
        // A rolling cache that has wrapped: ALiBi distances come as a per-key bias.
        let mut rolling = Box::new(KvCache::<T, KVH, HD>::sliding());
        for token in x.rows().iter().chain(x.rows()) {
            layer.decode(token, &mut row, &mut rolling, &mut step).unwrap();
        }
        g.bench_function(BenchmarkId::new(format!("decode step, wrapped rolling cache of {T}"), name), |bench| {
            bench.iter(|| layer.decode(black_box(&last), &mut row, &mut rolling, &mut step))
        });
    }
    g.finish();
}

fn bench_layer(c: &mut Criterion) {
    // BERT-mini-like encoder layer: width 256, 4 heads of 64, bidirectional.
    bench_layer_shape::<128, 256, 4, 4, 64>(c, "encoder D256 H4 T128", Positions::None, LayerMask::bidirectional());
    // llama-like decoder layer: width 256, 8 query heads sharing 2 kv heads of 32, RoPE, causal.
    let rope = Positions::Rope(Rope::half_split());
    bench_layer_shape::<128, 256, 8, 2, 32>(c, "decoder D256 GQA8:2 RoPE T128", rope, LayerMask::causal());
    // Small firmware-sized decoder: width 128, 4 heads of 32, ALiBi, causal.
    bench_layer_shape::<64, 128, 4, 4, 32>(c, "decoder D128 H4 ALiBi T64", Positions::Alibi, LayerMask::causal());
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_linear, bench_layer
}
criterion_main!(benches);
