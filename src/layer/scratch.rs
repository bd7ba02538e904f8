//! Caller-owned working memory of the layer, sized by const generics.

use super::Heads;
use crate::Matrix;

/// Working memory of [`SelfAttention::forward`](crate::layer::SelfAttention::forward)
/// over `T` tokens: the projected query heads (`QH` matrices `T × HD`), key
/// and value heads (`KVH` each) and the merged head outputs (`T × D`),
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
    pub(crate) q: [Matrix<T, HD>; QH],
    pub(crate) k: [Matrix<T, HD>; KVH],
    pub(crate) v: [Matrix<T, HD>; KVH],
    pub(crate) merged: Matrix<T, D>,
}

impl<const T: usize, const D: usize, const QH: usize, const KVH: usize, const HD: usize> Scratch<T, D, QH, KVH, HD> {
    /// `f32` values the scratch holds.
    pub const FLOATS: usize = T * (2 * D + 2 * KVH * HD);

    /// Zeroed scratch; `const`, so it can be a `static`.
    ///
    /// ```
    /// let s = sdpa::layer::Scratch::<4, 8, 2, 1, 4>::new();
    /// assert_eq!(s.query_head(0).map(|m| m.as_slice().len()), Some(16));
    /// ```
    pub const fn new() -> Self {
        let () = Heads::<D, QH, KVH, HD>::CHECK;
        Self { q: [Matrix::zeros(); QH], k: [Matrix::zeros(); KVH], v: [Matrix::zeros(); KVH], merged: Matrix::zeros() }
    }

    /// Query head `h` of the last forward (after RoPE), `T × HD`.
    ///
    /// ```
    /// assert!(sdpa::layer::Scratch::<4, 8, 2, 1, 4>::new().query_head(2).is_none());
    /// ```
    pub fn query_head(&self, h: usize) -> Option<&Matrix<T, HD>> {
        self.q.get(h)
    }

    /// Key head `g` of the last forward (after RoPE), `T × HD`.
    ///
    /// ```
    /// assert!(sdpa::layer::Scratch::<4, 8, 2, 1, 4>::new().key_head(0).is_some());
    /// ```
    pub fn key_head(&self, g: usize) -> Option<&Matrix<T, HD>> {
        self.k.get(g)
    }

    /// Value head `g` of the last forward, `T × HD`.
    ///
    /// ```
    /// assert!(sdpa::layer::Scratch::<4, 8, 2, 1, 4>::new().value_head(1).is_none());
    /// ```
    pub fn value_head(&self, g: usize) -> Option<&Matrix<T, HD>> {
        self.v.get(g)
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
