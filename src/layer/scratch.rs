//! Caller-owned working memory of the layer, sized by const generics.

use super::Heads;
use crate::Matrix;

/// Working memory of [`SelfAttention::forward`](crate::layer::SelfAttention::forward)
/// over `T` tokens: the Q, K and V projections as the projections write them
/// (token-major, heads as consecutive blocks of `HD`: `T × QH·HD` for Q,
/// `T × KVH·HD` for K and V) and the merged head outputs (`T × D`),
/// `T·(2·D + 2·KVH·HD)` floats in all. Own one per layer shape (in a
/// `static`, on the stack or in a `Box`) and reuse it: nothing is allocated.
///
/// ```
/// use sdpa::layer::Scratch;
/// // 16 tokens, width 64, 8 query heads, 2 key/value heads of dimension 8.
/// let scratch = Scratch::<16, 64, 8, 2, 8>::new();
/// assert_eq!(Scratch::<16, 64, 8, 2, 8>::FLOATS, 16 * (2 * 64 + 2 * 2 * 8));
/// # let _ = scratch;
/// ```
#[derive(Clone, Debug)]
pub struct Scratch<const T: usize, const D: usize, const QH: usize, const KVH: usize, const HD: usize> {
    pub(crate) q: [[[f32; HD]; QH]; T],
    pub(crate) k: [[[f32; HD]; KVH]; T],
    pub(crate) v: [[[f32; HD]; KVH]; T],
    pub(crate) merged: Matrix<T, D>,
}

impl<const T: usize, const D: usize, const QH: usize, const KVH: usize, const HD: usize> Scratch<T, D, QH, KVH, HD> {
    /// `f32` values the scratch holds.
    pub const FLOATS: usize = T * (2 * D + 2 * KVH * HD);

    /// Zeroed scratch; `const`, so it can be a `static`.
    ///
    /// ```
    /// let s = sdpa::layer::Scratch::<4, 8, 2, 1, 4>::new();
    /// assert_eq!(s.query(3, 1), Some(&[0.0; 4]));
    /// ```
    pub const fn new() -> Self {
        let () = Heads::<D, QH, KVH, HD>::CHECK;
        Self { q: [[[0.0; HD]; QH]; T], k: [[[0.0; HD]; KVH]; T], v: [[[0.0; HD]; KVH]; T], merged: Matrix::zeros() }
    }

    /// Query head `h` of token `t` in the last forward (after RoPE).
    ///
    /// ```
    /// let s = sdpa::layer::Scratch::<4, 8, 2, 1, 4>::new();
    /// assert!(s.query(0, 1).is_some() && s.query(0, 2).is_none() && s.query(4, 0).is_none());
    /// ```
    pub fn query(&self, t: usize, h: usize) -> Option<&[f32; HD]> {
        self.q.get(t)?.get(h)
    }

    /// Key head `g` of token `t` in the last forward (after RoPE).
    ///
    /// ```
    /// let s = sdpa::layer::Scratch::<4, 8, 2, 1, 4>::new();
    /// assert!(s.key(3, 0).is_some() && s.key(3, 1).is_none());
    /// ```
    pub fn key(&self, t: usize, g: usize) -> Option<&[f32; HD]> {
        self.k.get(t)?.get(g)
    }

    /// Value head `g` of token `t` in the last forward.
    ///
    /// ```
    /// let s = sdpa::layer::Scratch::<4, 8, 2, 1, 4>::new();
    /// assert!(s.value(0, 0).is_some() && s.value(0, 1).is_none());
    /// ```
    pub fn value(&self, t: usize, g: usize) -> Option<&[f32; HD]> {
        self.v.get(t)?.get(g)
    }

    /// The merged head outputs of the last forward (the output projection's input), `T × D`.
    ///
    /// ```
    /// assert_eq!(sdpa::layer::Scratch::<4, 8, 2, 1, 4>::new().merged().rows().len(), 4);
    /// ```
    pub fn merged(&self) -> &Matrix<T, D> {
        &self.merged
    }
}

impl<const T: usize, const D: usize, const QH: usize, const KVH: usize, const HD: usize> Default
    for Scratch<T, D, QH, KVH, HD>
{
    fn default() -> Self {
        Self::new()
    }
}

/// Working memory of one decode step
/// ([`SelfAttention::decode`](crate::layer::SelfAttention::decode)) against a
/// cache of capacity `CAP`: the query and merged rows (`D` each) and ALiBi
/// distances for a wrapped sliding cache (`CAP`).
///
/// ```
/// let s = sdpa::layer::DecodeScratch::<64, 128>::new();
/// assert_eq!(sdpa::layer::DecodeScratch::<64, 128>::FLOATS, 2 * 64 + 128);
/// # let _ = s;
/// ```
#[derive(Clone, Debug)]
pub struct DecodeScratch<const D: usize, const CAP: usize> {
    pub(crate) q: [f32; D],
    pub(crate) merged: [f32; D],
    pub(crate) bias: [f32; CAP],
}

impl<const D: usize, const CAP: usize> DecodeScratch<D, CAP> {
    /// `f32` values the scratch holds.
    pub const FLOATS: usize = 2 * D + CAP;

    /// Zeroed scratch; `const`, so it can be a `static`.
    ///
    /// ```
    /// let s = sdpa::layer::DecodeScratch::<8, 4>::new();
    /// # let _ = s;
    /// ```
    pub const fn new() -> Self {
        Self { q: [0.0; D], merged: [0.0; D], bias: [0.0; CAP] }
    }
}

impl<const D: usize, const CAP: usize> Default for DecodeScratch<D, CAP> {
    fn default() -> Self {
        Self::new()
    }
}
