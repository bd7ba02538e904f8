//! The layer and its forward pass over a whole sequence.

use super::rope::{Rotation, frequencies};
use super::{Heads, LayerMask, Positions, Scratch, Weights, alibi_slope};
use crate::Matrix;
use crate::attention::{OutRows, Problem, Rows, RuntimeDims, choose};
use crate::kernels::Projection;
use crate::options::{Mask, Settings};
use crate::parallel;
use crate::simd::{Simd, dispatch};

/// A multi-head self-attention layer with `QH` query heads and `KVH`
/// key/value heads (`KVH = QH`: MHA; `1 < KVH < QH`: GQA; `KVH = 1`: MQA) of
/// dimension `HD`, on a model of width `D = QH·HD`.
///
/// `out = concat(head₀ … head_{QH−1})·Woᵀ + bo`, with
/// `headₕ = attention(x·Wqₕᵀ + bqₕ, x·Wk_gᵀ + bk_g, x·Wv_gᵀ + bv_g)` and
/// `g = h / (QH / KVH)` (PyTorch's `enable_gqa` convention: consecutive query
/// heads share a key/value head, read in place). Each projection is one GEMM
/// over all tokens ([`crate::kernels::linear`]); attention is one call of the
/// crate's fused kernel per head over the whole sequence, with scale `1/√HD`
/// unless [`with_scale`](Self::with_scale) says otherwise.
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
        dispatch!(|s| self.forward_with(s, x, out, mask, scratch))
    }

    /// [`forward`](Self::forward) on backend `s`.
    #[inline(always)]
    fn forward_with<const L: usize, S: Simd<L>, const T: usize>(
        &self,
        s: S,
        x: &Matrix<T, D>,
        out: &mut Matrix<T, D>,
        mask: &LayerMask<'_, T>,
        scratch: &mut Scratch<T, D, QH, KVH, HD>,
    ) {
        let w = &self.weights;
        let x = x.as_slice();
        let kv = KVH * HD;
        project(
            s,
            x,
            w.q.as_flattened().as_flattened(),
            w.q_bias.map(|b| b.as_flattened()),
            scratch.q.as_flattened_mut().as_flattened_mut(),
            D,
        );
        project(
            s,
            x,
            w.k.as_flattened().as_flattened(),
            w.k_bias.map(|b| b.as_flattened()),
            scratch.k.as_flattened_mut().as_flattened_mut(),
            kv,
        );
        project(
            s,
            x,
            w.v.as_flattened().as_flattened(),
            w.v_bias.map(|b| b.as_flattened()),
            scratch.v.as_flattened_mut().as_flattened_mut(),
            kv,
        );
        if let Positions::Rope(rope) = self.positions {
            let inv_freq = frequencies::<HD>(&rope);
            for (t, (q, k)) in scratch.q.iter_mut().zip(scratch.k.iter_mut()).enumerate() {
                let turn = Rotation::<HD>::new(&rope, t, &inv_freq);
                for head in q.iter_mut().chain(k.iter_mut()) {
                    turn.apply(head);
                }
            }
        }
        let base = Settings { scale: self.scale, ..mask.settings() };
        let (q, k, v) = (
            scratch.q.as_flattened().as_flattened(),
            scratch.k.as_flattened().as_flattened(),
            scratch.v.as_flattened().as_flattened(),
        );
        let problem = |h: usize| {
            let g = h / Heads::<D, QH, KVH, HD>::GROUP;
            Problem {
                nq: T,
                nk: T,
                d: HD,
                dv: HD,
                q: head::<HD>(q, h, D),
                k: head::<HD>(k, g, kv),
                v: head::<HD>(v, g, kv),
                settings: Settings { alibi_slope: self.alibi(h), ..base },
                mask: mask.padding.map(|keep| Mask::PerKey(keep)),
                bias: None,
            }
        };
        // Blocks of merged rows (all heads of each): disjoint writes, so the
        // blocks can run on different cores.
        let merged = OutRows::contiguous(scratch.merged.as_mut_slice(), D);
        let min_rows = PARALLEL_MACS.div_ceil(QH * T * 2 * HD);
        parallel::row_blocks(merged, T, 2 * L, min_rows, |first, rows| {
            s.vectorize(
                #[inline(always)]
                || {
                    let OutRows { data, stride, .. } = rows;
                    for h in 0..QH {
                        let out = OutRows { data: data.get_mut(h * HD..).unwrap_or_default(), stride, width: HD };
                        choose::attend(s, RuntimeDims, &problem(h), first, out);
                    }
                },
            )
        });
        project(s, scratch.merged.as_slice(), w.o.as_flattened(), w.o_bias.map(|b| &b[..]), out.as_mut_slice(), D);
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

/// Head `h` of token-major rows `stride` apart, heads as blocks of `HD`.
fn head<const HD: usize>(data: &[f32], h: usize, stride: usize) -> Rows<'_> {
    Rows { data: data.get(h * HD..).unwrap_or_default(), stride, width: HD }
}

/// Multiply-adds below which the layer does not split work across threads.
const PARALLEL_MACS: usize = 1 << 21;

/// `out = x·Wᵀ + b` for rows of `weight.len() / n_out` inputs, `n_out`
/// outputs per row; blocks of rows on all cores with the `rayon` feature.
#[inline(always)]
pub(crate) fn project<const L: usize, S: Simd<L>>(
    s: S,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    n_out: usize,
) {
    let n_in = weight.len() / n_out.max(1);
    let projection = Projection { weight, bias: bias.unwrap_or_default(), n_in, n_out };
    let rows = out.len() / n_out.max(1);
    let min_rows = PARALLEL_MACS.div_ceil(weight.len().max(1));
    parallel::row_blocks(OutRows::contiguous(out, n_out), rows, 4, min_rows, |first, block| {
        let x = x.get(first * n_in..).unwrap_or_default();
        s.vectorize(
            #[inline(always)]
            || projection.apply(s, x, block.data),
        )
    });
}
