//! Multi-head attention in one call: batch × query heads × queries over
//! strided tensor views, with the semantics of PyTorch's
//! `scaled_dot_product_attention` (`enable_gqa` included).
//!
//! For every batch entry `b` and query head `h`,
//! `out[b, h] = attention(q[b, h], k[b, g], v[b, g])` with kv head
//! `g = h / (H / KVH)`: consecutive query heads share a key/value head (GQA;
//! `KVH = 1` is MQA, `KVH = H` plain multi-head). Each tensor is a view with
//! one element stride per axis (batch, head, token, dim), so both common
//! layouts are read and written in place, without a copy:
//!
//! - **BHSD** `[batch, heads, tokens, dim]`, PyTorch's layout: [`Strides::bhsd`];
//! - **BSHD** `[batch, tokens, heads, dim]`, what a projection followed by a
//!   reshape gives (and, with a larger token stride, Q, K or V inside a fused
//!   QKV projection `[batch, tokens, 3, heads, dim]`): [`Strides::bshd`];
//! - any other positive strides, with padding between rows or heads.
//!
//! Each `(b, h)` is one call of the single-head engine on rows read in
//! place, so the output equals the loop over heads of [`crate::attention`]
//! (or [`crate::runtime::attention`]) bit for bit, whatever the layout.
//!
//! Two forms, as for single-head attention:
//! - [`attention`]: const-generic. Batch, heads, tokens and dimensions are
//!   const parameters of the views ([`Heads`], [`HeadsMut`]) and the options
//!   ([`HeadOptions`]), so shapes that do not agree, a zero size or `KVH` not
//!   dividing `H` are compile errors, and the call returns nothing. Views of
//!   nested arrays (`Heads::bhsd`, `Heads::bshd`) are infallible; views with
//!   strides of your own are checked once, when made (`Heads::strided`).
//! - [`runtime::attention`]: every size and stride known at run time (FFI,
//!   model files), checked with overflow-checked arithmetic, errors as
//!   values ([`Error`]), nothing written on an error.
//!
//! # Rules for views
//! - **Rows are contiguous**: the dim stride must be 1 (a stride is ignored
//!   for an axis of extent 1). The engines read each key and value row many
//!   times as a slice; a view with another dim stride is refused
//!   ([`ViewError::DimStride`]) rather than copied, since a copy of all
//!   `NK` rows has no bounded home without an allocator. Make such a tensor
//!   contiguous first (PyTorch's `.contiguous()`).
//! - **Rows of one head do not overlap**: the token stride is at least the
//!   row width ([`ViewError::TokenStride`]). Input views may share rows
//!   across heads and batch entries (a stride of 0 broadcasts).
//! - **Every view lies inside its buffer**: its last element
//!   `(B−1)·batch + (H−1)·head + (N−1)·token + width − 1` is inside the
//!   slice ([`ViewError::OutOfBounds`]).
//! - **Output rows are pairwise disjoint**, checked as: the output's axes
//!   of extent above 1, ordered by stride, nest, each stride at least the
//!   span of the axes below it ([`ViewError::Overlap`]). Every dense or
//!   padded layout, in any axis order, nests; a layout whose rows are
//!   disjoint only by interleaving is refused too.
//! - **Alignment**: none beyond `f32`'s own. Every backend loads and stores
//!   unaligned (`_mm512_loadu_ps`, `_mm256_loadu_ps`, `wide`'s `f32x4`
//!   from arrays, plain arrays on the portable backend), and results do not
//!   depend on addresses.
//!
//! # Masks, biases and ALiBi
//! A boolean mask (`true` = attend) or an additive bias is given per query
//! (`NQ × NK` per block) or per key (`NK` per block), in blocks laid out one
//! after the other; [`Broadcast`] says which batch entries and heads a block
//! serves: one block for all, one per head, one per batch entry (a key
//! padding mask), or one per (batch entry, head). PyTorch's `attn_mask`
//! broadcast over `(B, H, L, S)` maps onto these: `(L, S)` and `(1, 1, L, S)`
//! are shared, `(B, 1, L, S)` per batch, `(1, H, L, S)` per head,
//! `(B, H, L, S)` per both; `(B, 1, 1, S)` is a per-key mask per batch entry.
//! ALiBi takes one slope for every head ([`Settings::alibi_slope`]) or a
//! slope per query head. Causal masks, windows, alignment and scale are the
//! single-head [`Settings`], applied to every head; unlike PyTorch, a causal
//! mask may be combined with a mask or bias.
//!
//! ```
//! use sdpa::multihead::{self, Heads, HeadsMut, HeadOptions};
//!
//! // Batch 1, 4 query heads sharing 2 kv heads (GQA), 3 queries, 5 keys,
//! // head dim 8, in PyTorch's [batch, heads, tokens, dim] layout.
//! let q = [[[[0.1f32; 8]; 3]; 4]; 1];
//! let k = [[[[0.2f32; 8]; 5]; 2]; 1];
//! let v = [[[[1.5f32; 8]; 5]; 2]; 1];
//! let mut out = [[[[0.0f32; 8]; 3]; 4]; 1];
//! multihead::attention(
//!     Heads::bhsd(&q),
//!     Heads::bhsd(&k),
//!     Heads::bhsd(&v),
//!     HeadsMut::bhsd(&mut out),
//!     &HeadOptions::new().causal(),
//! );
//! assert!(out.as_flattened().as_flattened().as_flattened().iter().all(|&x| (x - 1.5).abs() < 1e-6));
//! ```
//!
//! [`Settings`]: crate::Settings
//! [`Settings::alibi_slope`]: crate::Settings::alibi_slope

mod check;
mod fixed;
mod lower;
pub mod runtime;

pub use fixed::{HeadOptions, Heads, HeadsMut, attention};

/// Element strides of a tensor view, one per axis: element
/// `[b, h, t, i]` is `data[b·batch + h·head + t·token + i·dim]`.
///
/// ```
/// use sdpa::multihead::Strides;
/// // [batch, tokens, heads, dim] of 2 heads of 4 over 3 tokens, as a projection gives it.
/// let s = Strides::bshd(3, 2, 4);
/// assert_eq!(s, Strides { batch: 24, head: 4, token: 8, dim: 1 });
/// // Element [b 0, h 1, t 2, i 3]:
/// assert_eq!(1 * s.head + 2 * s.token + 3 * s.dim, 23);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Strides {
    /// Elements from one batch entry to the next.
    pub batch: usize,
    /// Elements from one head to the next.
    pub head: usize,
    /// Elements from one token (row) to the next.
    pub token: usize,
    /// Elements from one entry of a row to the next: must be 1 (see the
    /// [module docs](self#rules-for-views)).
    pub dim: usize,
}

impl Strides {
    /// A dense `[batch, heads, tokens, dim]` tensor (PyTorch's BHSD layout).
    /// Products saturate at `usize::MAX`, which no buffer holds.
    ///
    /// ```
    /// use sdpa::multihead::Strides;
    /// assert_eq!(Strides::bhsd(2, 3, 4), Strides { batch: 24, head: 12, token: 4, dim: 1 });
    /// ```
    pub const fn bhsd(heads: usize, tokens: usize, dim: usize) -> Self {
        let token = dim;
        let head = tokens.saturating_mul(token);
        Strides { batch: heads.saturating_mul(head), head, token, dim: 1 }
    }

    /// A dense `[batch, tokens, heads, dim]` tensor (BSHD: a projection's
    /// output `[tokens, heads·dim]` per batch entry).
    ///
    /// ```
    /// use sdpa::multihead::Strides;
    /// assert_eq!(Strides::bshd(3, 2, 4), Strides { batch: 24, head: 4, token: 8, dim: 1 });
    /// ```
    pub const fn bshd(tokens: usize, heads: usize, dim: usize) -> Self {
        let token = heads.saturating_mul(dim);
        Strides { batch: tokens.saturating_mul(token), head: dim, token, dim: 1 }
    }
}

/// Which batch entries and heads each block of a mask or bias serves
/// (PyTorch's broadcasting of `attn_mask` over the batch and head axes).
/// Blocks follow one another in the slice; a block is `NQ × NK` entries
/// (per query) or `NK` (per key).
///
/// ```
/// use sdpa::multihead::Broadcast;
/// assert_eq!(Broadcast::PerBatchHead.blocks(2, 3), 6);
/// assert_eq!(Broadcast::PerBatch.block_of(1, 2, 3), 1);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Broadcast {
    /// One block for every batch entry and head.
    #[default]
    Shared,
    /// One block per query head, shared by the batch entries: block `h`.
    PerHead,
    /// One block per batch entry, shared by its heads: block `b`.
    PerBatch,
    /// One block per batch entry and query head: block `b·H + h`.
    PerBatchHead,
}

impl Broadcast {
    /// How many blocks serve `batch` entries of `heads` query heads
    /// (saturating: a count past `usize::MAX` matches no slice).
    ///
    /// ```
    /// use sdpa::multihead::Broadcast;
    /// assert_eq!(Broadcast::Shared.blocks(4, 8), 1);
    /// assert_eq!(Broadcast::PerHead.blocks(4, 8), 8);
    /// assert_eq!(Broadcast::PerBatch.blocks(4, 8), 4);
    /// ```
    pub const fn blocks(self, batch: usize, heads: usize) -> usize {
        match self {
            Broadcast::Shared => 1,
            Broadcast::PerHead => heads,
            Broadcast::PerBatch => batch,
            Broadcast::PerBatchHead => batch.saturating_mul(heads),
        }
    }

    /// The block batch entry `b` and query head `h` (of `heads`) use.
    ///
    /// ```
    /// use sdpa::multihead::Broadcast;
    /// assert_eq!(Broadcast::Shared.block_of(3, 1, 4), 0);
    /// assert_eq!(Broadcast::PerHead.block_of(3, 1, 4), 1);
    /// assert_eq!(Broadcast::PerBatchHead.block_of(3, 1, 4), 13);
    /// ```
    pub const fn block_of(self, b: usize, h: usize, heads: usize) -> usize {
        match self {
            Broadcast::Shared => 0,
            Broadcast::PerHead => h,
            Broadcast::PerBatch => b,
            Broadcast::PerBatchHead => b.saturating_mul(heads).saturating_add(h),
        }
    }
}

/// The tensors of a multi-head call, to say which view an error is about.
///
/// ```
/// use sdpa::multihead::Operand;
/// assert_eq!(Operand::Key.name(), "key");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operand {
    /// Q.
    Query,
    /// K.
    Key,
    /// V.
    Value,
    /// The output.
    Output,
}

impl Operand {
    /// `"query"`, `"key"`, `"value"` or `"output"`.
    ///
    /// ```
    /// assert_eq!(sdpa::multihead::Operand::Output.name(), "output");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Operand::Query => "query",
            Operand::Key => "key",
            Operand::Value => "value",
            Operand::Output => "output",
        }
    }
}

/// Why a view does not describe a tensor the engines can use (see the
/// [rules for views](self#rules-for-views)).
///
/// ```
/// use sdpa::multihead::{Heads, Strides, ViewError};
/// let data = [0.0f32; 8];
/// // 1 batch entry, 1 head, 2 rows of 4, but the dim stride is 2.
/// let s = Strides { batch: 0, head: 0, token: 4, dim: 2 };
/// assert_eq!(Heads::<1, 1, 2, 4>::strided(&data, s).unwrap_err(), ViewError::DimStride);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ViewError {
    /// The dim stride is not 1 (for rows of more than one element).
    DimStride,
    /// The token stride is smaller than the row width, so rows of one head
    /// overlap (for heads of more than one row).
    TokenStride,
    /// The view reaches past the end of its buffer (or its extent
    /// overflows `usize`).
    OutOfBounds,
    /// Output rows overlap (the output's axes do not nest).
    Overlap,
}

impl core::fmt::Display for ViewError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ViewError::DimStride => "its dim stride is not 1",
            ViewError::TokenStride => "its token stride is smaller than a row, so rows of a head overlap",
            ViewError::OutOfBounds => "it reaches past the end of its buffer",
            ViewError::Overlap => "its rows overlap",
        })
    }
}

impl core::error::Error for ViewError {}

/// Why [`runtime::attention`] refused a call. Nothing is written when an
/// error is returned; when several apply, the first in this order is
/// reported (views in the order query, key, value, output).
///
/// ```
/// use sdpa::multihead::{Error, Operand, ViewError};
/// let e = Error::View(Operand::Key, ViewError::OutOfBounds);
/// assert_eq!(e.to_string(), "the key view is invalid: it reaches past the end of its buffer");
/// assert_eq!(Error::HeadGroups.to_string(), "kv_heads does not divide q_heads");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// A size of the shape is zero.
    ZeroDimension,
    /// `kv_heads` does not divide `q_heads`.
    HeadGroups,
    /// A view breaks one of the [rules for views](self#rules-for-views).
    View(Operand, ViewError),
    /// The mask does not hold `blocks × queries × keys` (per query) or
    /// `blocks × keys` (per key) entries, `blocks` as its [`Broadcast`] says.
    MaskLength,
    /// The bias does not hold the entries its [`Broadcast`] asks for (as the mask).
    BiasLength,
    /// The per-head ALiBi slopes are not one per query head.
    SlopesLength,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::ZeroDimension => f.write_str("a dimension is zero"),
            Error::HeadGroups => f.write_str("kv_heads does not divide q_heads"),
            Error::View(operand, e) => write!(f, "the {} view is invalid: {e}", operand.name()),
            Error::MaskLength => f.write_str("the mask does not hold the entries its broadcast asks for"),
            Error::BiasLength => f.write_str("the bias does not hold the entries its broadcast asks for"),
            Error::SlopesLength => f.write_str("the ALiBi slopes are not one per query head"),
        }
    }
}

impl core::error::Error for Error {}
