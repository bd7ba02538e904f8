//! The layer workloads that `sdpa::layer` and PyTorch's `nn.MultiheadAttention`
//! are both measured on (`benches/torch_peers.py` has the same list), their
//! weights and inputs, and the f64 reference the sdpa side is checked against.

use crate::data::Rng;
use sdpa::layer::Weights;

/// One multi-head self-attention layer over a whole sequence: biases on all
/// four projections, no positional encoding, `heads` heads of `width / heads`.
#[derive(Clone, Copy, Debug)]
pub struct LayerWorkload {
    pub id: &'static str,
    /// What the shape is known as, if anything ("MiniLM", "BERT-base").
    pub model: &'static str,
    pub tokens: usize,
    pub width: usize,
    pub heads: usize,
    pub causal: bool,
}

/// The forward workloads of the layer issue.
pub const LAYERS: [LayerWorkload; 4] = [
    LayerWorkload { id: "L1", model: "MiniLM", tokens: 14, width: 384, heads: 12, causal: false },
    LayerWorkload { id: "L2", model: "", tokens: 128, width: 256, heads: 4, causal: false },
    LayerWorkload { id: "L3", model: "BERT-base", tokens: 128, width: 768, heads: 12, causal: false },
    LayerWorkload { id: "L4", model: "", tokens: 256, width: 512, heads: 8, causal: true },
];

/// The decode step: one token at position 255 (the cache holds positions
/// 0–254, capacity 256), width 512, 8 heads.
pub const DECODE: LayerWorkload =
    LayerWorkload { id: "L5", model: "", tokens: 256, width: 512, heads: 8, causal: true };

/// The projection on its own: `kernels::linear`, 128 tokens, 768 → 768, bias.
pub const LINEAR: (&str, usize, usize, usize) = ("L6", 128, 768, 768);

/// Criterion group of the projection, also parsed by `scripts/bench_chart.py`.
pub fn linear_group() -> String {
    let (id, tokens, n_in, n_out) = LINEAR;
    format!("layer {id} linear T{tokens} {n_in}->{n_out} bias")
}

/// Flops of the projection: `2·T·in·out`.
pub fn linear_flops() -> u64 {
    let (_, tokens, n_in, n_out) = LINEAR;
    (2 * tokens * n_in * n_out) as u64
}

impl LayerWorkload {
    /// Head dimension.
    pub fn head_dim(&self) -> usize {
        self.width / self.heads
    }

    /// Criterion group name, also parsed by `scripts/bench_chart.py`.
    pub fn group(&self) -> String {
        if self.id == DECODE.id {
            return format!("layer {} decode at {} E{} H{}", self.id, self.tokens - 1, self.width, self.heads);
        }
        let model = if self.model.is_empty() { String::new() } else { format!("{} ", self.model) };
        let mask = if self.causal { " causal" } else { "" };
        format!("layer {} {model}N{} E{} H{}{mask}", self.id, self.tokens, self.width, self.heads)
    }

    /// Flops of a forward: the four projections `2·N·E·E·4` plus attention,
    /// `2·N·N·hd + 2·N·N·hd` per head (halved when causal).
    pub fn flops(&self) -> u64 {
        let (n, e) = (self.tokens, self.width);
        let attention = 4 * n * n * e;
        (8 * n * e * e + if self.causal { attention / 2 } else { attention }) as u64
    }

    /// Flops of one decode step against `keys` cached tokens (the new one
    /// included): `2·E·E·4` for the projections plus `4·keys·E` of attention.
    pub fn decode_flops(&self, keys: usize) -> u64 {
        let e = self.width;
        (8 * e * e + 4 * keys * e) as u64
    }
}

/// Weights and biases of one layer in `nn.Linear` layout (`[out, in]`),
/// uniform in `±1/√E` like PyTorch's default initialisation, biases in ±0.1.
pub struct LayerWeights {
    pub width: usize,
    /// Wq, Wk, Wv, Wo, each `width × width`.
    pub w: [Vec<f32>; 4],
    /// bq, bk, bv, bo, each `width`.
    pub b: [Vec<f32>; 4],
}

impl LayerWeights {
    pub fn new(width: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let bound = 1.0 / (width as f32).sqrt();
        let w = [(); 4].map(|_| rng.vec(width * width).into_iter().map(|x| x * bound).collect());
        let b = [(); 4].map(|_| rng.vec(width).into_iter().map(|x| x * 0.1).collect());
        LayerWeights { width, w, b }
    }

    /// The same tensors as sdpa's borrowed layer weights.
    pub fn sdpa<const D: usize, const QH: usize, const KVH: usize, const HD: usize>(
        &self,
    ) -> Weights<'_, D, QH, KVH, HD> {
        let [wq, wk, wv, wo] = &self.w;
        let [bq, bk, bv, bo] = &self.b;
        Weights::new(wq, wk, wv, wo).and_then(|w| w.with_biases(bq, bk, bv, bo)).expect("layer shapes")
    }
}

/// `x · Wᵀ + b` in f64 for `tokens` rows.
pub fn linear_f64(x: &[f32], w: &[f32], b: Option<&[f32]>, n_in: usize) -> Vec<f64> {
    let n_out = w.len() / n_in;
    let mut y = Vec::with_capacity(x.len() / n_in * n_out);
    for xr in x.chunks_exact(n_in) {
        for (o, wr) in w.chunks_exact(n_in).enumerate() {
            let dot: f64 = xr.iter().zip(wr).map(|(&a, &c)| a as f64 * c as f64).sum();
            y.push(dot + b.map_or(0.0, |b| b[o] as f64));
        }
    }
    y
}

/// The layer's forward in f64: project, split heads, softmax attention per
/// head (causal if asked), merge, project out. `x` is `tokens × width`.
pub fn forward_f64(w: &LayerWeights, heads: usize, causal: bool, x: &[f32]) -> Vec<f64> {
    let e = w.width;
    let hd = e / heads;
    let tokens = x.len() / e;
    let [q, k, v] = [0, 1, 2].map(|i| linear_f64(x, &w.w[i], Some(&w.b[i]), e));
    let scale = 1.0 / (hd as f64).sqrt();
    let mut merged = vec![0.0f64; tokens * e];
    let mut p = vec![0.0f64; tokens];
    for h in 0..heads {
        let col = h * hd..(h + 1) * hd;
        for t in 0..tokens {
            let visible = if causal { t + 1 } else { tokens };
            let qt = &q[t * e..][col.clone()];
            for (s, ps) in p[..visible].iter_mut().enumerate() {
                *ps = qt.iter().zip(&k[s * e..][col.clone()]).map(|(a, b)| a * b).sum::<f64>() * scale;
            }
            let max = p[..visible].iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x));
            p[..visible].iter_mut().for_each(|x| *x = (*x - max).exp());
            let sum: f64 = p[..visible].iter().sum();
            let out = &mut merged[t * e..][col.clone()];
            for (s, &ps) in p[..visible].iter().enumerate() {
                for (o, vv) in out.iter_mut().zip(&v[s * e..][col.clone()]) {
                    *o += ps / sum * vv;
                }
            }
        }
    }
    let merged: Vec<f32> = merged.iter().map(|&x| x as f32).collect();
    // The output projection reads the merged heads rounded to f32, as the
    // f32 layer does; the rounding is far below the tolerance either way.
    linear_f64(&merged, &w.w[3], Some(&w.b[3]), e)
}

/// Max |ours − reference| and max |reference|.
pub fn error_against(ours: &[f32], reference: &[f64]) -> (f64, f64) {
    assert_eq!(ours.len(), reference.len(), "outputs of different lengths");
    let diff = ours.iter().zip(reference).map(|(&a, &b)| (a as f64 - b).abs()).fold(0.0, f64::max);
    (diff, reference.iter().fold(0.0, |m: f64, &b| m.max(b.abs())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flop_counts() {
        // L1: 8·14·384² + 4·14²·384.
        assert_eq!(LAYERS[0].flops(), 8 * 14 * 384 * 384 + 4 * 14 * 14 * 384);
        assert_eq!(LAYERS[3].flops(), 8 * 256 * 512 * 512 + 2 * 256 * 256 * 512);
        assert_eq!(DECODE.decode_flops(256), 8 * 512 * 512 + 4 * 256 * 512);
        assert_eq!(linear_flops(), 2 * 128 * 768 * 768);
        assert_eq!(LAYERS[2].group(), "layer L3 BERT-base N128 E768 H12");
        assert_eq!(LAYERS[3].group(), "layer L4 N256 E512 H8 causal");
        assert_eq!(DECODE.group(), "layer L5 decode at 255 E512 H8");
    }

    #[test]
    fn one_token_one_head_is_the_value_projection() {
        // One visible key: attention returns its value row, so the layer is
        // two affine maps in a row.
        let w = LayerWeights::new(4, 1);
        let x = [0.5f32, -0.25, 1.0, 0.75];
        let v = linear_f64(&x, &w.w[2], Some(&w.b[2]), 4);
        let v32: Vec<f32> = v.iter().map(|&x| x as f32).collect();
        let expected = linear_f64(&v32, &w.w[3], Some(&w.b[3]), 4);
        assert_eq!(forward_f64(&w, 1, true, &x), expected);
    }
}
