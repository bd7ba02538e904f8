//! The multi-head call with every size and stride known at run time: views
//! over slices, every stride and extent checked (overflow-checked), errors
//! as values, nothing written on an error.
//!
//! ```
//! use sdpa::multihead::runtime::{self, RuntimeHeadOptions, Shape, View, ViewMut};
//! use sdpa::multihead::{Error, Operand, Strides, ViewError};
//!
//! // One sequence of 4 tokens, 2 heads of dim 3, in [tokens, heads, dim]
//! // (BSHD) layout, as a projection gives it; self-attention on Q = K = V.
//! let shape = Shape { batch: 1, q_heads: 2, kv_heads: 2, queries: 4, keys: 4, head_dim: 3, value_dim: 3 };
//! let x: Vec<f32> = (0..24).map(|i| (i as f32 * 0.7).sin()).collect();
//! let bshd = Strides::bshd(4, 2, 3);
//! let mut out = vec![0.0; 24];
//! let view = View::new(&x, bshd);
//! runtime::attention(shape, view, view, view, ViewMut::new(&mut out, bshd), &RuntimeHeadOptions::new().causal()).unwrap();
//! assert_eq!(out[..3], x[..3]); // the first token (head 0) sees only itself
//!
//! // A view that needs more data than its slice holds is refused, and nothing is written.
//! let short = View::new(&x[..23], bshd);
//! let mut untouched = vec![7.0; 24];
//! let r = runtime::attention(shape, short, view, view, ViewMut::new(&mut untouched, bshd), &RuntimeHeadOptions::new());
//! assert_eq!(r, Err(Error::View(Operand::Query, ViewError::OutOfBounds)));
//! assert!(untouched.iter().all(|&x| x == 7.0));
//! ```

use super::check::{self, Extents};
use super::lower::{self, Call};
use super::{Broadcast, Error, Operand, Strides};
use crate::KvElement;
use crate::Settings;
use crate::attention::{RuntimeDims, choose};
use crate::options::{Bias, Mask};
use crate::simd::dispatch;

/// The sizes of a multi-head call: Q is `batch × q_heads × queries ×
/// head_dim`, K is `batch × kv_heads × keys × head_dim`, V is `batch ×
/// kv_heads × keys × value_dim`, the output `batch × q_heads × queries ×
/// value_dim`, each laid out as its [`Strides`] say.
///
/// ```
/// let s = sdpa::multihead::runtime::Shape { batch: 2, q_heads: 8, kv_heads: 2, queries: 1, keys: 64, head_dim: 32, value_dim: 32 };
/// assert_eq!(s.q_heads / s.kv_heads, 4); // four query heads per kv head
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    /// Batch entries (`B`).
    pub batch: usize,
    /// Query heads (`H`), also the output's heads.
    pub q_heads: usize,
    /// Key/value heads (`KVH`), dividing `q_heads`: query head `h` reads kv
    /// head `h / (q_heads / kv_heads)`.
    pub kv_heads: usize,
    /// Queries per head (`NQ`), the output's rows per head.
    pub queries: usize,
    /// Keys and values per kv head (`NK`).
    pub keys: usize,
    /// Entries of a query or key row (`D`).
    pub head_dim: usize,
    /// Entries of a value or output row (`DV`).
    pub value_dim: usize,
}

/// An input tensor: a slice and the element strides of its four axes
/// (batch, head, token, dim). The extents come from the [`Shape`]. `T` is
/// the element type: `f32` for queries, `f32`, [`F16`](crate::F16) or
/// [`Bf16`](crate::Bf16) for keys and values.
///
/// ```
/// use sdpa::multihead::{Strides, runtime::View};
/// let data = [0.0f32; 2 * 3 * 4];
/// let v = View::new(&data, Strides::bhsd(2, 3, 4)); // 2 heads of 3 rows of 4
/// # let _ = v;
/// ```
#[derive(Debug)]
pub struct View<'a, T = f32> {
    pub(crate) data: &'a [T],
    pub(crate) strides: Strides,
}

impl<T> Clone for View<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for View<'_, T> {}

impl<'a, T> View<'a, T> {
    /// A view of `data` with `strides`; checked by the call that uses it.
    ///
    /// ```
    /// use sdpa::multihead::{Strides, runtime::View};
    /// let qkv = [0.0f32; 4 * 3 * 2 * 8]; // [tokens 4, (q, k, v), heads 2, dim 8]
    /// let fused = Strides { batch: 0, head: 8, token: 3 * 2 * 8, dim: 1 };
    /// let (q, k, v) = (View::new(&qkv, fused), View::new(&qkv[16..], fused), View::new(&qkv[32..], fused));
    /// # let _ = (q, k, v);
    /// ```
    pub const fn new(data: &'a [T], strides: Strides) -> Self {
        View { data, strides }
    }
}

/// The output tensor: a mutable slice and its strides. Only the elements
/// of the view's rows are written; everything else in the slice (padding,
/// other heads' or tensors' data) is left as it is.
///
/// ```
/// use sdpa::multihead::{Strides, runtime::ViewMut};
/// let mut out = [0.0f32; 2 * 3 * 4];
/// let o = ViewMut::new(&mut out, Strides::bshd(3, 2, 4)); // 3 tokens × 2 heads × 4
/// # let _ = o;
/// ```
#[derive(Debug)]
pub struct ViewMut<'a> {
    pub(crate) data: &'a mut [f32],
    pub(crate) strides: Strides,
}

impl<'a> ViewMut<'a> {
    /// A view of `data` with `strides`; checked by the call that uses it.
    ///
    /// ```
    /// use sdpa::multihead::{Strides, runtime::ViewMut};
    /// let mut out = [0.0f32; 8];
    /// let o = ViewMut::new(&mut out, Strides::bhsd(1, 2, 4));
    /// # let _ = o;
    /// ```
    pub const fn new(data: &'a mut [f32], strides: Strides) -> Self {
        ViewMut { data, strides }
    }
}

/// Options of a multi-head call: the single-head [`Settings`] for every
/// head, a mask and a bias with the [`Broadcast`] of their blocks, and
/// optionally one ALiBi slope per query head.
///
/// ```
/// use sdpa::multihead::{Broadcast, runtime::RuntimeHeadOptions};
/// use sdpa::runtime::Mask;
/// let keep = [true, true, false, true, false, false]; // 2 batch entries × 3 keys
/// let o = RuntimeHeadOptions::new().causal().mask(Mask::PerKey(&keep), Broadcast::PerBatch);
/// assert!(o.settings().causal);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RuntimeHeadOptions<'a> {
    pub(crate) settings: Settings,
    pub(crate) mask: Option<(Mask<'a>, Broadcast)>,
    pub(crate) bias: Option<(Bias<'a>, Broadcast)>,
    pub(crate) slopes: Option<&'a [f32]>,
}

impl<'a> RuntimeHeadOptions<'a> {
    /// No mask, no bias, scale `1/√head_dim`, no ALiBi.
    ///
    /// ```
    /// use sdpa::multihead::runtime::RuntimeHeadOptions;
    /// assert_eq!(RuntimeHeadOptions::new(), RuntimeHeadOptions::default());
    /// ```
    pub const fn new() -> Self {
        RuntimeHeadOptions { settings: Settings::new(), mask: None, bias: None, slopes: None }
    }

    crate::options::settings_builder!(settings);

    /// ALiBi with slope `slopes[h]` in query head `h` (one per query head,
    /// else [`Error::SlopesLength`]); replaces the settings' single slope.
    /// [`sdpa::layer::alibi_slopes`](crate::layer::alibi_slopes) gives the paper's.
    ///
    /// ```
    /// use sdpa::multihead::runtime::RuntimeHeadOptions;
    /// const SLOPES: [f32; 4] = sdpa::layer::alibi_slopes::<4>();
    /// let o = RuntimeHeadOptions::new().alibi_slopes(&SLOPES);
    /// # let _ = o;
    /// ```
    pub const fn alibi_slopes(mut self, slopes: &'a [f32]) -> Self {
        self.slopes = Some(slopes);
        self
    }

    /// Boolean mask, `true` = attend: blocks of `queries × keys`
    /// ([`Mask::PerQuery`]) or `keys` ([`Mask::PerKey`]) entries, one per
    /// batch entry and/or head as `spread` says. Replaces any earlier mask.
    ///
    /// ```
    /// use sdpa::multihead::{Broadcast, runtime::RuntimeHeadOptions};
    /// use sdpa::runtime::Mask;
    /// let causal_2x2 = [true, false, true, true]; // one 2 × 2 block for every head
    /// let o = RuntimeHeadOptions::new().mask(Mask::PerQuery(&causal_2x2), Broadcast::Shared);
    /// # let _ = o;
    /// ```
    pub const fn mask(mut self, mask: Mask<'a>, spread: Broadcast) -> Self {
        self.mask = Some((mask, spread));
        self
    }

    /// Additive mask added to the scaled scores, in blocks as for
    /// [`mask`](Self::mask); `−∞` masks its key. Replaces any earlier bias.
    ///
    /// ```
    /// use sdpa::multihead::{Broadcast, runtime::RuntimeHeadOptions};
    /// use sdpa::runtime::Bias;
    /// let per_head = [0.0, -1.0, 0.0, f32::NEG_INFINITY]; // 2 heads × 2 keys
    /// let o = RuntimeHeadOptions::new().bias(Bias::PerKey(&per_head), Broadcast::PerHead);
    /// # let _ = o;
    /// ```
    pub const fn bias(mut self, bias: Bias<'a>, spread: Broadcast) -> Self {
        self.bias = Some((bias, spread));
        self
    }
}

/// Multi-head attention over strided views: for every batch entry `b` and
/// query head `h`, `out[b, h] = attention(q[b, h], k[b, g], v[b, g])` with
/// `g = h / (q_heads / kv_heads)`; each (b, h) gives the same bits as
/// [`crate::runtime::attention`] on that head's rows.
///
/// Checks, in this order, before anything is written: no size is zero,
/// `kv_heads` divides `q_heads`, each view (query, key, value, output)
/// follows the [rules for views](super#rules-for-views) with its extents
/// from `shape`, the mask and bias hold the blocks their [`Broadcast`]
/// asks for, the slopes are one per query head.
///
/// K and V are stored as `E`: `f32`, [`F16`](crate::F16) or
/// [`Bf16`](crate::Bf16) (widened to `f32` in registers; Q, the arithmetic
/// and the output stay `f32`). 16-bit K/V run on the row engine and give
/// the bits of the `f32` call on their widened values there; the error
/// bound with the rounding is at [`KvElement`].
///
/// ```
/// use sdpa::multihead::runtime::{self, RuntimeHeadOptions, Shape, View, ViewMut};
/// use sdpa::multihead::{Error, Strides};
///
/// // MQA: 3 query heads share one kv head; batch 2; PyTorch's BHSD layout.
/// let shape = Shape { batch: 2, q_heads: 3, kv_heads: 1, queries: 2, keys: 3, head_dim: 2, value_dim: 1 };
/// let q = [0.5f32; 2 * 3 * 2 * 2];
/// let k = [0.0f32; 2 * 3 * 2]; // all scores equal: each output is the mean of the values
/// let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // batch 0: 1, 2, 3; batch 1: 4, 5, 6
/// let mut out = [0.0f32; 2 * 3 * 2];
/// let (qs, kvs, os) = (Strides::bhsd(3, 2, 2), Strides::bhsd(1, 3, 2), Strides::bhsd(3, 2, 1));
/// let (kv, vs) = (View::new(&k, kvs), View::new(&v, Strides::bhsd(1, 3, 1)));
/// runtime::attention(shape, View::new(&q, qs), kv, vs, ViewMut::new(&mut out, os), &RuntimeHeadOptions::new()).unwrap();
/// assert_eq!(out, [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0]);
///
/// let gqa_3_2 = Shape { kv_heads: 2, ..shape };
/// let r = runtime::attention(gqa_3_2, View::new(&q, qs), kv, vs, ViewMut::new(&mut out, os), &RuntimeHeadOptions::new());
/// assert_eq!(r, Err(Error::HeadGroups));
///
/// // The same call with K and V in binary16 (exact here: 0 and small integers).
/// let (k16, v16) = (k.map(sdpa::F16::from_f32), v.map(sdpa::F16::from_f32));
/// let (kv, vs) = (View::new(&k16, kvs), View::new(&v16, Strides::bhsd(1, 3, 1)));
/// runtime::attention(shape, View::new(&q, qs), kv, vs, ViewMut::new(&mut out, os), &RuntimeHeadOptions::new()).unwrap();
/// assert_eq!(out, [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0]);
/// ```
pub fn attention<E: KvElement>(
    shape: Shape,
    q: View<'_>,
    k: View<'_, E>,
    v: View<'_, E>,
    out: ViewMut<'_>,
    options: &RuntimeHeadOptions<'_>,
) -> Result<(), Error> {
    validate(shape, &q, &k, &v, &out, options)?;
    let call = Call { shape, q, k, v, out, options: *options };
    dispatch!(|s| lower::each_head(
        call,
        #[inline(always)]
        |problem, rows| choose::attend_rows(s, RuntimeDims, problem, 0, rows)
    ));
    Ok(())
}

/// Every check of [`attention`], in its documented order.
fn validate<E>(
    shape: Shape,
    q: &View<'_>,
    k: &View<'_, E>,
    v: &View<'_, E>,
    out: &ViewMut<'_>,
    options: &RuntimeHeadOptions<'_>,
) -> Result<(), Error> {
    let Shape { batch, q_heads, kv_heads, queries, keys, head_dim, value_dim } = shape;
    if [batch, q_heads, kv_heads, queries, keys, head_dim, value_dim].contains(&0) {
        return Err(Error::ZeroDimension);
    }
    if !q_heads.is_multiple_of(kv_heads) {
        return Err(Error::HeadGroups);
    }
    let extents = |heads, tokens, width| Extents { batch, heads, tokens, width };
    let tag = |operand| move |e| Error::View(operand, e);
    check::input(extents(q_heads, queries, head_dim), q.strides, q.data.len()).map_err(tag(Operand::Query))?;
    check::input(extents(kv_heads, keys, head_dim), k.strides, k.data.len()).map_err(tag(Operand::Key))?;
    check::input(extents(kv_heads, keys, value_dim), v.strides, v.data.len()).map_err(tag(Operand::Value))?;
    check::output(extents(q_heads, queries, value_dim), out.strides, out.data.len()).map_err(tag(Operand::Output))?;
    let blocks = |spread: Broadcast| spread.blocks(batch, q_heads);
    if options.mask.is_some_and(|(m, spread)| !m.fits(queries, keys, blocks(spread))) {
        return Err(Error::MaskLength);
    }
    if options.bias.is_some_and(|(b, spread)| !b.fits(queries, keys, blocks(spread))) {
        return Err(Error::BiasLength);
    }
    if options.slopes.is_some_and(|s| s.len() != q_heads) {
        return Err(Error::SlopesLength);
    }
    Ok(())
}
