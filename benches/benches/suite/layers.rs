//! The self-attention layer on the shapes PyTorch's `nn.MultiheadAttention`
//! is measured on (`benches/torch_peers.py`): whole-sequence forwards with
//! biases and no positional encoding, a decode step at position 255, and the
//! 768 → 768 projection alone (beside ndarray's sgemm). Each is checked
//! against the f64 reference of `sdpa_bench::layers` first.

use criterion::{BatchSize, Criterion, SamplingMode, Throughput};
use ndarray::{Array2, ArrayView2, linalg::general_mat_mul};
use sdpa::kernels::linear;
use sdpa::layer::{DecodeScratch, KvCache, LayerMask, Positions, Scratch, SelfAttention};
use sdpa::{F16, Matrix};
use sdpa_bench::data::Rng;
use sdpa_bench::layers::{
    DECODE, LAYERS, LINEAR, LayerWeights, LayerWorkload, error_against, forward_f64, linear_f64, linear_flops,
    linear_group,
};
use std::hint::black_box;

/// Max |sdpa − f64 reference| allowed, relative to the largest reference
/// output (f32 accumulation over up to 768 terms stays far below it).
const TOLERANCE: f64 = 1e-5;

fn check(what: &str, ours: &[f32], reference: &[f64]) {
    let (diff, scale) = error_against(ours, reference);
    println!("{what}: max |sdpa - f64 reference| = {diff:.2e} (max |reference| {scale:.2})");
    assert!(diff <= TOLERANCE * scale.max(1.0), "{what}: sdpa differs from the f64 reference by {diff}");
}

fn seed(lw: &LayerWorkload) -> u64 {
    0x1A7E_0000 + (lw.tokens * 1000 + lw.width) as u64
}

fn forward<const T: usize, const D: usize, const H: usize, const HD: usize>(c: &mut Criterion, lw: LayerWorkload) {
    assert_eq!((lw.tokens, lw.width, lw.heads, lw.head_dim()), (T, D, H, HD));
    let weights = LayerWeights::new(D, seed(&lw));
    let layer = SelfAttention::new(weights.sdpa::<D, H, H, HD>(), Positions::None);
    let flat = Rng::new(seed(&lw) + 1).vec(T * D);
    let x = Box::new(Matrix::<T, D>::from_slice(&flat).unwrap());
    let mut out = Box::new(Matrix::<T, D>::zeros());
    let mut scratch = Box::new(Scratch::<T, D, H, H, HD>::new());
    let mask = if lw.causal { LayerMask::causal() } else { LayerMask::bidirectional() };
    layer.forward(&x, &mut out, &mask, &mut scratch);
    check(&lw.group(), out.as_slice(), &forward_f64(&weights, H, lw.causal, &flat));

    let mut g = c.benchmark_group(lw.group());
    g.throughput(Throughput::Elements(lw.flops()));
    g.sample_size(20).sampling_mode(SamplingMode::Flat);
    g.bench_function("sdpa", |b| b.iter(|| layer.forward(black_box(&x), &mut out, &mask, &mut scratch)));
    g.finish();
}

/// The BERT-base forward (N 128, E 768, 12 heads) with sdpa's `rayon`
/// feature on pools of 1 and 2 threads (`pool(n)`), checked to give the same
/// bits.
#[cfg(feature = "rayon")]
pub fn rayon_forward(c: &mut Criterion, pool: fn(usize) -> rayon::ThreadPool) {
    let lw = LAYERS[2];
    let weights = LayerWeights::new(768, seed(&lw));
    let layer = SelfAttention::new(weights.sdpa::<768, 12, 12, 64>(), Positions::None);
    let x = Box::new(Matrix::<128, 768>::from_slice(&Rng::new(seed(&lw) + 1).vec(128 * 768)).unwrap());
    let mut scratch = Box::new(Scratch::<128, 768, 12, 12, 64>::new());
    let mask = LayerMask::bidirectional();
    let mut want = Box::new(Matrix::<128, 768>::zeros());
    pool(1).install(|| layer.forward(&x, &mut want, &mask, &mut scratch));
    let mut g = c.benchmark_group(format!("rayon {}", lw.group()));
    g.throughput(Throughput::Elements(lw.flops()));
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    for threads in [1, 2] {
        let (pool, mut out) = (pool(threads), Box::new(Matrix::<128, 768>::zeros()));
        pool.install(|| layer.forward(&x, &mut out, &mask, &mut scratch));
        assert_eq!(out.as_slice(), want.as_slice(), "{threads} threads changed the layer's result");
        g.bench_function(format!("{threads} threads"), |b| {
            b.iter(|| pool.install(|| layer.forward(black_box(&x), &mut out, &mask, &mut scratch)))
        });
    }
    g.finish();
}

/// `CAP − 1` tokens decoded into a fixed cache, then one step at position
/// `CAP − 1`, timed on a fresh copy of the prefilled cache each iteration
/// (the copy is not timed).
fn decode<const CAP: usize, const D: usize, const H: usize, const HD: usize>(c: &mut Criterion, lw: LayerWorkload) {
    assert_eq!((lw.tokens, lw.width, lw.heads, lw.head_dim()), (CAP, D, H, HD));
    let weights = LayerWeights::new(D, seed(&lw));
    let layer = SelfAttention::new(weights.sdpa::<D, H, H, HD>(), Positions::None);
    let flat = Rng::new(seed(&lw) + 1).vec(CAP * D);
    let x = Box::new(Matrix::<CAP, D>::from_slice(&flat).unwrap());
    let mut cache = Box::new(KvCache::<CAP, H, HD>::new());
    let mut scratch = Box::new(DecodeScratch::<D, CAP>::new());
    let mut row = [0.0f32; D];
    for token in &x.rows()[..CAP - 1] {
        layer.decode(token, &mut row, &mut cache, &mut scratch).unwrap();
    }
    let last = x.rows()[CAP - 1];
    assert_eq!(layer.decode(&last, &mut row, &mut cache.clone(), &mut scratch), Ok(CAP - 1));
    let reference = forward_f64(&weights, H, true, &flat);
    check(&lw.group(), &row, &reference[(CAP - 1) * D..]);

    // The same tokens into a binary16 cache (issue 14): each K and V rounded as stored.
    let mut half = Box::new(KvCache::<CAP, H, HD, F16>::new());
    let mut half_row = [0.0f32; D];
    for token in &x.rows()[..CAP - 1] {
        layer.decode(token, &mut half_row, &mut half, &mut scratch).unwrap();
    }
    assert_eq!(layer.decode(&last, &mut half_row, &mut half.clone(), &mut scratch), Ok(CAP - 1));
    println!(
        "{}: the f16 cache's output is within {:.1e} of the f32 cache's",
        lw.group(),
        sdpa_bench::max_diff(&half_row, &row)
    );

    let mut g = c.benchmark_group(lw.group());
    g.throughput(Throughput::Elements(lw.decode_flops(CAP)));
    g.bench_function("sdpa", |b| {
        b.iter_batched_ref(
            || cache.clone(),
            |cache| layer.decode(black_box(&last), &mut row, cache, &mut scratch),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("sdpa f16 cache", |b| {
        b.iter_batched_ref(
            || half.clone(),
            |cache| layer.decode(black_box(&last), &mut row, cache, &mut scratch),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// `kernels::linear` over 128 tokens, 768 → 768 with bias, beside ndarray's
/// `general_mat_mul` (matrixmultiply's sgemm) into a bias-filled output.
fn projection(c: &mut Criterion) {
    let (_, tokens, n_in, n_out) = LINEAR;
    let mut rng = Rng::new(0x11AE_A700);
    let bound = 1.0 / (n_in as f32).sqrt();
    let x = rng.vec(tokens * n_in);
    let w: Vec<f32> = rng.vec(n_out * n_in).into_iter().map(|v| v * bound).collect();
    let b = rng.vec(n_out);
    let mut y = vec![0.0f32; tokens * n_out];
    linear(&x, &w, Some(&b), &mut y, n_in);
    let reference = linear_f64(&x, &w, Some(&b), n_in);
    check(&linear_group(), &y, &reference);

    let ax = ArrayView2::from_shape((tokens, n_in), &x).unwrap();
    let aw = ArrayView2::from_shape((n_out, n_in), &w).unwrap();
    let mut ay = Array2::<f32>::zeros((tokens, n_out));
    let ndarray_linear = |ay: &mut Array2<f32>| {
        ay.rows_mut().into_iter().for_each(|mut r| r.assign(&ndarray::aview1(&b)));
        general_mat_mul(1.0, &ax, &aw.t(), 1.0, ay);
    };
    ndarray_linear(&mut ay);
    let diff = sdpa_bench::max_diff(&y, ay.as_slice().unwrap());
    assert!(diff <= 1e-5, "{}: ndarray differs from sdpa by {diff}", linear_group());

    let mut g = c.benchmark_group(linear_group());
    g.throughput(Throughput::Elements(linear_flops()));
    g.sample_size(20).sampling_mode(SamplingMode::Flat);
    g.bench_function("sdpa", |bench| bench.iter(|| linear(black_box(&x), black_box(&w), Some(&b), &mut y, n_in)));
    g.bench_function("ndarray", |bench| bench.iter(|| ndarray_linear(black_box(&mut ay))));
    g.finish();
}

pub fn bench(c: &mut Criterion) {
    let [l1, l2, l3, l4] = LAYERS;
    forward::<14, 384, 12, 32>(c, l1);
    forward::<128, 256, 4, 64>(c, l2);
    forward::<128, 768, 12, 64>(c, l3);
    forward::<256, 512, 8, 64>(c, l4);
    decode::<256, 512, 8, 64>(c, DECODE);
    projection(c);
}
