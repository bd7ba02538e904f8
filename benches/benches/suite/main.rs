//! The benchmark suite of issues 5 and 7: the kernels, fused attention over
//! the workloads W1–W8 beside its Rust peers, the self-attention layer and
//! its projection on the shapes PyTorch is measured on
//! (`benches/torch_peers.py`), the machine's FMA peak and L2 stream time, and
//! two-thread scaling of `attention_rows`. Every ratio in BENCHMARKS.md
//! comes from one run of this binary. From `benches/`:
//!
//! ```text
//! RUSTFLAGS="-C target-cpu=native" cargo bench --bench suite   # sdpa built for this CPU
//! cargo bench --bench suite                                    # default flags
//! ```
//!
//! `cargo bench --bench suite -- --test` runs each benchmark once, after
//! every peer's output is checked against `sdpa` and sdpa's layer against an
//! f64 reference: the CI smoke test (`.ci/perf.sh`).

mod kernels;
mod kv16;
mod layers;
mod threads;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use nalgebra::SMatrix;
use ndarray::{Array2, ArrayView2};
use sdpa::{Matrix, Options, attention};
use sdpa_bench::data::{Inputs, WORKLOADS, Workload};
use sdpa_bench::machine::{Unit, W8_KV_BYTES};
use sdpa_bench::{max_diff, peers};
use std::hint::black_box;
use std::time::Duration;

/// Peers must agree with `sdpa` before their times mean anything.
fn check(name: &str, w: &Workload, ours: &[f32], theirs: &[f32]) {
    let diff = max_diff(ours, theirs);
    assert!(diff <= 1e-5, "{}: {name} differs from sdpa by {diff}", w.group());
}

fn options<const NQ: usize, const NK: usize>(w: &Workload) -> Options<'static, NQ, NK> {
    if w.causal { Options::new().causal() } else { Options::new() }
}

/// Row-major `R × C` floats as the arrays the const-generic loop takes.
fn arrays<const R: usize, const C: usize>(flat: &[f32]) -> Box<[[f32; C]; R]> {
    let mut a = Box::new([[0.0f32; C]; R]);
    a.as_flattened_mut().copy_from_slice(flat);
    a
}

/// Workloads the const-generic loop peer runs on (its scores row lives on the stack).
const CONST_LOOP_WORKLOADS: [&str; 2] = ["W1", "W2"];

/// One workload: `sdpa` and every peer in one criterion group.
fn workload<const NQ: usize, const NK: usize, const D: usize, const DV: usize>(c: &mut Criterion, w: Workload) {
    assert_eq!((w.nq, w.nk, w.d, w.dv), (NQ, NK, D, DV));
    let inputs = Inputs::new(&w);
    let q = Box::new(Matrix::<NQ, D>::from_slice(&inputs.q).unwrap());
    let k = Box::new(Matrix::<NK, D>::from_slice(&inputs.k).unwrap());
    let v = Box::new(Matrix::<NK, DV>::from_slice(&inputs.v).unwrap());
    let opts = options::<NQ, NK>(&w);
    let mut out = Box::new(Matrix::<NQ, DV>::zeros());
    attention(&q, &k, &v, &mut out, &opts);
    let ours = out.as_slice().to_vec();

    let const_loop = CONST_LOOP_WORKLOADS.contains(&w.id);
    let (aq, ak, av) = (arrays::<NQ, D>(&inputs.q), arrays::<NK, D>(&inputs.k), arrays::<NK, DV>(&inputs.v));
    let mut aout = Box::new([[0.0f32; DV]; NQ]);
    if const_loop {
        assert!(!w.causal, "the const-generic loop has no mask");
        peers::const_loop(&aq, &ak, &av, &mut aout);
        check("const loop", &w, &ours, aout.as_flattened());
    }

    let mut scores = vec![0.0f32; NQ * NK];
    let mut flat = vec![0.0f32; NQ * DV];
    peers::naive(&w, &inputs.q, &inputs.k, &inputs.v, &mut scores, &mut flat);
    check("naive", &w, &ours, &flat);
    peers::autovec(&w, &inputs.q, &inputs.k, &inputs.v, &mut scores, &mut flat);
    check("autovec", &w, &ours, &flat);

    let nq = Box::new(SMatrix::<f32, NQ, D>::from_row_slice(&inputs.q));
    let nk = Box::new(SMatrix::<f32, NK, D>::from_row_slice(&inputs.k));
    let nv = Box::new(SMatrix::<f32, NK, DV>::from_row_slice(&inputs.v));
    let mut nout = Box::new(SMatrix::<f32, NQ, DV>::zeros());
    peers::nalgebra(&nq, &nk, &nv, w.causal, &mut nout);
    let nalgebra_rows: Vec<f32> = nout.transpose().as_slice().to_vec();
    check("nalgebra", &w, &ours, &nalgebra_rows);

    let xq = ArrayView2::from_shape((NQ, D), &inputs.q).unwrap();
    let xk = ArrayView2::from_shape((NK, D), &inputs.k).unwrap();
    let xv = ArrayView2::from_shape((NK, DV), &inputs.v).unwrap();
    let mut xscores = Array2::<f32>::zeros((NQ, NK));
    let mut xout = Array2::<f32>::zeros((NQ, DV));
    peers::ndarray(&w, xq, xk, xv, &mut xscores, &mut xout);
    check("ndarray", &w, &ours, xout.as_slice().unwrap());

    let mut g = c.benchmark_group(w.group());
    g.throughput(Throughput::Elements(w.flops()));
    if w.flops() > 10_000_000 {
        g.sample_size(20).sampling_mode(SamplingMode::Flat);
    }
    g.bench_function("sdpa", |b| b.iter(|| attention(black_box(&q), black_box(&k), black_box(&v), &mut out, &opts)));
    if const_loop {
        g.bench_function("const loop", |b| {
            b.iter(|| peers::const_loop(black_box(&aq), black_box(&ak), black_box(&av), &mut aout))
        });
    }
    g.bench_function("autovec", |b| {
        b.iter(|| peers::autovec(&w, black_box(&inputs.q), black_box(&inputs.k), &inputs.v, &mut scores, &mut flat))
    });
    g.bench_function("ndarray", |b| b.iter(|| peers::ndarray(&w, black_box(xq), xk, xv, &mut xscores, &mut xout)));
    g.bench_function("nalgebra", |b| b.iter(|| peers::nalgebra(black_box(&nq), &nk, &nv, w.causal, &mut nout)));
    g.bench_function("naive", |b| {
        b.iter(|| peers::naive(&w, black_box(&inputs.q), black_box(&inputs.k), &inputs.v, &mut scores, &mut flat))
    });
    g.finish();
}

fn attention_workloads(c: &mut Criterion) {
    let [w1, w2, w3, w4, w5, w6, w7, w8] = WORKLOADS;
    workload::<3, 5, 4, 6>(c, w1);
    workload::<16, 16, 16, 16>(c, w2);
    workload::<64, 64, 32, 32>(c, w3);
    workload::<128, 128, 64, 64>(c, w4);
    workload::<256, 256, 64, 64>(c, w5);
    workload::<512, 512, 64, 64>(c, w6);
    workload::<256, 256, 64, 64>(c, w7);
    workload::<1, 1024, 64, 64>(c, w8);
}

/// The FP32 peak of one core on the widest FMA unit the CPU has (named in
/// the benchmark id), and streaming W8's K and V from L2 on the same unit.
fn machine(c: &mut Criterion) {
    let unit = Unit::detect();
    println!("sdpa backend: {}; peak and stream on {} (detected at run time)", sdpa::backend(), unit.name());
    let mut g = c.benchmark_group("machine");
    g.throughput(Throughput::Elements(unit.peak_flops()));
    g.bench_function(BenchmarkId::new("fma peak", unit.name()), |bench| {
        bench.iter(|| unit.fma_chains(black_box(0.999_999), black_box(1e-7)))
    });
    let data: Vec<f32> = (0..W8_KV_BYTES / 4).map(|i| (i % 7) as f32).collect();
    g.throughput(Throughput::Bytes(W8_KV_BYTES as u64));
    g.bench_function("L2 stream K+V of W8", |bench| bench.iter(|| unit.stream_sum(black_box(&data))));
    g.finish();
}

/// 1 s of warm-up and 3 s of samples per benchmark (about 80 of them), so
/// a configuration takes several minutes.
fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = machine, attention_workloads, kv16::bench, layers::bench, threads::bench, kernels::bench
}
criterion_main!(benches);
