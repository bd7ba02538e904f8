//! An attention problem, and what one query row of it may see: its key
//! range, mask row, bias row and position.

use crate::KvElement;
use crate::kernels::scale_with;
use crate::options::{Alignment, Bias, Mask, Settings};
use crate::simd::Simd;
use core::ops::Range;

/// Rows of `width` values of type `T`, `stride` apart, in `data`: a matrix
/// that may be a view into a larger one (a head inside a fused projection).
#[derive(Debug)]
pub(crate) struct Rows<'a, T = f32> {
    pub(crate) data: &'a [T],
    pub(crate) stride: usize,
    pub(crate) width: usize,
}

impl<T> Clone for Rows<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Rows<'_, T> {}

impl<'a, T> Rows<'a, T> {
    /// Contiguous rows of `width` values.
    pub(crate) const fn contiguous(data: &'a [T], width: usize) -> Self {
        Rows { data, stride: width, width }
    }

    /// Row `i` (empty past the end: the invariants rule that out).
    #[inline(always)]
    pub(crate) fn row(&self, i: usize) -> &'a [T] {
        let row = i.checked_mul(self.stride).and_then(|at| self.data.get(at..at.checked_add(self.width)?));
        debug_assert!(row.is_some(), "row {i} of a view holding {} values", self.data.len());
        row.unwrap_or_default()
    }

    /// The rows in order (as many as `data` holds whole).
    #[inline(always)]
    pub(crate) fn iter(self) -> impl Iterator<Item = &'a [T]> {
        let width = self.width;
        self.data.chunks(self.stride.max(1)).map_while(move |r| r.get(..width))
    }
}

/// A validated attention problem, its keys and values stored as `E`
/// (`f32`, [`F16`](crate::F16) or [`Bf16`](crate::Bf16)).
///
/// Invariants (established by the const-generic API through types, by the
/// runtime API through checks): every dimension is non-zero, `q` holds `nq`
/// rows of `d`, `k` holds `nk` rows of `d`, `v` holds `nk` rows of `dv`, and
/// a mask or bias holds `nq·nk` (per query) or `nk` (per key) values.
pub(crate) struct Problem<'a, E = f32> {
    pub(crate) nq: usize,
    pub(crate) nk: usize,
    pub(crate) d: usize,
    pub(crate) dv: usize,
    pub(crate) q: Rows<'a>,
    pub(crate) k: Rows<'a, E>,
    pub(crate) v: Rows<'a, E>,
    pub(crate) settings: Settings,
    pub(crate) mask: Option<Mask<'a>>,
    pub(crate) bias: Option<Bias<'a>>,
}

impl<E> Clone for Problem<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Problem<'_, E> {}

impl<'a, E: KvElement> Problem<'a, E> {
    /// The same problem with `f32` keys and values, for `E = f32` only.
    #[inline(always)]
    pub(crate) fn as_f32(&self) -> Option<Problem<'a>> {
        let rows = |r: Rows<'a, E>| Some(Rows { data: E::as_f32(r.data)?, stride: r.stride, width: r.width });
        let Problem { nq, nk, d, dv, q, k, v, settings, mask, bias } = *self;
        Some(Problem { nq, nk, d, dv, q, k: rows(k)?, v: rows(v)?, settings, mask, bias })
    }
}

/// Output rows of `width` values, `stride` apart: where an engine writes
/// rows `first_row ..` of a problem.
pub(crate) struct OutRows<'a> {
    pub(crate) data: &'a mut [f32],
    pub(crate) stride: usize,
    pub(crate) width: usize,
}

impl<'a> OutRows<'a> {
    /// Contiguous rows of `width` values.
    pub(crate) fn contiguous(data: &'a mut [f32], width: usize) -> Self {
        OutRows { data, stride: width, width }
    }

    /// Whole rows held.
    pub(crate) fn len(&self) -> usize {
        match self.data.len().checked_sub(self.width) {
            Some(rest) => rest / self.stride.max(1) + 1,
            None => 0,
        }
    }

    /// The rows, each `width` long, at most `n`.
    pub(crate) fn rows(&mut self, n: usize) -> impl Iterator<Item = &mut [f32]> {
        let width = self.width;
        self.data.chunks_mut(self.stride.max(1)).take(n).map_while(move |r| r.get_mut(..width))
    }
}

/// Everything the engine needs to know about query row `i`.
pub(crate) struct RowPlan<'a> {
    /// The query vector.
    pub(crate) query: &'a [f32],
    /// Keys allowed by the causal mask and the window; all others are never read.
    pub(crate) keys: Range<usize>,
    /// This row's boolean mask over all `nk` keys.
    pub(crate) mask: Option<&'a [bool]>,
    /// This row's additive bias over all `nk` keys.
    pub(crate) bias: Option<&'a [f32]>,
    /// Multiplier of `q·k`.
    pub(crate) scale: f32,
    /// ALiBi slope and this query's key-axis position.
    pub(crate) alibi: Option<(f32, isize)>,
}

impl<'a, E> Problem<'a, E> {
    /// The scale the settings ask for, `1/√D` by default.
    pub(crate) fn scale(&self) -> f32 {
        self.settings.scale_for(self.d)
    }

    /// The plan for query row `i`, or `None` past the last row.
    pub(crate) fn row(&self, i: usize, scale: f32) -> Option<RowPlan<'a>> {
        if i >= self.nq {
            return None;
        }
        let query = self.q.row(i);
        let position = self.position(i);
        let row = |len: usize| i * len..(i + 1) * len;
        Some(RowPlan {
            query,
            keys: self.key_range(position),
            mask: self.mask.map(|m| match m {
                Mask::PerQuery(all) => all.get(row(self.nk)).unwrap_or_default(),
                Mask::PerKey(keys) => keys,
            }),
            bias: self.bias.map(|b| match b {
                Bias::PerQuery(all) => all.get(row(self.nk)).unwrap_or_default(),
                Bias::PerKey(keys) => keys,
            }),
            scale,
            alibi: self.settings.alibi_slope.map(|slope| (slope, position)),
        })
    }

    /// Key-axis position `p(i)` of query `i`.
    pub(crate) fn position(&self, i: usize) -> isize {
        let i = to_isize(i);
        match self.settings.alignment {
            Alignment::TopLeft => i,
            Alignment::BottomRight => i.saturating_add(to_isize(self.nk)).saturating_sub(to_isize(self.nq)),
        }
    }

    /// Keys `j` with `j ≤ p` (causal) and `p − left ≤ j ≤ p + right` (window).
    pub(crate) fn key_range(&self, p: isize) -> Range<usize> {
        let mut lo = 0isize;
        let mut hi = to_isize(self.nk);
        if self.settings.causal {
            hi = hi.min(p.saturating_add(1));
        }
        if let Some(w) = self.settings.window {
            lo = lo.max(p.saturating_sub(to_isize(w.left)));
            hi = hi.min(p.saturating_add(to_isize(w.right)).saturating_add(1));
        }
        let lo = usize::try_from(lo).unwrap_or(0);
        let hi = usize::try_from(hi).unwrap_or(0);
        lo..hi.max(lo)
    }
}

impl RowPlan<'_> {
    /// Whether key `j` (inside [`RowPlan::keys`]) is masked by the boolean
    /// mask or by a `−∞` bias.
    #[inline]
    pub(crate) fn is_masked(&self, j: usize) -> bool {
        let by_mask = self.mask.is_some_and(|m| !m.get(j).copied().unwrap_or(false));
        let by_bias = self.bias.is_some_and(|b| b.get(j).is_some_and(|&x| x == f32::NEG_INFINITY));
        by_mask || by_bias
    }

    /// Whether any key can be masked inside the range (else the fast path runs).
    #[inline]
    pub(crate) fn has_per_key_masking(&self) -> bool {
        self.mask.is_some() || self.bias.is_some()
    }

    /// Scales raw dot products `scores` of keys `first..` and adds ALiBi and bias.
    #[inline(always)]
    pub(crate) fn finish_scores<const L: usize, S: Simd<L>>(&self, s: S, first: usize, scores: &mut [f32]) {
        scale_with(s, scores, self.scale);
        if let Some((slope, p)) = self.alibi {
            for (j, x) in (first..).zip(scores.iter_mut()) {
                *x -= slope * p.abs_diff(to_isize(j)) as f32;
            }
        }
        if let Some(bias) = self.bias {
            for (x, b) in scores.iter_mut().zip(bias.get(first..).unwrap_or_default()) {
                *x += b;
            }
        }
    }
}

/// `usize` to `isize`, saturating (shapes never get near `isize::MAX`).
pub(crate) fn to_isize(x: usize) -> isize {
    isize::try_from(x).unwrap_or(isize::MAX)
}
