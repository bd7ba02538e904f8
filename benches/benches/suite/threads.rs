//! `attention_rows` on two threads (bench-only; the crate itself stays
//! `no_std`): each thread computes half of the output rows. Two ways of
//! getting the second thread: `std::thread::scope` spawning it in every call
//! (what a user writes first; the spawn and join are timed), and one
//! long-lived worker made once and woken through a channel per call
//! (`sdpa_bench::pool`), so the spawn is not.

use criterion::{Criterion, Throughput};
use sdpa::{Matrix, Options, attention, attention_rows};
use sdpa_bench::data::{Inputs, WORKLOADS, Workload};
use sdpa_bench::max_diff;
use sdpa_bench::pool::with_worker;
use std::hint::black_box;

fn scaling<const NQ: usize, const NK: usize, const D: usize, const DV: usize>(c: &mut Criterion, w: Workload) {
    let inputs = Inputs::new(&w);
    let q = Box::new(Matrix::<NQ, D>::from_slice(&inputs.q).unwrap());
    let k = Box::new(Matrix::<NK, D>::from_slice(&inputs.k).unwrap());
    let v = Box::new(Matrix::<NK, DV>::from_slice(&inputs.v).unwrap());
    let opts = Options::<NQ, NK>::new();
    let mut one = Box::new(Matrix::<NQ, DV>::zeros());
    let mut two = Box::new(Matrix::<NQ, DV>::zeros());
    let mut pooled = Box::new(Matrix::<NQ, DV>::zeros());

    let split = |out: &mut Matrix<NQ, DV>| {
        let (top, bottom) = out.rows_mut().split_at_mut(NQ / 2);
        std::thread::scope(|s| {
            s.spawn(|| attention_rows(&q, &k, &v, 0, top, &opts));
            attention_rows(&q, &k, &v, NQ / 2, bottom, &opts);
        });
    };
    attention(&q, &k, &v, &mut one, &opts);
    split(&mut two);
    assert_eq!(max_diff(one.as_slice(), two.as_slice()), 0.0, "row split changed the result");

    let mut g = c.benchmark_group(format!("threads {}", w.group()));
    g.throughput(Throughput::Elements(w.flops()));
    g.sample_size(20);
    g.bench_function("1 thread", |b| b.iter(|| attention(black_box(&q), &k, &v, &mut one, &opts)));
    g.bench_function("2 threads", |b| b.iter(|| split(black_box(&mut two))));
    // The worker owns the top half of the output for the whole benchmark; the
    // calling thread computes the bottom half in the same call.
    let (top, bottom) = pooled.rows_mut().split_at_mut(NQ / 2);
    with_worker(
        || {
            black_box(attention_rows(black_box(&q), &k, &v, 0, top, &opts));
        },
        |worker| {
            g.bench_function("2 threads, persistent worker", |b| {
                b.iter(|| {
                    worker.run(|| {
                        black_box(attention_rows(black_box(&q), &k, &v, NQ / 2, bottom, &opts));
                    })
                })
            });
        },
    );
    g.finish();
    assert_eq!(max_diff(one.as_slice(), pooled.as_slice()), 0.0, "the persistent worker changed the result");
}

pub fn bench(c: &mut Criterion) {
    scaling::<256, 256, 64, 64>(c, WORKLOADS[4]);
    scaling::<512, 512, 64, 64>(c, WORKLOADS[5]);
}
