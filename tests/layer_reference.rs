//! The self-attention layer against numpy's float64 reference
//! (`scripts/layer_vectors.py`, committed output in `tests/data/layer_vectors.rs`).
//!
//! Tolerance: `2e-6 · (1 + max|out|)` absolute per layer output. The f32
//! pipeline is three chains of at most 24-term dot products (projections,
//! scores, output projection) and one ≤ 9-term weighted sum, all on O(1)
//! values (inputs in [-1, 1), weights N(0, 1/D)); each stage adds a few
//! units of `u = 2⁻²⁴ ≈ 6e-8` times a sum of magnitudes below about 5, so
//! errors of a few 1e-7 are expected; RoPE angles in f32 add
//! `p·θ^(−2i/HD)·u` (p ≤ 8) to that. The bound leaves about ten times that.
//! Run with `--nocapture` to see each case's measured error. Every case runs
//! on every backend, with each attention engine forced in turn.

use sdpa::Matrix;
use sdpa::layer::{
    CacheMode, DecodeScratch, KvCache, LayerMask, Positions, Rope, Scratch, SelfAttention, Weights, alibi_slope,
    sinusoidal,
};
use sdpa_oracle::backend::{each_backend, each_backend_and_engine, forced_engine};

#[allow(clippy::approx_constant)] // generated data: 2^(-1/2) is an ALiBi slope, not a typo of FRAC_1_SQRT_2
mod vectors {
    include!("data/layer_vectors.rs");
}

/// The backend and the forced engine the calling thread runs.
fn on() -> String {
    format!("{}, {:?} engine forced", sdpa::backend(), forced_engine())
}

fn tolerance(want: &[f64]) -> f64 {
    2e-6 * (1.0 + want.iter().fold(0.0f64, |m, v| m.max(v.abs())))
}

fn max_err(ours: &[f32], want: &[f64]) -> f64 {
    assert_eq!(ours.len(), want.len());
    ours.iter().zip(want).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max)
}

/// Runs `forward` and checks it against `want`; returns the output.
fn forward<const T: usize, const D: usize, const QH: usize, const KVH: usize, const HD: usize>(
    name: &str,
    layer: &SelfAttention<'_, D, QH, KVH, HD>,
    x: &[f32],
    mask: &LayerMask<'_, T>,
    want: &[f64],
) -> Box<Matrix<T, D>> {
    let x = Matrix::<T, D>::from_slice(x).expect("input size");
    let mut out = Box::new(Matrix::zeros());
    let mut scratch = Box::new(Scratch::new());
    layer.forward(&x, &mut out, mask, &mut scratch);
    let (err, tol) = (max_err(out.as_slice(), want), tolerance(want));
    println!("{name} ({}): forward max |error| = {err:.2e} (tolerance {tol:.1e})", on());
    assert!(err <= tol, "{name}: forward error {err:e} > {tol:e}");
    out
}

/// Decodes token by token with a cache of capacity `CAP` in `mode` and
/// checks every output row against `want`.
fn decode<const CAP: usize, const D: usize, const QH: usize, const KVH: usize, const HD: usize>(
    name: &str,
    layer: &SelfAttention<'_, D, QH, KVH, HD>,
    mode: CacheMode,
    x: &[f32],
    want: &[f64],
) {
    let mut cache = Box::new(KvCache::<CAP, KVH, HD>::with_mode(mode));
    let mut scratch = DecodeScratch::<D, CAP>::new();
    let mut worst = 0.0f64;
    for (t, (row, want_row)) in x.chunks_exact(D).zip(want.chunks_exact(D)).enumerate() {
        let mut out = [0.0; D];
        let row: &[f32; D] = row.try_into().unwrap();
        assert_eq!(layer.decode(row, &mut out, &mut cache, &mut scratch), Ok(t));
        worst = worst.max(max_err(&out, want_row));
    }
    let tol = tolerance(want);
    println!("{name} ({}): decode ({mode:?}, CAP {CAP}) max |error| = {worst:.2e} (tolerance {tol:.1e})", on());
    assert!(worst <= tol, "{name}: decode error {worst:e} > {tol:e}");
}

#[test]
fn bert_encoder_with_key_padding() {
    each_backend_and_engine(|_, _| {
        use vectors::bert as c;
        let weights = Weights::<{ c::D }, { c::QH }, { c::KVH }, { c::HD }>::new(&c::WQ, &c::WK, &c::WV, &c::WO)
            .and_then(|w| w.with_biases(&c::BQ, &c::BK, &c::BV, &c::BO))
            .unwrap();
        let layer = SelfAttention::new(weights, Positions::None);
        let mask = LayerMask::bidirectional().padding(&c::KEEP);
        let out = forward::<{ c::T }, _, _, _, _>("bert", &layer, &c::X, &mask, &c::OUT);

        // The same tensors packed in state-dict order give the same bits.
        let packed: Vec<f32> = [&c::WQ[..], &c::BQ, &c::WK, &c::BK, &c::WV, &c::BV, &c::WO, &c::BO].concat();
        let from_packed = Weights::<{ c::D }, { c::QH }, { c::KVH }, { c::HD }>::from_packed(&packed, true).unwrap();
        let mut again = Box::new(Matrix::zeros());
        let x = Matrix::from_slice(&c::X).unwrap();
        SelfAttention::new(from_packed, Positions::None).forward(&x, &mut again, &mask, &mut Box::new(Scratch::new()));
        assert_eq!(again, out);
    });
}

#[test]
fn llama_gqa_rope_half_split_causal() {
    each_backend_and_engine(|_, _| {
        use vectors::llama_gqa as c;
        let weights =
            Weights::<{ c::D }, { c::QH }, { c::KVH }, { c::HD }>::new(&c::WQ, &c::WK, &c::WV, &c::WO).unwrap();
        let layer = SelfAttention::new(weights, Positions::Rope(Rope::half_split()));
        forward::<{ c::T }, _, _, _, _>("llama_gqa", &layer, &c::X, &LayerMask::causal(), &c::OUT);
        decode::<{ c::T }, _, _, _, _>("llama_gqa", &layer, CacheMode::Fixed, &c::X, &c::OUT);
    });
}

#[test]
fn mqa_rope_interleaved_causal() {
    each_backend_and_engine(|_, _| {
        use vectors::mqa_interleaved as c;
        let weights =
            Weights::<{ c::D }, { c::QH }, { c::KVH }, { c::HD }>::new(&c::WQ, &c::WK, &c::WV, &c::WO).unwrap();
        let layer = SelfAttention::new(weights, Positions::Rope(Rope::interleaved().theta(100.0)));
        forward::<{ c::T }, _, _, _, _>("mqa_interleaved", &layer, &c::X, &LayerMask::causal(), &c::OUT);
        decode::<16, _, _, _, _>("mqa_interleaved", &layer, CacheMode::Fixed, &c::X, &c::OUT);
    });
}

#[test]
fn alibi_six_heads_gqa_with_biases_causal() {
    each_backend_and_engine(|_, _| {
        use vectors::alibi6 as c;
        let weights = Weights::<{ c::D }, { c::QH }, { c::KVH }, { c::HD }>::new(&c::WQ, &c::WK, &c::WV, &c::WO)
            .and_then(|w| w.with_biases(&c::BQ, &c::BK, &c::BV, &c::BO))
            .unwrap();
        let layer = SelfAttention::new(weights, Positions::Alibi);
        forward::<{ c::T }, _, _, _, _>("alibi6", &layer, &c::X, &LayerMask::causal(), &c::OUT);
        decode::<{ c::T }, _, _, _, _>("alibi6", &layer, CacheMode::Fixed, &c::X, &c::OUT);
        decode::<{ c::T }, _, _, _, _>("alibi6", &layer, CacheMode::Sliding, &c::X, &c::OUT);
    });
}

#[test]
fn sliding_window_rope_forward_and_rolling_cache() {
    each_backend_and_engine(|_, _| {
        use vectors::sliding as c;
        let weights =
            Weights::<{ c::D }, { c::QH }, { c::KVH }, { c::HD }>::new(&c::WQ, &c::WK, &c::WV, &c::WO).unwrap();
        let layer = SelfAttention::new(weights, Positions::Rope(Rope::half_split()));
        forward::<{ c::T }, _, _, _, _>("sliding", &layer, &c::X, &LayerMask::sliding_window(3), &c::OUT);
        // A rolling cache of 3 tokens wraps three times over 9 tokens.
        decode::<3, _, _, _, _>("sliding", &layer, CacheMode::Sliding, &c::X, &c::OUT);
    });
}

#[test]
fn sliding_window_alibi_forward_and_rolling_cache() {
    each_backend_and_engine(|_, _| {
        use vectors::alibi_sliding as c;
        let weights =
            Weights::<{ c::D }, { c::QH }, { c::KVH }, { c::HD }>::new(&c::WQ, &c::WK, &c::WV, &c::WO).unwrap();
        let layer = SelfAttention::new(weights, Positions::Alibi);
        forward::<{ c::T }, _, _, _, _>("alibi_sliding", &layer, &c::X, &LayerMask::sliding_window(4), &c::OUT);
        // ALiBi distances stay absolute after the ring wraps.
        decode::<4, _, _, _, _>("alibi_sliding", &layer, CacheMode::Sliding, &c::X, &c::OUT);
    });
}

#[test]
fn alibi_local_window_bidirectional_with_padding() {
    each_backend_and_engine(|_, _| {
        use vectors::alibi_local as c;
        let weights = Weights::<{ c::D }, { c::QH }, { c::KVH }, { c::HD }>::new(&c::WQ, &c::WK, &c::WV, &c::WO)
            .and_then(|w| w.with_biases(&c::BQ, &c::BK, &c::BV, &c::BO))
            .unwrap();
        let layer = SelfAttention::new(weights, Positions::Alibi);
        let mask = LayerMask::bidirectional().window(2, 1).padding(&c::KEEP);
        forward::<{ c::T }, _, _, _, _>("alibi_local", &layer, &c::X, &mask, &c::OUT);
    });
}

#[test]
fn alibi_slopes_match_the_paper_for_1_to_40_heads() {
    each_backend(|_| {
        let mut at = 0;
        let mut worst = 0.0f64;
        for n in 1..=40 {
            for h in 0..n {
                let want = vectors::ALIBI_SLOPES[at];
                let ours = alibi_slope(h, n);
                worst = worst.max(((ours as f64 - want) / want).abs());
                assert_eq!(ours, want as f32, "{n} heads, head {h}");
                at += 1;
            }
        }
        assert_eq!(at, vectors::ALIBI_SLOPES.len());
        println!("ALiBi slopes: equal to numpy's after rounding to f32; max relative difference {worst:.2e}");
    });
}

#[test]
fn sinusoidal_matches_the_paper() {
    each_backend(|_| {
        let mut worst = 0.0f64;
        for (p, want) in vectors::SINUSOIDAL_10.chunks_exact(10).enumerate() {
            let mut row = [0.0f32; 10];
            sinusoidal(p, &mut row);
            worst = worst.max(max_err(&row, want));
        }
        println!("sinusoidal: max |error| = {worst:.2e}");
        assert!(worst <= 2f64.powi(-25), "{worst:e}"); // half an f32 ulp at magnitude 1
    });
}
