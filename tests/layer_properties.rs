//! Properties of the self-attention layer, over random weights, inputs,
//! positional encodings and masks (proptest):
//!
//! - decode == forward: every decode step equals the causal forward's row
//!   for that position (bit for bit before a cache wraps where the decode
//!   query and the forward's rows run on the same attention engine; within
//!   a summation-order tolerance after a sliding cache wraps and where they
//!   run on different engines);
//! - GQA == MHA with each kv head's weights repeated for its query heads
//!   (bit for bit), and the layer with `KVH = QH` == plain MHA composed by
//!   hand from `linear_reference`, `Rope::rotate` and `sdpa::attention`;
//! - padding: permuting tokens together with their padding flags permutes
//!   the outputs; padded tokens' contents (even NaN) never change another
//!   token's output; a fully padded sequence gives the output bias, no NaN;
//! - a full fixed cache refuses a token and changes nothing.
//!
//! Every case runs on every backend this build and CPU support, with each
//! attention engine forced in turn (where it accepts the layer's problems).

mod common;

use common::prop::on_every_engine;
use proptest::prelude::*;
use sdpa::__engines::Engine;
use sdpa::kernels::linear_reference;
use sdpa::layer::{
    CacheError, CacheMode, DecodeScratch, KvCache, LayerMask, Positions, Rope, Scratch, SelfAttention, Weights,
    alibi_slope,
};
use sdpa::{Alignment, Matrix, Options, Settings, attention};
use sdpa_oracle::backend::{each_backend_and_engine, engine};
use sdpa_oracle::{Problem, Rng};

/// Width 16, 4 query heads, 2 kv heads of dimension 4 (GQA), 12 tokens.
const D: usize = 16;
const QH: usize = 4;
const KVH: usize = 2;
const HD: usize = 4;
const T: usize = 12;

/// Owned random tensors for a layer with `kv_heads` key/value heads.
struct Tensors {
    wq: Vec<f32>,
    wk: Vec<f32>,
    wv: Vec<f32>,
    wo: Vec<f32>,
    bq: Vec<f32>,
    bk: Vec<f32>,
    bv: Vec<f32>,
    bo: Vec<f32>,
}

impl Tensors {
    fn random(rng: &mut Rng, kv_heads: usize) -> Self {
        let mut v = |n: usize, r: f32| (0..n).map(|_| rng.uniform(-r, r)).collect::<Vec<f32>>();
        let r = 1.0 / (D as f32).sqrt();
        let kv = kv_heads * HD;
        Tensors {
            wq: v(D * D, r),
            wk: v(kv * D, r),
            wv: v(kv * D, r),
            wo: v(D * D, r),
            bq: v(D, 0.2),
            bk: v(kv, 0.2),
            bv: v(kv, 0.2),
            bo: v(D, 0.2),
        }
    }

    fn weights<const KV: usize>(&self, biases: bool) -> Weights<'_, D, QH, KV, HD> {
        let w = Weights::new(&self.wq, &self.wk, &self.wv, &self.wo).unwrap();
        if biases { w.with_biases(&self.bq, &self.bk, &self.bv, &self.bo).unwrap() } else { w }
    }

    /// The same layer with every kv head repeated for each of its query
    /// heads (`QH` kv heads): what GQA must equal.
    fn repeated(&self) -> Tensors {
        let group = QH / KVH;
        let rep = |w: &[f32], per_head: usize| -> Vec<f32> {
            (0..QH).flat_map(|h| w[(h / group) * per_head..(h / group + 1) * per_head].to_vec()).collect()
        };
        Tensors {
            wq: self.wq.clone(),
            wk: rep(&self.wk, HD * D),
            wv: rep(&self.wv, HD * D),
            wo: self.wo.clone(),
            bq: self.bq.clone(),
            bk: rep(&self.bk, HD),
            bv: rep(&self.bv, HD),
            bo: self.bo.clone(),
        }
    }
}

fn positions() -> impl Strategy<Value = Positions> {
    prop_oneof![
        Just(Positions::None),
        Just(Positions::Rope(Rope::interleaved())),
        Just(Positions::Rope(Rope::half_split().theta(50.0))),
        Just(Positions::Alibi),
    ]
}

fn input(rng: &mut Rng) -> Matrix<T, D> {
    Matrix::from_fn(|_, _| rng.uniform(-2.0, 2.0))
}

fn run<const KV: usize>(
    layer: &SelfAttention<'_, D, QH, KV, HD>,
    x: &Matrix<T, D>,
    mask: &LayerMask<'_, T>,
) -> Matrix<T, D> {
    let mut out = Matrix::zeros();
    layer.forward(x, &mut out, mask, &mut Scratch::new());
    out
}

/// The engines (by `sdpa_oracle::backend::engine`) that the causal
/// forward's attention and the decode step at position `t` (before the
/// cache wraps) run on, with positional encoding `pos`.
fn forward_and_decode_engines(pos: Positions, t: usize) -> (Engine, Engine) {
    let alibi_slope = (pos == Positions::Alibi).then_some(1.0);
    let shape = |nq: usize, nk: usize, settings: Settings| Problem {
        nq,
        nk,
        d: HD,
        dv: HD,
        q: &[],
        k: &[],
        v: &[],
        settings,
        mask: None,
        bias: None,
    };
    let forward = shape(T, T, Settings { causal: true, alibi_slope, ..Settings::default() });
    let decode = shape(1, t + 1, Settings { alignment: Alignment::BottomRight, alibi_slope, ..Settings::default() });
    (engine(&forward), engine(&decode))
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    /// Before a cache wraps, a decode step runs exactly the forward's
    /// operations for that row where both run on the same attention engine:
    /// same projections (the linear kernel's result does not depend on the
    /// tile), same RoPE angles, same key blocks (or tiles) in the same order.
    /// That is the case with the row engine forced, and with the tiled
    /// engine forced on the SIMD backends without ALiBi. Where they run on
    /// different engines (by default: the forward's causal rows on the
    /// tiled or row engine, a decode step's single unmasked query on the
    /// tiny one) they agree within the same summation-order tolerance as a
    /// wrapped sliding cache.
    #[test]
    fn decode_equals_the_causal_forward_before_wrapping(
        seed in any::<u64>(), pos in positions(), biases in any::<bool>(), sliding in any::<bool>(),
    ) {
        let mut rng = Rng::new(seed);
        let tensors = Tensors::random(&mut rng, KVH);
        let layer = SelfAttention::new(tensors.weights::<KVH>(biases), pos);
        let x = input(&mut rng);
        on_every_engine(|_, _| {
            let full = run(&layer, &x, &LayerMask::causal());
            let mode = if sliding { CacheMode::Sliding } else { CacheMode::Fixed };
            let mut cache = KvCache::<T, KVH, HD>::with_mode(mode);
            let mut scratch = DecodeScratch::new();
            for (t, row) in x.rows().iter().enumerate() {
                let mut out = [0.0; D];
                prop_assert_eq!(layer.decode(row, &mut out, &mut cache, &mut scratch), Ok(t));
                let (forward, decode) = forward_and_decode_engines(pos, t);
                if forward == decode {
                    prop_assert_eq!(
                        out.map(f32::to_bits),
                        full.rows()[t].map(f32::to_bits),
                        "position {} (both on the {:?} engine)",
                        t,
                        forward
                    );
                } else {
                    let scale = full.rows()[t].iter().fold(1.0f32, |m, v| m.max(v.abs()));
                    prop_assert!(max_abs_diff(&out, &full.rows()[t]) <= 2e-6 * scale, "position {}", t);
                }
            }
            Ok(())
        })?;
    }

    /// A rolling cache of `CAP` tokens equals the forward with a causal
    /// sliding window of `CAP` at every position, also after it wraps
    /// (positions stay absolute for RoPE and ALiBi).
    #[test]
    fn sliding_cache_is_the_sliding_window_forward(
        seed in any::<u64>(), pos in positions(), biases in any::<bool>(),
    ) {
        on_every_engine(|_, _| {
            let mut rng = Rng::new(seed);
            let tensors = Tensors::random(&mut rng, KVH);
            let layer = SelfAttention::new(tensors.weights::<KVH>(biases), pos);
            let x = input(&mut rng);
            let full = run(&layer, &x, &LayerMask::sliding_window(5));
            let mut cache = KvCache::<5, KVH, HD>::sliding();
            let mut scratch = DecodeScratch::new();
            for (t, row) in x.rows().iter().enumerate() {
                let mut out = [0.0; D];
                prop_assert_eq!(layer.decode(row, &mut out, &mut cache, &mut scratch), Ok(t));
                let scale = full.rows()[t].iter().fold(1.0f32, |m, v| m.max(v.abs()));
                prop_assert!(max_abs_diff(&out, &full.rows()[t]) <= 2e-6 * scale, "position {}", t);
            }
            Ok(())
        })?;
    }

    /// GQA equals MHA whose kv heads repeat the shared ones, bit for bit,
    /// with every positional encoding and mask kind.
    #[test]
    fn gqa_equals_mha_with_repeated_kv_heads(
        seed in any::<u64>(), pos in positions(), biases in any::<bool>(), causal in any::<bool>(),
    ) {
        on_every_engine(|_, _| {
            let mut rng = Rng::new(seed);
            let tensors = Tensors::random(&mut rng, KVH);
            let repeated = tensors.repeated();
            let gqa = SelfAttention::new(tensors.weights::<KVH>(biases), pos);
            let mha = SelfAttention::new(repeated.weights::<QH>(biases), pos);
            let x = input(&mut rng);
            let mask = if causal { LayerMask::causal() } else { LayerMask::bidirectional().window(3, 2) };
            prop_assert_eq!(run(&gqa, &x, &mask), run(&mha, &x, &mask));
            Ok(())
        })?;
    }

    /// The layer with `KVH = QH` equals multi-head attention composed by
    /// hand: scalar projections, `Rope::rotate` per head row, the crate's
    /// const-generic `attention` per head, concatenation, scalar output
    /// projection.
    #[test]
    fn mha_layer_equals_hand_composed_heads(
        seed in any::<u64>(), pos in positions(), biases in any::<bool>(), causal in any::<bool>(),
    ) {
        on_every_engine(|_, _| {
            let mut rng = Rng::new(seed);
            let tensors = Tensors::random(&mut rng, QH);
            let layer = SelfAttention::new(tensors.weights::<QH>(biases), pos);
            let x = input(&mut rng);
            let mask = if causal { LayerMask::causal() } else { LayerMask::bidirectional() };
            let ours = run(&layer, &x, &mask);

            let bias = |b: &[f32]| if biases { Some(b.to_vec()) } else { None };
            let project = |w: &[f32], b: &[f32]| {
                let mut y = vec![0.0; T * D];
                linear_reference(x.as_slice(), w, bias(b).as_deref(), &mut y, D);
                y
            };
            let (q, k, v) = (project(&tensors.wq, &tensors.bq), project(&tensors.wk, &tensors.bk), project(&tensors.wv, &tensors.bv));
            let mut merged = vec![0.0; T * D];
            for h in 0..QH {
                let head = |y: &[f32], rotate: bool| {
                    Matrix::<T, HD>::from_fn(|t, i| {
                        let mut row: [f32; HD] = y[t * D + h * HD..t * D + (h + 1) * HD].try_into().unwrap();
                        if let (true, Positions::Rope(rope)) = (rotate, pos) {
                            rope.rotate(t, &mut row);
                        }
                        row[i]
                    })
                };
                let (qh, kh, vh) = (head(&q, true), head(&k, true), head(&v, false));
                let mut options = Options::<T, T>::new();
                if causal {
                    options = options.causal();
                }
                if pos == Positions::Alibi {
                    options = options.alibi(alibi_slope(h, QH));
                }
                let mut out = Matrix::<T, HD>::zeros();
                attention(&qh, &kh, &vh, &mut out, &options);
                for t in 0..T {
                    merged[t * D + h * HD..t * D + (h + 1) * HD].copy_from_slice(&out.rows()[t]);
                }
            }
            let mut want = vec![0.0; T * D];
            linear_reference(&merged, &tensors.wo, bias(&tensors.bo).as_deref(), &mut want, D);
            let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            prop_assert!(max_abs_diff(ours.as_slice(), &want) <= 4e-6 * scale, "{}", max_abs_diff(ours.as_slice(), &want));
            Ok(())
        })?;
    }

    /// An encoder without positions is permutation-equivariant: permuting
    /// the tokens together with their padding flags permutes the outputs.
    #[test]
    fn permuting_tokens_and_padding_permutes_outputs(
        seed in any::<u64>(), biases in any::<bool>(),
        keep in proptest::array::uniform12(proptest::bool::weighted(0.7)),
        perm in Just((0..T).collect::<Vec<usize>>()).prop_shuffle(),
    ) {
        on_every_engine(|_, _| {
            let mut rng = Rng::new(seed);
            let tensors = Tensors::random(&mut rng, KVH);
            let layer = SelfAttention::new(tensors.weights::<KVH>(biases), Positions::None);
            let x = input(&mut rng);
            let out = run(&layer, &x, &LayerMask::bidirectional().padding(&keep));
            let px = Matrix::<T, D>::from_fn(|t, i| x.rows()[perm[t]][i]);
            let pkeep: [bool; T] = core::array::from_fn(|t| keep[perm[t]]);
            let pout = run(&layer, &px, &LayerMask::bidirectional().padding(&pkeep));
            for (t, (got, &from)) in pout.rows().iter().zip(&perm).enumerate() {
                let want = &out.rows()[from];
                let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
                prop_assert!(max_abs_diff(got, want) <= 2e-6 * scale, "row {}", t);
            }
            Ok(())
        })?;
    }

    /// Padded tokens are never read as keys: rewriting their inputs (even
    /// with NaN) leaves every other token's output bit for bit unchanged,
    /// with any mask and positional encoding.
    #[test]
    fn padded_contents_never_reach_other_tokens(
        seed in any::<u64>(), pos in positions(), biases in any::<bool>(), causal in any::<bool>(),
        keep in proptest::array::uniform12(proptest::bool::weighted(0.6)),
        fill in prop_oneof![Just(f32::NAN), Just(f32::INFINITY), -1e3f32..1e3],
    ) {
        on_every_engine(|_, _| {
            let mut rng = Rng::new(seed);
            let tensors = Tensors::random(&mut rng, KVH);
            let layer = SelfAttention::new(tensors.weights::<KVH>(biases), pos);
            let x = input(&mut rng);
            let base = if causal { LayerMask::causal() } else { LayerMask::bidirectional() };
            let mask = base.padding(&keep);
            let out = run(&layer, &x, &mask);
            let dirty = Matrix::<T, D>::from_fn(|t, i| if keep[t] { x.rows()[t][i] } else { fill });
            let dirty_out = run(&layer, &dirty, &mask);
            for t in (0..T).filter(|&t| keep[t]) {
                prop_assert_eq!(out.rows()[t].map(f32::to_bits), dirty_out.rows()[t].map(f32::to_bits), "row {}", t);
            }
            Ok(())
        })?;
    }

    /// Every key padded: every attention output is zero, so the layer
    /// output is exactly the output bias (zero without biases), never NaN.
    #[test]
    fn fully_padded_sequence_gives_the_output_bias(
        seed in any::<u64>(), pos in positions(), biases in any::<bool>(), causal in any::<bool>(),
    ) {
        on_every_engine(|_, _| {
            let mut rng = Rng::new(seed);
            let tensors = Tensors::random(&mut rng, KVH);
            let layer = SelfAttention::new(tensors.weights::<KVH>(biases), pos);
            let x = input(&mut rng);
            let keep = [false; T];
            let base = if causal { LayerMask::causal() } else { LayerMask::bidirectional() };
            let out = run(&layer, &x, &base.padding(&keep));
            for row in out.rows() {
                for (o, b) in row.iter().zip(&tensors.bo) {
                    prop_assert_eq!(*o, if biases { *b } else { 0.0 });
                }
            }
            Ok(())
        })?;
    }
}

#[test]
fn full_fixed_cache_refuses_and_changes_nothing() {
    each_backend_and_engine(|_, _| {
        let mut rng = Rng::new(7);
        let tensors = Tensors::random(&mut rng, KVH);
        let layer = SelfAttention::new(tensors.weights::<KVH>(true), Positions::Rope(Rope::half_split()));
        let mut cache = KvCache::<3, KVH, HD>::new();
        let mut scratch = DecodeScratch::new();
        let x = input(&mut rng);
        let mut out = [0.0; D];
        for (t, row) in x.rows().iter().take(3).enumerate() {
            assert_eq!(layer.decode(row, &mut out, &mut cache, &mut scratch), Ok(t));
        }
        let (before, out_before) = (cache.clone(), out);
        assert_eq!(layer.decode(&x.rows()[3], &mut out, &mut cache, &mut scratch), Err(CacheError::Full));
        assert_eq!(cache, before);
        assert_eq!(out.map(f32::to_bits), out_before.map(f32::to_bits));
        // After clear the cache starts again at position 0 and gives the same first row.
        cache.clear();
        let mut first = [0.0; D];
        assert_eq!(layer.decode(&x.rows()[0], &mut first, &mut cache, &mut scratch), Ok(0));
        let full = run(&layer, &x, &LayerMask::causal());
        assert_eq!(first, full.rows()[0]);
    });
}

#[test]
fn sliding_cache_keeps_absolute_positions() {
    each_backend_and_engine(|_, _| {
        let mut cache = KvCache::<4, 1, 2>::sliding();
        let w = [0.1f32; 4];
        let layer = SelfAttention::new(Weights::<2, 1, 1, 2>::new(&w, &w, &w, &w).unwrap(), Positions::Alibi);
        let mut scratch = DecodeScratch::new();
        let mut out = [0.0; 2];
        for t in 0..10 {
            assert_eq!(layer.decode(&[1.0, -1.0], &mut out, &mut cache, &mut scratch), Ok(t));
            assert_eq!(cache.len(), (t + 1).min(4));
        }
        // Slot s holds the newest position congruent to s mod 4: 8, 9, 6, 7.
        let held: Vec<_> = (0..4).map(|s| cache.position_of(s)).collect();
        assert_eq!(held, [Some(8), Some(9), Some(6), Some(7)]);
        assert_eq!(cache.next_position(), 10);
    });
}
