//! What one query row may see: its key range, mask row, bias row and position.

use crate::options::{Alignment, Bias, Mask, Settings};
use core::ops::Range;

/// A validated attention problem on flat row-major slices.
///
/// Invariants (established by the const-generic API through types, by the
/// runtime API through checks): every dimension is non-zero, `q`, `k`, `v`
/// hold `nq·d`, `nk·d`, `nk·dv` values, and a mask or bias holds `nq·nk`
/// (per query) or `nk` (per key) values.
#[derive(Clone, Copy)]
pub(crate) struct Problem<'a> {
    pub(crate) nq: usize,
    pub(crate) nk: usize,
    pub(crate) d: usize,
    pub(crate) dv: usize,
    pub(crate) q: &'a [f32],
    pub(crate) k: &'a [f32],
    pub(crate) v: &'a [f32],
    pub(crate) settings: Settings,
    pub(crate) mask: Option<Mask<'a>>,
    pub(crate) bias: Option<Bias<'a>>,
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

impl<'a> Problem<'a> {
    /// The scale the settings ask for, `1/√D` by default.
    pub(crate) fn scale(&self) -> f32 {
        match self.settings.scale {
            Some(s) => s,
            None => 1.0 / libm::sqrtf(self.d as f32),
        }
    }

    /// The plan for query row `i`, or `None` past the last row.
    pub(crate) fn row(&self, i: usize, scale: f32) -> Option<RowPlan<'a>> {
        let query = self.q.get(i * self.d..(i + 1) * self.d)?;
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
    fn position(&self, i: usize) -> isize {
        let i = to_isize(i);
        match self.settings.alignment {
            Alignment::TopLeft => i,
            Alignment::BottomRight => i.saturating_add(to_isize(self.nk)).saturating_sub(to_isize(self.nq)),
        }
    }

    /// Keys `j` with `j ≤ p` (causal) and `p − left ≤ j ≤ p + right` (window).
    fn key_range(&self, p: isize) -> Range<usize> {
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
    #[inline]
    pub(crate) fn finish_scores(&self, first: usize, scores: &mut [f32]) {
        crate::kernels::scale(scores, self.scale);
        if let Some((slope, p)) = self.alibi {
            for (j, s) in (first..).zip(scores.iter_mut()) {
                *s -= slope * p.abs_diff(to_isize(j)) as f32;
            }
        }
        if let Some(bias) = self.bias {
            for (s, b) in scores.iter_mut().zip(bias.get(first..).unwrap_or_default()) {
                *s += b;
            }
        }
    }
}

/// `usize` to `isize`, saturating (shapes never get near `isize::MAX`).
fn to_isize(x: usize) -> isize {
    isize::try_from(x).unwrap_or(isize::MAX)
}
