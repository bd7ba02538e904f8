//! A tiny random-weight decoder layer run token by token with the KV cache.
//!
//! Run: `cargo run --release -p sdpa-demo --bin decoder_demo`
//!
//! A llama-style attention layer (width 32, 4 query heads sharing 2 kv heads
//! of dimension 8, half-split RoPE, no biases) with a random embedding table
//! and language-model head reads a 4-token prompt, then generates greedily:
//! each step decodes one token against the cache, adds the residual, and
//! takes the highest logit as the next token. Then it checks every step against the
//! full-sequence causal forward, shows the fixed cache refusing a token
//! when full, and runs a rolling (sliding-window) cache past its capacity.

use sdpa::Matrix;
use sdpa::layer::{CacheError, DecodeScratch, KvCache, LayerMask, Positions, Rope, Scratch, SelfAttention, Weights};

const D: usize = 32;
const QH: usize = 4;
const KVH: usize = 2;
const HD: usize = 8;
const VOCAB: usize = 16;
const STEPS: usize = 12;

/// A small deterministic generator (SplitMix64) for the random weights.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self, r: f32) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * r
    }

    fn fill(&mut self, n: usize, r: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(r)).collect()
    }
}

fn main() {
    let mut rng = Rng(2024);
    let r = 1.0 / (D as f32).sqrt();
    // PyTorch nn.Linear layout: [out, in] row-major.
    let (wq, wk, wv, wo) =
        (rng.fill(D * D, r), rng.fill(KVH * HD * D, r), rng.fill(KVH * HD * D, r), rng.fill(D * D, r));
    let embedding = rng.fill(VOCAB * D, 1.0);
    let lm_head = rng.fill(VOCAB * D, 1.0); // [VOCAB, D]
    let weights = Weights::<D, QH, KVH, HD>::new(&wq, &wk, &wv, &wo).expect("tensor sizes");
    let layer = SelfAttention::new(weights, Positions::Rope(Rope::half_split()));
    println!("decoder layer: D {D}, {QH} query heads sharing {KVH} kv heads of {HD}, RoPE half-split θ = 10000");
    println!("SIMD backend: {}", sdpa::backend());

    // Greedy generation, one token per step, against a fixed cache of STEPS tokens.
    let mut cache = KvCache::<STEPS, KVH, HD>::new();
    let mut scratch = DecodeScratch::new();
    let mut inputs = Matrix::<STEPS, D>::zeros();
    let mut decoded = Matrix::<STEPS, D>::zeros();
    let prompt = [3, 1, 4, 1];
    let mut token = prompt[0];
    let mut generated = vec![token];
    for step in 0..STEPS {
        let x: [f32; D] = embedding[token * D..(token + 1) * D].try_into().unwrap();
        inputs.rows_mut()[step] = x;
        let mut out = [0.0; D];
        let position = layer.decode(&x, &mut out, &mut cache, &mut scratch).expect("the cache has room");
        decoded.rows_mut()[step] = out;
        let hidden: Vec<f32> = x.iter().zip(&out).map(|(a, b)| a + b).collect();
        let logits: Vec<f32> =
            lm_head.chunks_exact(D).map(|e| e.iter().zip(&hidden).map(|(a, b)| a * b).sum()).collect();
        let predicted = (0..VOCAB).max_by(|&a, &b| logits[a].total_cmp(&logits[b])).unwrap();
        // Inside the prompt the next token is given; after it, the prediction is taken.
        let next = prompt.get(step + 1).copied().unwrap_or(predicted);
        let norm = out.iter().map(|v| v * v).sum::<f32>().sqrt();
        let phase = if step + 1 < prompt.len() { "prompt" } else { "generate" };
        println!(
            "step {step:2} ({phase:8}): position {position:2}, token {token:2}, |attention out| {norm:.4}, predicted {predicted:2} -> next {next:2}"
        );
        token = next;
        generated.push(token);
    }
    println!("generated: {generated:?}");

    // The same inputs through the full causal forward: every decoded row must match.
    let mut full = Matrix::<STEPS, D>::zeros();
    layer.forward(&inputs, &mut full, &LayerMask::causal(), &mut Scratch::new());
    let diff = full.as_slice().iter().zip(decoded.as_slice()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    println!("decode vs full causal forward, all {STEPS} positions: max |difference| = {diff:e}");
    assert!(diff <= 1e-6, "decode and forward disagree");

    // A fixed cache refuses the token past its capacity, as a value.
    let x: [f32; D] = embedding[token * D..(token + 1) * D].try_into().unwrap();
    let mut out = [0.0; D];
    let refused = layer.decode(&x, &mut out, &mut cache, &mut scratch);
    println!("token {} into the full fixed cache: {refused:?}", STEPS);
    assert_eq!(refused, Err(CacheError::Full));

    // A rolling cache of 4 tokens runs on forever; it equals a sliding window of 4.
    const WINDOW: usize = 4;
    let mut rolling = KvCache::<WINDOW, KVH, HD>::sliding();
    let mut rolling_scratch = DecodeScratch::new();
    let mut window_full = Matrix::<STEPS, D>::zeros();
    layer.forward(&inputs, &mut window_full, &LayerMask::sliding_window(WINDOW), &mut Scratch::new());
    let mut worst = 0.0f32;
    for (x, want) in inputs.rows().iter().zip(window_full.rows()) {
        let mut out = [0.0; D];
        layer.decode(x, &mut out, &mut rolling, &mut rolling_scratch).expect("a sliding cache never fills");
        worst = out.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(worst, f32::max);
    }
    println!(
        "rolling cache of {WINDOW} over {STEPS} tokens (holds {}, next position {}) vs sliding-window forward: max |difference| = {worst:e}",
        rolling.len(),
        rolling.next_position()
    );
    assert!(worst <= 1e-5, "rolling cache and sliding window disagree");
}
