//! The layer and its forward pass over a whole sequence.

use super::rope::{Rotation, frequencies};
use super::{Heads, LayerMask, Positions, Scratch, Weights, alibi_slope};
use crate::kernels::linear;
use crate::{Matrix, Options, Settings, attention_rows};

/// A multi-head self-attention layer with `QH` query heads and `KVH`
/// key/value heads (`KVH = QH`: MHA; `1 < KVH < QH`: GQA; `KVH = 1`: MQA) of
/// dimension `HD`, on a model of width `D = QH·HD`.
///
/// `out = concat(head₀ … head_{QH−1})·Woᵀ + bo`, with
/// `headₕ = attention(x·Wqₕᵀ + bqₕ, x·Wk_gᵀ + bk_g, x·Wv_gᵀ + bv_g)` and
/// `g = h / (QH / KVH)` (PyTorch's `enable_gqa` convention: consecutive query
/// heads share a key/value head). Attention per head is the crate's fused
/// kernel ([`crate::attention_rows`]) with scale `1/√HD` unless
/// [`with_scale`](Self::with_scale) says otherwise.
///
/// Shapes are checked at compile time: zero sizes, `QH % KVH ≠ 0` or
/// `QH·HD ≠ D` do not build.
///
/// ```
/// use sdpa::Matrix;
/// use sdpa::layer::{LayerMask, Positions, Rope, Scratch, SelfAttention, Weights};
/// // A llama-style layer: D = 8, 4 query heads, 2 kv heads of dimension 2, RoPE.
/// let wq: Vec<f32> = (0..64).map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.05).collect();
/// let wkv: Vec<f32> = (0..32).map(|i| ((i * 5 % 11) as f32 - 5.0) * 0.05).collect();
/// let weights = Weights::<8, 4, 2, 2>::new(&wq, &wkv, &wkv, &wq).unwrap();
/// let layer = SelfAttention::new(weights, Positions::Rope(Rope::half_split()));
///
/// let x = Matrix::<5, 8>::from_fn(|t, i| ((t + i) as f32 * 0.3).sin());
/// let mut out = Matrix::zeros();
/// let mut scratch = Scratch::new();
/// layer.forward(&x, &mut out, &LayerMask::causal(), &mut scratch);
/// assert!(out.as_slice().iter().all(|v| v.is_finite()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SelfAttention<'w, const D: usize, const QH: usize, const KVH: usize, const HD: usize> {
    pub(crate) weights: Weights<'w, D, QH, KVH, HD>,
    pub(crate) positions: Positions,
    pub(crate) scale: Option<f32>,
}

impl<'w, const D: usize, const QH: usize, const KVH: usize, const HD: usize> SelfAttention<'w, D, QH, KVH, HD> {
    /// A layer over `weights` with positional encoding `positions`; `const`,
    /// so a whole layer can be a `static` over flash data.
    ///
    /// ```
    /// use sdpa::layer::{Positions, SelfAttention, Weights};
    /// static W: [f32; 16] = [0.25; 16];
    /// static LAYER: SelfAttention<'static, 4, 2, 2, 2> = match Weights::new(&W, &W, &W, &W) {
    ///     Ok(w) => SelfAttention::new(w, Positions::Alibi),
    ///     Err(_) => panic!("wrong size"),
    /// };
    /// assert_eq!(LAYER.positions(), Positions::Alibi);
    /// ```
    pub const fn new(weights: Weights<'w, D, QH, KVH, HD>, positions: Positions) -> Self {
        let () = Heads::<D, QH, KVH, HD>::CHECK;
        Self { weights, positions, scale: None }
    }

    /// Multiplies `q·k` by `scale` instead of `1/√HD`.
    ///
    /// ```
    /// use sdpa::layer::{Positions, SelfAttention, Weights};
    /// let w = [0.0f32; 16];
    /// let layer = SelfAttention::new(Weights::<4, 2, 2, 2>::new(&w, &w, &w, &w).unwrap(), Positions::None);
    /// assert_eq!(layer.with_scale(0.125).scale(), Some(0.125));
    /// ```
    pub const fn with_scale(mut self, scale: f32) -> Self {
        self.scale = Some(scale);
        self
    }

    /// The weights.
    ///
    /// ```
    /// use sdpa::layer::{Positions, SelfAttention, Weights};
    /// let w = [0.0f32; 16];
    /// let layer = SelfAttention::new(Weights::<4, 2, 2, 2>::new(&w, &w, &w, &w).unwrap(), Positions::None);
    /// assert!(!layer.weights().has_biases());
    /// ```
    pub const fn weights(&self) -> &Weights<'w, D, QH, KVH, HD> {
        &self.weights
    }

    /// The positional encoding.
    ///
    /// ```
    /// use sdpa::layer::{Positions, SelfAttention, Weights};
    /// let w = [0.0f32; 16];
    /// let layer = SelfAttention::new(Weights::<4, 2, 2, 2>::new(&w, &w, &w, &w).unwrap(), Positions::None);
    /// assert_eq!(layer.positions(), Positions::None);
    /// ```
    pub const fn positions(&self) -> Positions {
        self.positions
    }

    /// The score scale set by [`with_scale`](Self::with_scale) (`None`: `1/√HD`).
    ///
    /// ```
    /// use sdpa::layer::{Positions, SelfAttention, Weights};
    /// let w = [0.0f32; 16];
    /// let layer = SelfAttention::new(Weights::<4, 2, 2, 2>::new(&w, &w, &w, &w).unwrap(), Positions::None);
    /// assert_eq!(layer.scale(), None);
    /// ```
    pub const fn scale(&self) -> Option<f32> {
        self.scale
    }

    /// The layer over a whole sequence of `T` tokens (positions `0 .. T`):
    /// project Q, K, V per head, apply RoPE, attend per head with `mask`
    /// (and the ALiBi slope of the head), merge heads, project out.
    ///
    /// Everything lives in `x`, `out` and `scratch`; nothing is allocated and
    /// nothing panics. Non-finite values follow the attention kernel: a
    /// token with no visible key gets a zero attention output (so `out` is
    /// the output bias there), masked (padded) tokens' K and V are never
    /// read, so NaN in a padded token reaches only that token's own row.
    ///
    /// ```
    /// use sdpa::Matrix;
    /// use sdpa::layer::{LayerMask, Positions, Scratch, SelfAttention, Weights};
    /// // A BERT-style encoder layer (width 4, 2 heads, biases) over 3 tokens, one padded.
    /// let (w, b) = ([0.125f32; 16], [0.5f32; 4]);
    /// let weights = Weights::<4, 2, 2, 2>::new(&w, &w, &w, &w).unwrap().with_biases(&b, &b, &b, &b).unwrap();
    /// let layer = SelfAttention::new(weights, Positions::None);
    /// let x = Matrix::from_rows([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [f32::NAN; 4]]);
    /// let keep = [true, true, false];
    /// let mut out = Matrix::zeros();
    /// layer.forward(&x, &mut out, &LayerMask::bidirectional().padding(&keep), &mut Scratch::new());
    /// assert!(out.rows()[..2].iter().flatten().all(|v| v.is_finite())); // the padded NaN never leaks
    /// ```
    pub fn forward<const T: usize>(
        &self,
        x: &Matrix<T, D>,
        out: &mut Matrix<T, D>,
        mask: &LayerMask<'_, T>,
        scratch: &mut Scratch<T, D, QH, KVH, HD>,
    ) {
        let () = Heads::<D, QH, KVH, HD>::CHECK;
        let w = &self.weights;
        let s = scratch;
        project_heads(x.as_slice(), w.q, w.q_bias, &mut s.q);
        project_heads(x.as_slice(), w.k, w.k_bias, &mut s.k);
        project_heads(x.as_slice(), w.v, w.v_bias, &mut s.v);
        if let Positions::Rope(rope) = self.positions {
            let inv_freq = frequencies::<HD>(&rope);
            for t in 0..T {
                let turn = Rotation::<HD>::new(&rope, t, &inv_freq);
                for head in s.q.iter_mut().chain(s.k.iter_mut()) {
                    if let Some(row) = head.rows_mut().get_mut(t) {
                        turn.apply(row);
                    }
                }
            }
        }
        let base = Settings { scale: self.scale, ..mask.settings() };
        for (h, q) in s.q.iter().enumerate() {
            let g = h / Heads::<D, QH, KVH, HD>::GROUP;
            let (Some(k), Some(v)) = (s.k.get(g), s.v.get(g)) else {
                continue;
            };
            let settings = Settings { alibi_slope: self.alibi(h), ..base };
            let mut options = Options::<T, T>::new().with_settings(settings);
            if let Some(keep) = mask.padding {
                options = options.key_mask(keep);
            }
            for (t, row) in s.merged.rows_mut().iter_mut().enumerate() {
                if let Some(head_out) = row.as_chunks_mut::<HD>().0.get_mut(h..=h) {
                    attention_rows(q, k, v, t, head_out, &options);
                }
            }
        }
        linear(s.merged.as_slice(), w.o.as_flattened(), w.o_bias.map(|b| &b[..]), out.as_mut_slice(), D);
    }

    /// Head `h`'s ALiBi slope, if the layer uses ALiBi.
    #[inline]
    pub(crate) fn alibi(&self, h: usize) -> Option<f32> {
        match self.positions {
            Positions::Alibi => Some(alibi_slope(h, QH)),
            _ => None,
        }
    }
}

/// `out[h] = x·Wₕᵀ + bₕ` for every head block `h` of a projection.
fn project_heads<const T: usize, const D: usize, const HD: usize, const H: usize>(
    x: &[f32],
    weight: &[[[f32; D]; HD]; H],
    bias: Option<&[[f32; HD]; H]>,
    out: &mut [Matrix<T, HD>; H],
) {
    for (h, (w, o)) in weight.iter().zip(out.iter_mut()).enumerate() {
        let b = bias.and_then(|b| b.get(h)).map(|b| &b[..]);
        linear(x, w.as_flattened(), b, o.as_mut_slice(), D);
    }
}
