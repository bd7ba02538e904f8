//! `attention_rows` on two threads (bench-only; the crate itself stays
//! `no_std`): each thread computes half of the output rows. Two ways of
//! getting the second thread: `std::thread::scope` spawning it in every call
//! (what a user writes first; the spawn and join are timed), and one
//! long-lived worker made once and woken through a channel per call
//! (`sdpa_bench::pool`), so the spawn is not. With the `rayon` feature, also
//! sdpa's own split (attention and the BERT-base layer) on rayon pools of 1
//! and 2 threads, checked to give the same bits.

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
            // One untimed call, so the check below holds when a filter skips the benchmark.
            worker.run(|| {
                black_box(attention_rows(black_box(&q), &k, &v, NQ / 2, bottom, &opts));
            });
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

/// A rayon pool of `threads` threads.
#[cfg(feature = "rayon")]
fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a rayon pool")
}

/// `attention` with sdpa's `rayon` feature on pools of 1 and 2 threads.
#[cfg(feature = "rayon")]
fn rayon_attention<const NQ: usize, const NK: usize, const D: usize, const DV: usize>(c: &mut Criterion, w: Workload) {
    let inputs = Inputs::new(&w);
    let q = Box::new(Matrix::<NQ, D>::from_slice(&inputs.q).unwrap());
    let k = Box::new(Matrix::<NK, D>::from_slice(&inputs.k).unwrap());
    let v = Box::new(Matrix::<NK, DV>::from_slice(&inputs.v).unwrap());
    let opts = Options::<NQ, NK>::new();
    let mut g = c.benchmark_group(format!("rayon {}", w.group()));
    g.throughput(Throughput::Elements(w.flops()));
    g.sample_size(20);
    let mut want = Box::new(Matrix::<NQ, DV>::zeros());
    pool(1).install(|| attention(&q, &k, &v, &mut want, &opts));
    for threads in [1, 2] {
        let (pool, mut out) = (pool(threads), Box::new(Matrix::<NQ, DV>::zeros()));
        pool.install(|| attention(&q, &k, &v, &mut out, &opts));
        assert_eq!(max_diff(want.as_slice(), out.as_slice()), 0.0, "{threads} threads changed the result");
        g.bench_function(format!("{threads} threads"), |b| {
            b.iter(|| pool.install(|| attention(black_box(&q), &k, &v, &mut out, &opts)))
        });
    }
    g.finish();
}

pub fn bench(c: &mut Criterion) {
    scaling::<256, 256, 64, 64>(c, WORKLOADS[4]);
    scaling::<512, 512, 64, 64>(c, WORKLOADS[5]);
    #[cfg(feature = "rayon")]
    {
        rayon_attention::<256, 256, 64, 64>(c, WORKLOADS[4]);
        rayon_attention::<512, 512, 64, 64>(c, WORKLOADS[5]);
        crate::layers::rayon_forward(c, pool);
    }
}
