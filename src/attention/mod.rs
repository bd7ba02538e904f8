//! Fused scaled dot-product attention with shapes in the types.
//!
//! `out = softmax(Q·Kᵀ·scale + bias)·V` for `Q: NQ × D`, `K: NK × D`,
//! `V: NK × DV`. Queries stream over tiles of keys with an online softmax;
//! no `NQ × NK` score matrix exists and the stack use does not grow with
//! `NK`. Three engines, chosen by `choose` from the problem alone (never by
//! the row range): `tiny` (const NK, D, DV ≤ 16, nothing masked), `tiled`
//! (SIMD backends: a block of queries per vector, GEMM register tiles, masks
//! by key range only) and `rows` (everything else, and all of the portable
//! backend).

pub(crate) mod choose;
mod lanes;
mod logits;
mod problem;
mod rows;
mod tiled;
mod tiny;
mod weights;

pub(crate) use problem::{OutRows, Problem, Rows};
pub(crate) use tiny::{ConstDims, RuntimeDims};

use crate::Matrix;
use crate::options::{Bias, Mask, RuntimeOptions};
use crate::simd::dispatch;

/// Options for [`attention`], typed by the shape so a mask of the wrong size
/// does not compile: a thin layer over [`RuntimeOptions`](crate::runtime::RuntimeOptions)
/// that adds only the typed mask and bias setters ([`Settings`](crate::Settings)
/// documents the rest).
///
/// Masking rules, all combinable: the causal mask and the window limit the
/// keys each query may see (keys outside are never read); a boolean mask
/// (`true` = attend) and an additive bias of `−∞` mask single keys (never
/// read either); finite bias entries and ALiBi are added to the scaled score.
/// A query left with no visible key gets an all-zero output row.
///
/// ```
/// use sdpa::{Matrix, Options, attention};
/// let q = Matrix::<2, 4>::from_fn(|r, c| (r + c) as f32 * 0.1);
/// let k = Matrix::<3, 4>::from_fn(|r, c| (r * c) as f32 * 0.1);
/// let v = Matrix::<3, 2>::from_fn(|r, c| (r + 2 * c) as f32);
/// let keep = [true, true, false]; // key padding: the last key is padding
/// let mut out = Matrix::zeros();
/// attention(&q, &k, &v, &mut out, &Options::new().causal().key_mask(&keep));
/// assert_eq!(out.rows()[0], v.rows()[0]); // query 0 sees key 0 only
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Options<'a, const NQ: usize, const NK: usize> {
    inner: RuntimeOptions<'a>,
}

impl<'a, const NQ: usize, const NK: usize> Options<'a, NQ, NK> {
    /// No mask, no bias, scale `1/√D`.
    pub const fn new() -> Self {
        Self { inner: RuntimeOptions::new() }
    }

    crate::options::settings_builder!(inner.settings);

    /// The same options for the runtime-shape API: what every call lowers to.
    ///
    /// ```
    /// use sdpa::{Matrix, Options, attention, runtime};
    /// let q = Matrix::<2, 2>::from_fn(|r, c| (r + c) as f32);
    /// let v = Matrix::<2, 3>::from_fn(|r, c| (r * 3 + c) as f32);
    /// let keep = [true, false];
    /// let o = Options::new().causal().key_mask(&keep);
    /// let mut out = Matrix::zeros();
    /// attention(&q, &q, &v, &mut out, &o);
    /// let shape = runtime::Shape { queries: 2, keys: 2, head_dim: 2, value_dim: 3 };
    /// let mut flat = [0.0; 6];
    /// runtime::attention(shape, q.as_slice(), q.as_slice(), v.as_slice(), &mut flat, &o.to_runtime()).unwrap();
    /// assert_eq!(flat, out.as_slice()); // the same bits
    /// ```
    pub const fn to_runtime(self) -> RuntimeOptions<'a> {
        self.inner
    }

    /// Boolean mask, `mask[i][j] == true` lets query `i` attend key `j`.
    /// Replaces any earlier [`key_mask`](Self::key_mask).
    ///
    /// ```
    /// use sdpa::{Matrix, Options, attention};
    /// let (q, k) = (Matrix::<2, 1>::zeros(), Matrix::<2, 1>::zeros());
    /// let v = Matrix::from_rows([[2.0], [f32::NAN]]);
    /// let mask = [[true, false], [false, false]]; // query 1 sees nothing
    /// let mut out = Matrix::zeros();
    /// attention(&q, &k, &v, &mut out, &Options::new().mask(&mask));
    /// assert_eq!(*out.rows(), [[2.0], [0.0]]); // NaN never read; a fully masked row is 0
    /// ```
    pub const fn mask(mut self, mask: &'a [[bool; NK]; NQ]) -> Self {
        self.inner = self.inner.mask(Mask::PerQuery(mask.as_flattened()));
        self
    }

    /// Key padding mask shared by every query: `keep[j] == false` masks key `j`
    /// for all queries. Replaces any earlier [`mask`](Self::mask).
    ///
    /// ```
    /// use sdpa::{Matrix, Options, attention};
    /// let (q, k) = (Matrix::<2, 1>::zeros(), Matrix::<3, 1>::zeros());
    /// let v = Matrix::from_rows([[2.0], [4.0], [f32::NAN]]);
    /// let keep = [true, true, false];
    /// let mut out = Matrix::zeros();
    /// attention(&q, &k, &v, &mut out, &Options::new().key_mask(&keep));
    /// assert_eq!(*out.rows(), [[3.0], [3.0]]);
    /// ```
    pub const fn key_mask(mut self, keep: &'a [bool; NK]) -> Self {
        self.inner = self.inner.mask(Mask::PerKey(keep));
        self
    }

    /// Additive mask added to the scaled scores (PyTorch's float `attn_mask`);
    /// `−∞` entries mask their key. Replaces any earlier [`key_bias`](Self::key_bias).
    ///
    /// ```
    /// use sdpa::{Matrix, Options, attention};
    /// let (q, k) = (Matrix::<2, 1>::zeros(), Matrix::<2, 1>::zeros());
    /// let v = Matrix::from_rows([[1.0], [0.0]]);
    /// let bias = Matrix::from_rows([[0.0, f32::NEG_INFINITY], [0.0, 2.0f32.ln()]]);
    /// let mut out = Matrix::zeros();
    /// attention(&q, &k, &v, &mut out, &Options::new().bias(&bias));
    /// assert_eq!(out.rows()[0], [1.0]); // key 1 masked
    /// assert!((out.rows()[1][0] - 1.0 / 3.0).abs() < 1e-6); // weights 1 : 2
    /// ```
    pub const fn bias(mut self, bias: &'a Matrix<NQ, NK>) -> Self {
        self.inner = self.inner.bias(Bias::PerQuery(bias.as_slice()));
        self
    }

    /// Additive mask shared by every query (one entry per key). Replaces any
    /// earlier [`bias`](Self::bias).
    ///
    /// ```
    /// use sdpa::{Matrix, Options, attention};
    /// let (q, k) = (Matrix::<2, 1>::zeros(), Matrix::<3, 1>::zeros());
    /// let v = Matrix::from_rows([[1.0], [0.0], [f32::NAN]]);
    /// let bias = [0.0, 3.0f32.ln(), f32::NEG_INFINITY];
    /// let mut out = Matrix::zeros();
    /// attention(&q, &k, &v, &mut out, &Options::new().key_bias(&bias));
    /// assert!(out.as_slice().iter().all(|x| (x - 0.25).abs() < 1e-6)); // weights 1 : 3 : 0
    /// ```
    pub const fn key_bias(mut self, bias: &'a [f32; NK]) -> Self {
        self.inner = self.inner.bias(Bias::PerKey(bias));
        self
    }
}

/// Compile-time shape checks shared by the entry points.
struct Dims<const NQ: usize, const NK: usize, const D: usize, const DV: usize>;

impl<const NQ: usize, const NK: usize, const D: usize, const DV: usize> Dims<NQ, NK, D, DV> {
    const NON_ZERO: () = assert!(NQ > 0 && NK > 0 && D > 0 && DV > 0, "sdpa: NQ, NK, D and DV must all be non-zero");

    fn problem<'a>(
        q: &'a [[f32; D]; NQ],
        k: &'a [[f32; D]; NK],
        v: &'a [[f32; DV]; NK],
        options: &Options<'a, NQ, NK>,
    ) -> Problem<'a> {
        let () = Self::NON_ZERO;
        let o = options.inner;
        Problem {
            nq: NQ,
            nk: NK,
            d: D,
            dv: DV,
            q: Rows::contiguous(q.as_flattened(), D),
            k: Rows::contiguous(k.as_flattened(), D),
            v: Rows::contiguous(v.as_flattened(), DV),
            settings: o.settings,
            mask: o.mask,
            bias: o.bias,
        }
    }
}

/// Fused attention: `out = softmax(Q·Kᵀ·scale + bias)·V`.
///
/// Q, K, V and out are borrowed as row-major `[[f32; C]; R]` arrays, read
/// and written in place: a `&Matrix` coerces to one, and so does anything
/// that dereferences to a `Matrix` (a `Box<Matrix>`). No alignment beyond
/// `f32`'s is needed (see [`Matrix`]).
///
/// Streams the keys past the queries in blocks with an online softmax (on
/// SIMD backends, unmasked problems run a block of queries per vector, one
/// per lane); no score matrix, constant stack whatever `NK`. Where a score
/// overflows depends on the engine (`q·k` then scale, or `q·scale·log₂e`
/// first: see the non-finite rules in docs/SEMANTICS.md). Non-finite behaviour: a query
/// with no visible key (fully masked) gets an all-zero row; masked keys' K
/// and V rows are never read, so NaN there cannot leak; NaN in an unmasked
/// input, or a score of `+∞`, makes the rows it reaches NaN and touches no
/// other row; a score of `−∞` (an infinite input meeting entries of the
/// opposite sign, or overflow) weighs 0 like a masked key; `±∞` in V carries
/// into its output column. The output is finite whenever every `|v| ≤
/// f32::MAX / (2·NK)`: the accumulator holds unnormalised weights (each at
/// most 1) times values until the final division.
///
/// ```
/// use sdpa::{Matrix, Options, attention};
/// let q = Matrix::from_rows([[1.0, 0.0]]);
/// let k = Matrix::from_rows([[1.0, 0.0], [-1.0, 0.0]]);
/// let v = Matrix::from_rows([[1.0], [0.0]]);
/// let mut out = Matrix::zeros();
/// attention(&q, &k, &v, &mut out, &Options::new().scale(1.0));
/// let e = 1.0f32.exp();
/// let want = e / (e + 1.0 / e);
/// assert!((out.rows()[0][0] - want).abs() < 1e-6);
///
/// // The same data as plain arrays, borrowed without a copy: the same bits.
/// let (qa, ka, va) = ([[1.0, 0.0]], [[1.0, 0.0], [-1.0, 0.0]], [[1.0], [0.0]]);
/// let mut out_a = [[0.0f32; 1]; 1];
/// attention(&qa, &ka, &va, &mut out_a, &Options::new().scale(1.0));
/// assert_eq!(out_a, *out.rows());
/// ```
///
/// Shapes that do not agree are a compile error:
///
/// ```compile_fail
/// use sdpa::{Matrix, Options, attention};
/// let (q, k) = (Matrix::<3, 4>::zeros(), Matrix::<5, 3>::zeros()); // D differs
/// let v = Matrix::<5, 6>::zeros();
/// let mut out = Matrix::<3, 6>::zeros();
/// attention(&q, &k, &v, &mut out, &Options::new());
/// ```
pub fn attention<const NQ: usize, const NK: usize, const D: usize, const DV: usize>(
    q: &[[f32; D]; NQ],
    k: &[[f32; D]; NK],
    v: &[[f32; DV]; NK],
    out: &mut [[f32; DV]; NQ],
    options: &Options<'_, NQ, NK>,
) {
    let problem = Dims::problem(q, k, v, options);
    let out = OutRows::contiguous(out.as_flattened_mut(), DV);
    dispatch!(|s| choose::attend_rows(s, ConstDims::<NK, D, DV>, &problem, 0, out))
}

/// Rows `first_row .. first_row + out_rows.len()` of [`attention`]'s output,
/// for splitting the work across cores or RTOS tasks. Returns how many rows
/// were written: rows past `NQ` are left untouched.
///
/// ```
/// use sdpa::{Matrix, Options, attention, attention_rows};
/// let q = Matrix::<4, 8>::from_fn(|r, c| (r * 8 + c) as f32 * 0.01);
/// let (k, v) = (q, q);
/// let mut whole = Matrix::zeros();
/// attention(&q, &k, &v, &mut whole, &Options::new());
/// let mut out = Matrix::<4, 8>::zeros();
/// let (top, bottom) = out.rows_mut().split_at_mut(2);
/// assert_eq!(attention_rows(&q, &k, &v, 0, top, &Options::new()), 2);
/// assert_eq!(attention_rows(&q, &k, &v, 2, bottom, &Options::new()), 2);
/// assert_eq!(out, whole);
/// ```
pub fn attention_rows<const NQ: usize, const NK: usize, const D: usize, const DV: usize>(
    q: &[[f32; D]; NQ],
    k: &[[f32; D]; NK],
    v: &[[f32; DV]; NK],
    first_row: usize,
    out_rows: &mut [[f32; DV]],
    options: &Options<'_, NQ, NK>,
) -> usize {
    let problem = Dims::problem(q, k, v, options);
    let rows = out_rows.len().min(NQ.saturating_sub(first_row));
    let out = OutRows::contiguous(out_rows.get_mut(..rows).unwrap_or_default().as_flattened_mut(), DV);
    dispatch!(|s| choose::attend_rows(s, ConstDims::<NK, D, DV>, &problem, first_row, out));
    rows
}

/// [`attention`] that also writes the softmax weights (`NQ × NK`, each row
/// summing to 1, masked entries exactly 0, fully masked rows all 0), using
/// the exact three-pass softmax. Needs the weight matrix, so it is for
/// inspection and teaching rather than long sequences.
///
/// ```
/// use sdpa::{Matrix, Options, attention_weights};
/// let q = Matrix::from_rows([[0.0, 0.0]]);
/// let k = Matrix::from_rows([[1.0, 2.0], [3.0, 4.0]]);
/// let v = Matrix::from_rows([[2.0], [4.0]]);
/// let (mut out, mut w) = (Matrix::zeros(), Matrix::zeros());
/// attention_weights(&q, &k, &v, &mut out, &mut w, &Options::new());
/// assert_eq!(w.rows()[0], [0.5, 0.5]);
/// assert_eq!(out.rows()[0], [3.0]);
/// ```
pub fn attention_weights<const NQ: usize, const NK: usize, const D: usize, const DV: usize>(
    q: &[[f32; D]; NQ],
    k: &[[f32; D]; NK],
    v: &[[f32; DV]; NK],
    out: &mut [[f32; DV]; NQ],
    weights: &mut [[f32; NK]; NQ],
    options: &Options<'_, NQ, NK>,
) {
    let problem = Dims::problem(q, k, v, options);
    let (out, weights) = (out.as_flattened_mut(), weights.as_flattened_mut());
    dispatch!(|s| weights::attend_with_weights(s, &problem, out, weights))
}

#[cfg(feature = "runtime-shapes")]
pub(crate) use weights::attend_with_weights;
