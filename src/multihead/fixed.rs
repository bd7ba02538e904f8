//! The const-generic multi-head call: sizes are const parameters of the
//! views and options, so shapes that disagree do not compile.

use super::check::{self, Extents};
use super::lower::{self, Call};
use super::runtime::{self, Shape, View, ViewMut};
use super::{Broadcast, Strides, ViewError};
use crate::KvElement;
use crate::attention::{ConstDims, choose};
use crate::options::{Bias, Mask};
use crate::simd::dispatch;

/// `B` batch entries of `H` heads of `N` rows of `D` elements of type `T`,
/// read in place from a slice: the const-generic input view.
///
/// Made from a nested array in BHSD or BSHD order (infallible, no copy), or
/// from a slice and [`Strides`] (checked once, here).
///
/// ```
/// use sdpa::multihead::{Heads, Strides};
/// let bhsd = [[[[1.0f32; 4]; 3]; 2]; 1]; // [batch 1][heads 2][tokens 3][dim 4]
/// let a = Heads::bhsd(&bhsd);
/// let b = Heads::<1, 2, 3, 4>::strided(bhsd.as_flattened().as_flattened().as_flattened(), Strides::bhsd(2, 3, 4)).unwrap();
/// assert_eq!(a.strides(), b.strides());
/// ```
#[derive(Debug)]
pub struct Heads<'a, const B: usize, const H: usize, const N: usize, const D: usize, T = f32> {
    data: &'a [T],
    strides: Strides,
}

impl<const B: usize, const H: usize, const N: usize, const D: usize, T> Clone for Heads<'_, B, H, N, D, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<const B: usize, const H: usize, const N: usize, const D: usize, T> Copy for Heads<'_, B, H, N, D, T> {}

const fn extents(b: usize, h: usize, n: usize, d: usize) -> Extents {
    Extents { batch: b, heads: h, tokens: n, width: d }
}

impl<'a, const B: usize, const H: usize, const N: usize, const D: usize, T> Heads<'a, B, H, N, D, T> {
    /// `[batch][head][token][dim]`: PyTorch's layout.
    ///
    /// ```
    /// let q = [[[[0.0f32; 8]; 16]; 4]; 2]; // B 2, H 4, N 16, D 8
    /// let view = sdpa::multihead::Heads::bhsd(&q);
    /// assert_eq!(view.strides(), sdpa::multihead::Strides::bhsd(4, 16, 8));
    /// ```
    pub const fn bhsd(tensor: &'a [[[[T; D]; N]; H]; B]) -> Self {
        Heads { data: tensor.as_flattened().as_flattened().as_flattened(), strides: Strides::bhsd(H, N, D) }
    }

    /// `[batch][token][head][dim]`: a projection's output split into heads.
    /// For a single sequence, `core::array::from_ref(&x)` makes the batch axis.
    ///
    /// ```
    /// let x = [[[0.0f32; 8]; 4]; 16]; // [tokens 16][heads 4][dim 8]
    /// let view = sdpa::multihead::Heads::bshd(core::array::from_ref(&x));
    /// assert_eq!(view.strides(), sdpa::multihead::Strides::bshd(16, 4, 8));
    /// ```
    pub const fn bshd(tensor: &'a [[[[T; D]; H]; N]; B]) -> Self {
        Heads { data: tensor.as_flattened().as_flattened().as_flattened(), strides: Strides::bshd(N, H, D) }
    }

    /// Any layout: `data` with `strides`, checked against the
    /// [rules for views](super#rules-for-views).
    ///
    /// ```
    /// use sdpa::multihead::{Heads, Strides, ViewError};
    /// // Q of a fused QKV projection: [tokens 5][q, k, v][heads 2][dim 4].
    /// let qkv = [[[[0.5f32; 4]; 2]; 3]; 5];
    /// let flat = qkv.as_flattened().as_flattened().as_flattened();
    /// let fused = Strides { batch: 0, head: 4, token: 3 * 2 * 4, dim: 1 };
    /// let q = Heads::<1, 2, 5, 4>::strided(flat, fused).unwrap();
    /// let k = Heads::<1, 2, 5, 4>::strided(&flat[8..], fused).unwrap();
    /// let too_far = Heads::<1, 2, 5, 4>::strided(&flat[17..], fused);
    /// assert_eq!(too_far.unwrap_err(), ViewError::OutOfBounds);
    /// # let _ = (q, k);
    /// ```
    pub fn strided(data: &'a [T], strides: Strides) -> Result<Self, ViewError> {
        check::input(extents(B, H, N, D), strides, data.len())?;
        Ok(Heads { data, strides })
    }

    /// The view's strides.
    ///
    /// ```
    /// let k = [[[[0.0f32; 2]; 3]; 1]; 1];
    /// assert_eq!(sdpa::multihead::Heads::bhsd(&k).strides().token, 2);
    /// ```
    pub const fn strides(&self) -> Strides {
        self.strides
    }
}

/// `B` batch entries of `H` heads of `N` rows of `D` `f32`, written in
/// place: the const-generic output view. Only its rows are written.
///
/// ```
/// use sdpa::multihead::{HeadsMut, Strides, ViewError};
/// let mut out = [[[[0.0f32; 4]; 2]; 3]; 1]; // [batch][tokens 3][heads 2][dim 4]
/// assert_eq!(HeadsMut::bshd(&mut out).strides(), Strides::bshd(3, 2, 4));
/// // Heads that would write over one another are refused.
/// let flat = out.as_flattened_mut().as_flattened_mut().as_flattened_mut();
/// let overlapping = Strides { batch: 0, head: 2, token: 8, dim: 1 };
/// assert_eq!(HeadsMut::<1, 2, 3, 4>::strided(flat, overlapping).unwrap_err(), ViewError::Overlap);
/// ```
#[derive(Debug)]
pub struct HeadsMut<'a, const B: usize, const H: usize, const N: usize, const D: usize> {
    data: &'a mut [f32],
    strides: Strides,
}

impl<'a, const B: usize, const H: usize, const N: usize, const D: usize> HeadsMut<'a, B, H, N, D> {
    /// `[batch][head][token][dim]`: PyTorch's layout.
    ///
    /// ```
    /// let mut out = [[[[0.0f32; 8]; 16]; 4]; 2];
    /// let view = sdpa::multihead::HeadsMut::bhsd(&mut out);
    /// assert_eq!(view.strides().head, 16 * 8);
    /// ```
    pub const fn bhsd(tensor: &'a mut [[[[f32; D]; N]; H]; B]) -> Self {
        let data = tensor.as_flattened_mut().as_flattened_mut().as_flattened_mut();
        HeadsMut { data, strides: Strides::bhsd(H, N, D) }
    }

    /// `[batch][token][head][dim]`: what the output projection reads as
    /// `[tokens, heads·dim]`.
    ///
    /// ```
    /// let mut out = [[[[0.0f32; 8]; 4]; 16]; 1];
    /// let view = sdpa::multihead::HeadsMut::bshd(&mut out);
    /// assert_eq!(view.strides().token, 4 * 8);
    /// ```
    pub const fn bshd(tensor: &'a mut [[[[f32; D]; H]; N]; B]) -> Self {
        let data = tensor.as_flattened_mut().as_flattened_mut().as_flattened_mut();
        HeadsMut { data, strides: Strides::bshd(N, H, D) }
    }

    /// Any layout whose rows are disjoint: `data` with `strides`, checked
    /// against the [rules for views](super#rules-for-views).
    ///
    /// ```
    /// use sdpa::multihead::{HeadsMut, Strides};
    /// // [tokens 3][heads 2][dim 4] with 2 floats of padding after each token.
    /// let mut buffer = [f32::NAN; 3 * 10];
    /// let padded = Strides { batch: 0, head: 4, token: 10, dim: 1 };
    /// let out = HeadsMut::<1, 2, 3, 4>::strided(&mut buffer, padded).unwrap();
    /// # let _ = out;
    /// ```
    pub fn strided(data: &'a mut [f32], strides: Strides) -> Result<Self, ViewError> {
        check::output(extents(B, H, N, D), strides, data.len())?;
        Ok(HeadsMut { data, strides })
    }

    /// The view's strides.
    ///
    /// ```
    /// let mut out = [[[[0.0f32; 2]; 3]; 1]; 1];
    /// assert_eq!(sdpa::multihead::HeadsMut::bhsd(&mut out).strides().token, 2);
    /// ```
    pub const fn strides(&self) -> Strides {
        self.strides
    }
}

/// The eight setters of one kind of term, masks (`bool`, [`Mask`]) or
/// biases (`f32`, [`Bias`]), passed on to `runtime::RuntimeHeadOptions::$set`: one per
/// [`Broadcast`] and term variant, each labelled so, with its own name and
/// docs. `$q` names the `NQ × NK` matrices' argument, `$k` the key rows'.
macro_rules! term_setters {
    (
        $T:ty, $Term:ident, $set:ident, $q:ident, $k:ident;
        $(#[$shared:meta])* Shared PerQuery: $shared_name:ident,
        $(#[$shared_key:meta])* Shared PerKey: $shared_key_name:ident,
        $(#[$head:meta])* PerHead PerQuery: $head_name:ident,
        $(#[$head_key:meta])* PerHead PerKey: $head_key_name:ident,
        $(#[$batch:meta])* PerBatch PerQuery: $batch_name:ident,
        $(#[$batch_key:meta])* PerBatch PerKey: $batch_key_name:ident,
        $(#[$batch_head:meta])* PerBatchHead PerQuery: $batch_head_name:ident,
        $(#[$batch_head_key:meta])* PerBatchHead PerKey: $batch_head_key_name:ident,
    ) => {
        $(#[$shared])*
        pub const fn $shared_name(self, $q: &'a [[$T; NK]; NQ]) -> Self {
            HeadOptions { inner: self.inner.$set($Term::PerQuery($q.as_flattened()), Broadcast::Shared) }
        }

        $(#[$shared_key])*
        pub const fn $shared_key_name(self, $k: &'a [$T; NK]) -> Self {
            HeadOptions { inner: self.inner.$set($Term::PerKey($k), Broadcast::Shared) }
        }

        term_setters! {
            @one_per $T, $Term, $set, $q, $k, PerHead, H;
            $(#[$head])* $head_name, $(#[$head_key])* $head_key_name
        }
        term_setters! {
            @one_per $T, $Term, $set, $q, $k, PerBatch, B;
            $(#[$batch])* $batch_name, $(#[$batch_key])* $batch_key_name
        }

        $(#[$batch_head])*
        pub const fn $batch_head_name(self, $q: &'a [[[[$T; NK]; NQ]; H]; B]) -> Self {
            let flat = $q.as_flattened().as_flattened().as_flattened();
            HeadOptions { inner: self.inner.$set($Term::PerQuery(flat), Broadcast::PerBatchHead) }
        }

        $(#[$batch_head_key])*
        pub const fn $batch_head_key_name(self, $k: &'a [[[$T; NK]; H]; B]) -> Self {
            HeadOptions { inner: self.inner.$set($Term::PerKey($k.as_flattened().as_flattened()), Broadcast::PerBatchHead) }
        }
    };
    // The two setters of a broadcast with one term per index `0 .. $N`
    // (`PerHead`: per query head, `PerBatch`: per batch entry).
    (
        @one_per $T:ty, $Term:ident, $set:ident, $q:ident, $k:ident, $Broadcast:ident, $N:ident;
        $(#[$query:meta])* $query_name:ident, $(#[$key:meta])* $key_name:ident
    ) => {
        $(#[$query])*
        pub const fn $query_name(self, $q: &'a [[[$T; NK]; NQ]; $N]) -> Self {
            HeadOptions { inner: self.inner.$set($Term::PerQuery($q.as_flattened().as_flattened()), Broadcast::$Broadcast) }
        }

        $(#[$key])*
        pub const fn $key_name(self, $k: &'a [[$T; NK]; $N]) -> Self {
            HeadOptions { inner: self.inner.$set($Term::PerKey($k.as_flattened()), Broadcast::$Broadcast) }
        }
    };
}

/// Options of the const-generic multi-head call, typed by the batch `B`,
/// query heads `H`, queries `NQ` and keys `NK`, so masks, biases and slopes
/// of the wrong size do not compile.
///
/// Settings (scale, causal, alignment, window, one ALiBi slope) apply to
/// every head. A mask or bias is given for every (batch entry, head), per
/// head, per batch entry or per both, each as an `NQ × NK` matrix or one
/// row of `NK` shared by the queries; a later mask replaces an earlier one,
/// and so does a bias.
///
/// ```
/// use sdpa::multihead::HeadOptions;
/// let padding = [[true, true, false], [true, true, true]]; // batch 2, 3 keys
/// let o = HeadOptions::<2, 4, 3, 3>::new().causal().batch_key_mask(&padding);
/// assert!(o.settings().causal);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HeadOptions<'a, const B: usize, const H: usize, const NQ: usize, const NK: usize> {
    inner: runtime::RuntimeHeadOptions<'a>,
}

impl<'a, const B: usize, const H: usize, const NQ: usize, const NK: usize> HeadOptions<'a, B, H, NQ, NK> {
    /// No mask, no bias, scale `1/√D`.
    ///
    /// ```
    /// let o = sdpa::multihead::HeadOptions::<1, 2, 3, 4>::new();
    /// assert_eq!(o.settings(), sdpa::Settings::default());
    /// ```
    pub const fn new() -> Self {
        HeadOptions { inner: runtime::RuntimeHeadOptions::new() }
    }

    /// The same options for [`runtime::attention`].
    ///
    /// ```
    /// let o = sdpa::multihead::HeadOptions::<1, 2, 3, 4>::new().causal();
    /// assert!(o.to_runtime().settings().causal);
    /// ```
    pub const fn to_runtime(self) -> runtime::RuntimeHeadOptions<'a> {
        self.inner
    }

    crate::options::settings_builder!(inner.settings);

    /// ALiBi with slope `slopes[h]` in query head `h` (replaces a single slope).
    ///
    /// ```
    /// const SLOPES: [f32; 8] = sdpa::layer::alibi_slopes::<8>();
    /// let o = sdpa::multihead::HeadOptions::<1, 8, 4, 4>::new().causal().alibi_slopes(&SLOPES);
    /// # let _ = o;
    /// ```
    pub const fn alibi_slopes(self, slopes: &'a [f32; H]) -> Self {
        HeadOptions { inner: self.inner.alibi_slopes(slopes) }
    }

    term_setters! {
        bool, Mask, mask, mask, keep;
        /// Boolean mask (`true` = attend) for every batch entry and head.
        ///
        /// ```
        /// let mask = [[true, false], [true, true]];
        /// let o = sdpa::multihead::HeadOptions::<2, 4, 2, 2>::new().mask(&mask);
        /// # let _ = o;
        /// ```
        Shared PerQuery: mask,
        /// Key mask for every batch entry, head and query.
        ///
        /// ```
        /// let keep = [true, true, false];
        /// let o = sdpa::multihead::HeadOptions::<2, 4, 5, 3>::new().key_mask(&keep);
        /// # let _ = o;
        /// ```
        Shared PerKey: key_mask,
        /// One `NQ × NK` mask per query head, shared by the batch entries.
        ///
        /// ```
        /// let masks = [[[true, false]; 2], [[true, true]; 2]]; // 2 heads of 2 × 2
        /// let o = sdpa::multihead::HeadOptions::<3, 2, 2, 2>::new().head_mask(&masks);
        /// # let _ = o;
        /// ```
        PerHead PerQuery: head_mask,
        /// One key mask per query head, shared by the batch entries and queries.
        ///
        /// ```
        /// let keep = [[true, false], [false, true]]; // 2 heads × 2 keys
        /// let o = sdpa::multihead::HeadOptions::<1, 2, 3, 2>::new().head_key_mask(&keep);
        /// # let _ = o;
        /// ```
        PerHead PerKey: head_key_mask,
        /// One `NQ × NK` mask per batch entry, shared by its heads (PyTorch's
        /// `(B, 1, L, S)` mask).
        ///
        /// ```
        /// let masks = [[[true, true], [false, true]]; 3]; // batch 3 of 2 × 2
        /// let o = sdpa::multihead::HeadOptions::<3, 4, 2, 2>::new().batch_mask(&masks);
        /// # let _ = o;
        /// ```
        PerBatch PerQuery: batch_mask,
        /// One key mask per batch entry, shared by its heads and queries: the
        /// key padding mask (Hugging Face's `attention_mask`).
        ///
        /// ```
        /// let keep = [[true, true, true], [true, false, false]]; // the second sequence has 1 token
        /// let o = sdpa::multihead::HeadOptions::<2, 4, 3, 3>::new().batch_key_mask(&keep);
        /// # let _ = o;
        /// ```
        PerBatch PerKey: batch_key_mask,
        /// One `NQ × NK` mask per batch entry and query head.
        ///
        /// ```
        /// let masks = [[[[true; 2]; 2]; 3]; 2]; // batch 2, heads 3, 2 × 2
        /// let o = sdpa::multihead::HeadOptions::<2, 3, 2, 2>::new().batch_head_mask(&masks);
        /// # let _ = o;
        /// ```
        PerBatchHead PerQuery: batch_head_mask,
        /// One key mask per batch entry and query head.
        ///
        /// ```
        /// let keep = [[[true, false]; 3]; 2]; // batch 2, heads 3, 2 keys
        /// let o = sdpa::multihead::HeadOptions::<2, 3, 4, 2>::new().batch_head_key_mask(&keep);
        /// # let _ = o;
        /// ```
        PerBatchHead PerKey: batch_head_key_mask,
    }

    term_setters! {
        f32, Bias, bias, bias, bias;
        /// Additive mask for every batch entry and head; `−∞` masks its key.
        ///
        /// ```
        /// let bias = [[0.0, f32::NEG_INFINITY], [0.0, 0.0]];
        /// let o = sdpa::multihead::HeadOptions::<1, 2, 2, 2>::new().bias(&bias);
        /// # let _ = o;
        /// ```
        Shared PerQuery: bias,
        /// Additive per-key bias for every batch entry, head and query.
        ///
        /// ```
        /// let bias = [0.0, -1.0, f32::NEG_INFINITY];
        /// let o = sdpa::multihead::HeadOptions::<1, 2, 4, 3>::new().key_bias(&bias);
        /// # let _ = o;
        /// ```
        Shared PerKey: key_bias,
        /// One `NQ × NK` bias per query head (a relative position bias, T5's).
        ///
        /// ```
        /// let bias = [[[0.0, -1.0]; 2], [[-1.0, 0.0]; 2]]; // 2 heads of 2 × 2
        /// let o = sdpa::multihead::HeadOptions::<1, 2, 2, 2>::new().head_bias(&bias);
        /// # let _ = o;
        /// ```
        PerHead PerQuery: head_bias,
        /// One per-key bias per query head.
        ///
        /// ```
        /// let bias = [[0.0, -0.5], [-0.5, 0.0]]; // 2 heads × 2 keys
        /// let o = sdpa::multihead::HeadOptions::<1, 2, 3, 2>::new().head_key_bias(&bias);
        /// # let _ = o;
        /// ```
        PerHead PerKey: head_key_bias,
        /// One `NQ × NK` bias per batch entry (PyTorch's `(B, 1, L, S)` float mask,
        /// what Hugging Face passes to SDPA).
        ///
        /// ```
        /// let bias = [[[0.0, f32::NEG_INFINITY], [0.0, 0.0]]; 2]; // batch 2 of 2 × 2
        /// let o = sdpa::multihead::HeadOptions::<2, 4, 2, 2>::new().batch_bias(&bias);
        /// # let _ = o;
        /// ```
        PerBatch PerQuery: batch_bias,
        /// One per-key bias per batch entry.
        ///
        /// ```
        /// let bias = [[0.0, 0.0, f32::NEG_INFINITY], [0.0; 3]];
        /// let o = sdpa::multihead::HeadOptions::<2, 4, 1, 3>::new().batch_key_bias(&bias);
        /// # let _ = o;
        /// ```
        PerBatch PerKey: batch_key_bias,
        /// One `NQ × NK` bias per batch entry and query head.
        ///
        /// ```
        /// let bias = [[[[0.0; 2]; 2]; 3]; 2]; // batch 2, heads 3, 2 × 2
        /// let o = sdpa::multihead::HeadOptions::<2, 3, 2, 2>::new().batch_head_bias(&bias);
        /// # let _ = o;
        /// ```
        PerBatchHead PerQuery: batch_head_bias,
        /// One per-key bias per batch entry and query head.
        ///
        /// ```
        /// let bias = [[[0.0, -1.0]; 3]; 2]; // batch 2, heads 3, 2 keys
        /// let o = sdpa::multihead::HeadOptions::<2, 3, 4, 2>::new().batch_head_key_bias(&bias);
        /// # let _ = o;
        /// ```
        PerBatchHead PerKey: batch_head_key_bias,
    }
}

/// Multi-head attention with sizes in the types: for every batch entry `b`
/// and query head `h`, `out[b, h] = attention(q[b, h], k[b, g], v[b, g])`
/// with kv head `g = h / (H / KVH)` (PyTorch's `enable_gqa`; `KVH = 1` is
/// MQA). Each (b, h) gives the same bits as [`crate::attention`] on that
/// head's rows; see the [module docs](super) for layouts, masks and ALiBi.
/// K and V may be views of [`F16`](crate::F16) or [`Bf16`](crate::Bf16)
/// (as for [`runtime::attention`]).
///
/// ```
/// use sdpa::multihead::{self, Heads, HeadsMut, HeadOptions};
/// // A single sequence in [tokens, heads, dim] layout: 3 tokens, 2 heads of 2.
/// let x = [[[1.0f32, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]];
/// let x = core::array::from_ref(&x);
/// let mut out = [[[[0.0f32; 2]; 2]; 3]; 1];
/// let view = Heads::bshd(x);
/// multihead::attention(view, view, view, HeadsMut::bshd(&mut out), &HeadOptions::new().causal());
/// assert_eq!(out[0][0], x[0][0]); // token 0 of each head sees only itself
///
/// // K and V in bfloat16 (0 and 1 are exact: the same bits).
/// let x16 = [x[0].map(|t| t.map(|r| r.map(sdpa::Bf16::from_f32)))];
/// let mut out16 = [[[[0.0f32; 2]; 2]; 3]; 1];
/// multihead::attention(view, Heads::bshd(&x16), Heads::bshd(&x16), HeadsMut::bshd(&mut out16), &HeadOptions::new().causal());
/// assert_eq!(out16, out);
/// ```
///
/// Sizes that disagree do not compile (here, K has another head dimension):
///
/// ```compile_fail
/// use sdpa::multihead::{self, Heads, HeadsMut, HeadOptions};
/// let (q, k) = ([[[[0.0f32; 4]; 3]; 2]; 1], [[[[0.0f32; 5]; 3]; 2]; 1]);
/// let mut out = [[[[0.0f32; 4]; 3]; 2]; 1];
/// multihead::attention(Heads::bhsd(&q), Heads::bhsd(&k), Heads::bhsd(&q), HeadsMut::bhsd(&mut out), &HeadOptions::new());
/// ```
///
/// nor do kv heads that do not divide the query heads:
///
/// ```compile_fail
/// use sdpa::multihead::{self, Heads, HeadsMut, HeadOptions};
/// let (q, kv) = ([[[[0.0f32; 4]; 3]; 3]; 1], [[[[0.0f32; 4]; 3]; 2]; 1]); // 3 query heads, 2 kv heads
/// let mut out = [[[[0.0f32; 4]; 3]; 3]; 1];
/// multihead::attention(Heads::bhsd(&q), Heads::bhsd(&kv), Heads::bhsd(&kv), HeadsMut::bhsd(&mut out), &HeadOptions::new());
/// ```
pub fn attention<
    const B: usize,
    const H: usize,
    const KVH: usize,
    const NQ: usize,
    const NK: usize,
    const D: usize,
    const DV: usize,
    E: KvElement,
>(
    q: Heads<'_, B, H, NQ, D>,
    k: Heads<'_, B, KVH, NK, D, E>,
    v: Heads<'_, B, KVH, NK, DV, E>,
    out: HeadsMut<'_, B, H, NQ, DV>,
    options: &HeadOptions<'_, B, H, NQ, NK>,
) {
    // Compile-time checks of the shape.
    const {
        assert!(
            B > 0 && H > 0 && KVH > 0 && NQ > 0 && NK > 0 && D > 0 && DV > 0,
            "sdpa::multihead: B, H, KVH, NQ, NK, D and DV must all be non-zero"
        );
        assert!(KVH > 0 && H.is_multiple_of(KVH), "sdpa::multihead: KVH must divide H");
    }
    let shape = Shape { batch: B, q_heads: H, kv_heads: KVH, queries: NQ, keys: NK, head_dim: D, value_dim: DV };
    let call = Call {
        shape,
        q: View::new(q.data, q.strides),
        k: View::new(k.data, k.strides),
        v: View::new(v.data, v.strides),
        out: ViewMut::new(out.data, out.strides),
        options: options.inner,
    };
    dispatch!(|s| lower::each_head(
        call,
        #[inline(always)]
        |problem, rows| choose::attend_rows(s, ConstDims::<NK, D, DV>, problem, 0, rows)
    ))
}
