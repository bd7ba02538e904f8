//! The benchmark suite of issue 5: the kernels, fused attention over the
//! workloads W1–W8 beside its peers, the machine's FMA peak and L2 stream
//! time, and two-thread scaling of `attention_rows`. Every ratio in
//! BENCHMARKS.md comes from one run of this binary:
//!
//! ```text
//! RUSTFLAGS="-C target-cpu=native" cargo bench --bench suite   # AVX-512 + FMA here
//! cargo bench --bench suite                                    # default flags (SSE2)
//! python3 scripts/bench_chart.py                              # table + SVG from target/criterion
//! ```
//!
//! `cargo bench --bench suite -- --test` runs each benchmark once (after the
//! peers' outputs are checked against `sdpa`): the CI smoke test.

mod data;
mod kernels;
mod machine;
mod peers;
mod threads;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use data::{Inputs, Workload};
use nalgebra::SMatrix;
use ndarray::{Array2, ArrayView2};
use sdpa::{Matrix, Options, attention};
use std::hint::black_box;
use std::time::Duration;

/// Max |a − b| over two outputs.
fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Peers must agree with `sdpa` before their times mean anything.
fn check(name: &str, w: &Workload, ours: &[f32], theirs: &[f32]) {
    let diff = max_diff(ours, theirs);
    assert!(diff <= 1e-5, "{}: {name} differs from sdpa by {diff}", w.group());
}

fn options<const NQ: usize, const NK: usize>(w: &Workload) -> Options<'static, NQ, NK> {
    if w.causal { Options::new().causal() } else { Options::new() }
}

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

    let aq = ArrayView2::from_shape((NQ, D), &inputs.q).unwrap();
    let ak = ArrayView2::from_shape((NK, D), &inputs.k).unwrap();
    let av = ArrayView2::from_shape((NK, DV), &inputs.v).unwrap();
    let mut ascores = Array2::<f32>::zeros((NQ, NK));
    let mut aout = Array2::<f32>::zeros((NQ, DV));
    peers::ndarray(&w, aq, ak, av, &mut ascores, &mut aout);
    check("ndarray", &w, &ours, aout.as_slice().unwrap());

    let mut g = c.benchmark_group(w.group());
    g.throughput(Throughput::Elements(w.flops()));
    if w.flops() > 10_000_000 {
        g.sample_size(20).sampling_mode(SamplingMode::Flat);
    }
    g.bench_function("sdpa", |b| b.iter(|| attention(black_box(&q), black_box(&k), black_box(&v), &mut out, &opts)));
    g.bench_function("autovec", |b| {
        b.iter(|| peers::autovec(&w, black_box(&inputs.q), black_box(&inputs.k), &inputs.v, &mut scores, &mut flat))
    });
    g.bench_function("ndarray", |b| b.iter(|| peers::ndarray(&w, black_box(aq), ak, av, &mut ascores, &mut aout)));
    g.bench_function("nalgebra", |b| b.iter(|| peers::nalgebra(black_box(&nq), &nk, &nv, w.causal, &mut nout)));
    g.bench_function("naive", |b| {
        b.iter(|| peers::naive(&w, black_box(&inputs.q), black_box(&inputs.k), &inputs.v, &mut scores, &mut flat))
    });
    g.finish();
}

/// The workloads of issue 5.
pub const WORKLOADS: [Workload; 8] = [
    Workload { id: "W1", nq: 3, nk: 5, d: 4, dv: 6, causal: false },
    Workload { id: "W2", nq: 16, nk: 16, d: 16, dv: 16, causal: false },
    Workload { id: "W3", nq: 64, nk: 64, d: 32, dv: 32, causal: false },
    Workload { id: "W4", nq: 128, nk: 128, d: 64, dv: 64, causal: false },
    Workload { id: "W5", nq: 256, nk: 256, d: 64, dv: 64, causal: false },
    Workload { id: "W6", nq: 512, nk: 512, d: 64, dv: 64, causal: false },
    Workload { id: "W7", nq: 256, nk: 256, d: 64, dv: 64, causal: true },
    Workload { id: "W8", nq: 1, nk: 1024, d: 64, dv: 64, causal: false },
];

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

fn report_backend(_: &mut Criterion) {
    println!("sdpa backend: {} ({} lanes in the peak benchmark)", sdpa::backend(), machine::LANES);
}

/// 1 s of warm-up and 3 s of samples per benchmark: the whole suite takes
/// about five minutes per configuration.
fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = report_backend, machine::bench, attention_workloads, threads::bench, kernels::bench
}
criterion_main!(benches);
