//! The layer's weights, borrowed in PyTorch `nn.Linear` layout.

use super::Heads;

/// Borrowed weights and optional biases of one self-attention layer, in
/// PyTorch `nn.Linear` layout (`weight` is `[out_features, in_features]`,
/// row-major, `y = x·Wᵀ + b`), so tensors exported from PyTorch or Hugging
/// Face load unchanged.
///
/// With `D` the model width, `QH`/`KVH` the query/key-value head counts and
/// `HD` the head dimension (`QH·HD = D`):
///
/// | tensor | shape `[out, in]` | f32 values | Hugging Face BERT / MiniLM | Hugging Face llama |
/// |---|---|---:|---|---|
/// | Q weight | `[QH·HD, D]` | `D·D` | `attention.self.query.weight` | `self_attn.q_proj.weight` |
/// | K weight | `[KVH·HD, D]` | `KVH·HD·D` | `attention.self.key.weight` | `self_attn.k_proj.weight` |
/// | V weight | `[KVH·HD, D]` | `KVH·HD·D` | `attention.self.value.weight` | `self_attn.v_proj.weight` |
/// | O weight | `[D, QH·HD]` | `D·D` | `attention.output.dense.weight` | `self_attn.o_proj.weight` |
/// | biases (optional) | `[out]` | `D`, `KVH·HD`, `KVH·HD`, `D` | `….bias` of the same four | none |
///
/// Output row `h·HD + i` of the Q (K, V) projection is component `i` of
/// query (key, value) head `h`: heads are consecutive blocks of `HD` rows,
/// which is how PyTorch's `view(…, heads, head_dim)` splits them. Input
/// column `h·HD + i` of the O weight reads the same component of the merged
/// heads. Every value is an `f32` (little-endian in a byte file); a
/// row-major `[out, in]` tensor is `out` rows of `in` consecutive values,
/// which is what `tensor.contiguous().numpy().tofile(…)` writes.
///
/// Hugging Face llama checkpoints store `q_proj`/`k_proj` rows permuted for
/// the half-split RoPE layout: load them with [`crate::layer::RopeLayout::HalfSplit`].
/// Meta's original llama and llama2.c checkpoints use
/// [`crate::layer::RopeLayout::Interleaved`].
///
/// The packed form ([`Weights::from_packed`]) is the four tensors
/// concatenated in state-dict order, each bias right after its weight:
/// `Wq, [bq], Wk, [bk], Wv, [bv], Wo, [bo]`.
///
/// The compile-time check rejects shapes whose heads do not divide or whose
/// width is not `QH·HD`:
///
/// ```compile_fail
/// // 3 query heads cannot share 2 key/value heads.
/// let w = [0.0f32; 36];
/// let _ = sdpa::layer::Weights::<6, 3, 2, 2>::new(&w, &w[..24], &w[..24], &w);
/// ```
///
/// ```
/// use sdpa::layer::Weights;
/// // D = 4, two query heads sharing one key/value head (MQA) of dimension 2.
/// static WQ: [f32; 16] = [0.5; 16];
/// static WKV: [f32; 8] = [0.25; 8];
/// static WO: [f32; 16] = [1.0; 16];
/// static W: Weights<'static, 4, 2, 1, 2> = match Weights::new(&WQ, &WKV, &WKV, &WO) {
///     Ok(w) => w,
///     Err(_) => panic!("wrong tensor size"), // a compile error, never a run-time panic
/// };
/// assert!(W.has_biases() == false);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Weights<'w, const D: usize, const QH: usize, const KVH: usize, const HD: usize> {
    pub(crate) q: &'w [[[f32; D]; HD]; QH],
    pub(crate) k: &'w [[[f32; D]; HD]; KVH],
    pub(crate) v: &'w [[[f32; D]; HD]; KVH],
    pub(crate) o: &'w [[f32; D]; D],
    pub(crate) q_bias: Option<&'w [[f32; HD]; QH]>,
    pub(crate) k_bias: Option<&'w [[f32; HD]; KVH]>,
    pub(crate) v_bias: Option<&'w [[f32; HD]; KVH]>,
    pub(crate) o_bias: Option<&'w [f32; D]>,
}

/// Which tensor a [`WeightsError`] is about.
///
/// ```
/// assert_ne!(sdpa::layer::Tensor::QueryWeight, sdpa::layer::Tensor::KeyWeight);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tensor {
    /// Q projection weight.
    QueryWeight,
    /// K projection weight.
    KeyWeight,
    /// V projection weight.
    ValueWeight,
    /// Output projection weight.
    OutputWeight,
    /// Q projection bias.
    QueryBias,
    /// K projection bias.
    KeyBias,
    /// V projection bias.
    ValueBias,
    /// Output projection bias.
    OutputBias,
    /// The whole packed buffer of [`Weights::from_packed`].
    Packed,
}

/// A tensor whose length does not match the layer's shape.
///
/// ```
/// use sdpa::layer::{Tensor, Weights};
/// let w = [0.0f32; 16];
/// let err = Weights::<4, 2, 2, 2>::new(&w, &w[..7], &w, &w).unwrap_err();
/// assert_eq!((err.tensor, err.expected, err.found), (Tensor::KeyWeight, 16, 7));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WeightsError {
    /// The tensor with the wrong length.
    pub tensor: Tensor,
    /// The number of `f32` values the shape needs.
    pub expected: usize,
    /// The number of `f32` values given.
    pub found: usize,
}

impl core::fmt::Display for WeightsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?} holds {} f32 values, the layer needs {}", self.tensor, self.found, self.expected)
    }
}

impl core::error::Error for WeightsError {}

impl<'w, const D: usize, const QH: usize, const KVH: usize, const HD: usize> Weights<'w, D, QH, KVH, HD> {
    /// `f32` values in the packed buffer of [`from_packed`](Self::from_packed):
    /// `2·D·D + 2·KVH·HD·D` weights, plus `2·D + 2·KVH·HD` with biases.
    ///
    /// ```
    /// type W = sdpa::layer::Weights<'static, 8, 4, 2, 2>;
    /// assert_eq!(W::packed_len(false), 2 * 64 + 2 * 4 * 8);
    /// assert_eq!(W::packed_len(true), W::packed_len(false) + 2 * 8 + 2 * 4);
    /// ```
    pub const fn packed_len(biases: bool) -> usize {
        let () = Heads::<D, QH, KVH, HD>::CHECK;
        let weights = 2 * D * D + 2 * KVH * HD * D;
        if biases { weights + 2 * D + 2 * KVH * HD } else { weights }
    }

    /// Borrows the four weight matrices (no biases) from flat row-major
    /// slices in PyTorch layout; see the type's table for the lengths.
    /// `const`, so a `static` layer over `static` (flash) data costs nothing
    /// at start-up, and a wrong length is a compile error there.
    ///
    /// ```
    /// let (wq, wk, wo) = ([0.1f32; 16], [0.2f32; 16], [0.3f32; 16]);
    /// let w = sdpa::layer::Weights::<4, 2, 2, 2>::new(&wq, &wk, &wk, &wo).unwrap();
    /// assert!(!w.has_biases());
    /// ```
    pub const fn new(q: &'w [f32], k: &'w [f32], v: &'w [f32], o: &'w [f32]) -> Result<Self, WeightsError> {
        let () = Heads::<D, QH, KVH, HD>::CHECK;
        let q = match heads::<D, HD, QH>(q) {
            Ok(q) => q,
            Err(found) => return Err(error(Tensor::QueryWeight, QH * HD * D, found)),
        };
        let k = match heads::<D, HD, KVH>(k) {
            Ok(k) => k,
            Err(found) => return Err(error(Tensor::KeyWeight, KVH * HD * D, found)),
        };
        let v = match heads::<D, HD, KVH>(v) {
            Ok(v) => v,
            Err(found) => return Err(error(Tensor::ValueWeight, KVH * HD * D, found)),
        };
        let o = match heads::<D, D, 1>(o) {
            Ok([o]) => o,
            Err(found) => return Err(error(Tensor::OutputWeight, D * D, found)),
        };
        Ok(Self { q, k, v, o, q_bias: None, k_bias: None, v_bias: None, o_bias: None })
    }

    /// Adds the four biases (lengths `QH·HD`, `KVH·HD`, `KVH·HD`, `D`), as a
    /// BERT/MiniLM encoder layer has them.
    ///
    /// ```
    /// let (w, b) = ([0.1f32; 16], [0.5f32; 4]);
    /// let layer = sdpa::layer::Weights::<4, 2, 2, 2>::new(&w, &w, &w, &w)
    ///     .and_then(|l| l.with_biases(&b, &b, &b, &b))
    ///     .unwrap();
    /// assert!(layer.has_biases());
    /// ```
    pub const fn with_biases(
        mut self,
        q: &'w [f32],
        k: &'w [f32],
        v: &'w [f32],
        o: &'w [f32],
    ) -> Result<Self, WeightsError> {
        self.q_bias = match heads::<HD, QH, 1>(q) {
            Ok([b]) => Some(b),
            Err(found) => return Err(error(Tensor::QueryBias, QH * HD, found)),
        };
        self.k_bias = match heads::<HD, KVH, 1>(k) {
            Ok([b]) => Some(b),
            Err(found) => return Err(error(Tensor::KeyBias, KVH * HD, found)),
        };
        self.v_bias = match heads::<HD, KVH, 1>(v) {
            Ok([b]) => Some(b),
            Err(found) => return Err(error(Tensor::ValueBias, KVH * HD, found)),
        };
        self.o_bias = match o.first_chunk::<D>() {
            Some(b) if o.len() == D => Some(b),
            _ => return Err(error(Tensor::OutputBias, D, o.len())),
        };
        Ok(self)
    }

    /// Borrows all tensors from one buffer holding them in state-dict order,
    /// `Wq, [bq], Wk, [bk], Wv, [bv], Wo, [bo]` (biases when `biases`), of
    /// exactly [`packed_len`](Self::packed_len) values. With
    /// [`f32s_from_le_bytes`] the buffer can be an `include_bytes!` file
    /// decoded at compile time into flash.
    ///
    /// ```
    /// use sdpa::layer::Weights;
    /// type W = Weights<'static, 4, 2, 1, 2>;
    /// static PACKED: [f32; W::packed_len(true)] = [0.125; W::packed_len(true)];
    /// static LAYER: W = match W::from_packed(&PACKED, true) {
    ///     Ok(w) => w,
    ///     Err(_) => panic!("wrong size"),
    /// };
    /// assert!(LAYER.has_biases());
    /// assert!(W::from_packed(&PACKED[1..], true).is_err());
    /// ```
    pub const fn from_packed(data: &'w [f32], biases: bool) -> Result<Self, WeightsError> {
        let expected = Self::packed_len(biases);
        if data.len() != expected {
            return Err(error(Tensor::Packed, expected, data.len()));
        }
        let (qd, kvd) = (D, KVH * HD);
        let (qb, kvb) = if biases { (qd, kvd) } else { (0, 0) };
        let (wq, rest) = split(data, D * D);
        let (bq, rest) = split(rest, qb);
        let (wk, rest) = split(rest, kvd * D);
        let (bk, rest) = split(rest, kvb);
        let (wv, rest) = split(rest, kvd * D);
        let (bv, rest) = split(rest, kvb);
        let (wo, bo) = split(rest, D * D);
        let weights = match Self::new(wq, wk, wv, wo) {
            Ok(w) => w,
            Err(e) => return Err(e),
        };
        if biases { weights.with_biases(bq, bk, bv, bo) } else { Ok(weights) }
    }

    /// Whether the layer has biases.
    ///
    /// ```
    /// let w = [0.0f32; 16];
    /// assert!(!sdpa::layer::Weights::<4, 2, 2, 2>::new(&w, &w, &w, &w).unwrap().has_biases());
    /// ```
    pub const fn has_biases(&self) -> bool {
        self.q_bias.is_some()
    }
}

/// Decodes `N` little-endian `f32` from `bytes` (for instance an
/// `include_bytes!` weight file written by numpy's `tofile` on a
/// little-endian machine); `None` unless `bytes.len() == 4·N`. `const`, so
/// a `static` initialized with it is decoded at compile time and sits in
/// flash.
///
/// ```
/// const BYTES: [u8; 8] = [0, 0, 128, 63, 0, 0, 0, 192]; // 1.0, -2.0
/// static VALUES: [f32; 2] = match sdpa::layer::f32s_from_le_bytes(&BYTES) {
///     Some(v) => v,
///     None => panic!("the file has the wrong size"),
/// };
/// assert_eq!(VALUES, [1.0, -2.0]);
/// ```
pub const fn f32s_from_le_bytes<const N: usize>(bytes: &[u8]) -> Option<[f32; N]> {
    let (words, rest) = bytes.as_chunks::<4>();
    if !rest.is_empty() || words.len() != N {
        return None;
    }
    let mut out = [0.0; N];
    let mut i = 0;
    while i < N {
        out[i] = f32::from_le_bytes(words[i]);
        i += 1;
    }
    Some(out)
}

/// Views a flat row-major slice as `H` blocks of `R` rows of `C` values;
/// `Err(len)` unless its length is exactly `H·R·C`.
const fn heads<const C: usize, const R: usize, const H: usize>(xs: &[f32]) -> Result<&[[[f32; C]; R]; H], usize> {
    let (rows, rest) = xs.as_chunks::<C>();
    let (blocks, rest_rows) = rows.as_chunks::<R>();
    match blocks.first_chunk::<H>() {
        Some(b) if rest.is_empty() && rest_rows.is_empty() && blocks.len() == H => Ok(b),
        _ => Err(xs.len()),
    }
}

/// The first `n` values and the rest (the caller checked the total length).
const fn split(xs: &[f32], n: usize) -> (&[f32], &[f32]) {
    match xs.split_at_checked(n) {
        Some(parts) => parts,
        None => (xs, &[]),
    }
}

const fn error(tensor: Tensor, expected: usize, found: usize) -> WeightsError {
    WeightsError { tensor, expected, found }
}
