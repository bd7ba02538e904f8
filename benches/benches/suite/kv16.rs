//! 16-bit K/V (issue 14): W8's decode with K and V in f32, binary16 and
//! bfloat16 in one group, so the ratios come from one run; the layer's
//! decode step with an f16 cache is in `layers.rs`, beside the f32 one.

use criterion::{Criterion, Throughput};
use sdpa::multihead::Strides;
use sdpa::multihead::runtime::{self as mh, RuntimeHeadOptions, Shape, View, ViewMut};
use sdpa::{Bf16, F16, KvElement};
use sdpa_bench::data::{Inputs, WORKLOADS};
use std::hint::black_box;

/// W8 (1 query, 1024 keys, D = DV = 64) through the multi-head runtime call
/// with K and V stored as `E`; checked first to give the bits of the f32
/// call on the widened K/V (both run on the row engine: one query).
fn w8_as<E: KvElement>(c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, name: &str) {
    let w = WORKLOADS[7];
    let x = Inputs::new(&w);
    let shape = Shape { batch: 1, q_heads: 1, kv_heads: 1, queries: 1, keys: w.nk, head_dim: w.d, value_dim: w.dv };
    let k: Vec<E> = x.k.iter().map(|&v| E::from_f32(v)).collect();
    let v: Vec<E> = x.v.iter().map(|&v| E::from_f32(v)).collect();
    let (kw, vw): (Vec<f32>, Vec<f32>) =
        (k.iter().map(|e| e.to_f32()).collect(), v.iter().map(|e| e.to_f32()).collect());
    let (one, kv) = (Strides::bhsd(1, 1, w.d), Strides::bhsd(1, w.nk, w.d));
    let o = RuntimeHeadOptions::new();
    let (mut out, mut wide) = (vec![0.0f32; w.dv], vec![0.0f32; w.dv]);
    let q = View::new(&x.q[..], one);
    mh::attention(shape, q, View::new(&k, kv), View::new(&v, kv), ViewMut::new(&mut out, one), &o).unwrap();
    mh::attention(shape, q, View::new(&kw, kv), View::new(&vw, kv), ViewMut::new(&mut wide, one), &o).unwrap();
    assert_eq!(out, wide, "W8 with {name}: not the f32 call on the widened K/V");
    c.bench_function(name, |b| {
        b.iter(|| {
            let q = View::new(black_box(&x.q[..]), one);
            mh::attention(shape, q, View::new(&k, kv), View::new(&v, kv), ViewMut::new(&mut out, one), &o).unwrap()
        })
    });
}

pub fn bench(c: &mut Criterion) {
    let w = WORKLOADS[7];
    assert_eq!((w.id, w.nq, w.nk, w.d, w.dv), ("W8", 1, 1024, 64, 64));
    let mut g = c.benchmark_group(format!("{} K/V storage", w.group()));
    g.throughput(Throughput::Elements(w.flops()));
    w8_as::<f32>(&mut g, "f32 K/V");
    w8_as::<F16>(&mut g, "f16 K/V");
    w8_as::<Bf16>(&mut g, "bf16 K/V");
    g.finish();
}
