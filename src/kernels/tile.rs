//! Register tiles: the GEMM microkernels behind attention and `linear`.
//!
//! Both multiply `MR` scalars broadcast from one operand by `NV` vectors
//! loaded from the other, into `MR × NV` vector accumulators that stay in
//! registers for the whole reduction: per step, `MR + NV` loads feed
//! `MR · NV` FMAs. The callers size `MR` and `NV` from the backend's
//! register count (accumulators + `NV` loaded vectors + one broadcast).
//!
//! - [`rows_times_panel`]: `acc[i][v] += Σₖ rows[i][k] · panel[k][v]`, the
//!   broadcasts read along `MR` rows in their natural layout (key rows for
//!   the scores, weight rows for `linear`) and the vectors from a packed
//!   panel (queries or tokens transposed, one lane each).
//! - [`weights_times_rows`]: `acc[i][v] += Σⱼ w[j][i] · row_j[v]`, the
//!   broadcasts from a tile of weights and the vectors along value rows in
//!   their natural layout (`P·V`).
//!
//! Each accumulator sums its terms in index order, one FMA each, whatever
//! the tile shape: results do not depend on `MR`, `NV` or which tile an
//! element falls in.

use crate::simd::Simd;

/// `acc[i][v] += Σₖ rows[i][k] · panel[k][v]` over the `K` steps: every
/// row and the panel are fixed-size, so the loop has constant bounds and
/// no bounds checks; each broadcast reads memory directly.
#[inline(always)]
pub(crate) fn rows_times_panel<const L: usize, S: Simd<L>, const MR: usize, const NV: usize, const K: usize>(
    s: S,
    rows: &[&[f32; K]; MR],
    panel: &[[[f32; L]; NV]; K],
    acc: &mut [[S::V; NV]; MR],
) {
    for (k, b) in panel.iter().enumerate() {
        let b = s.load_all(b);
        for (acc, row) in acc.iter_mut().zip(rows) {
            let x = s.splat(row[k]);
            for (acc, &b) in acc.iter_mut().zip(&b) {
                *acc = s.mul_add(x, b, *acc);
            }
        }
    }
}

/// `acc[i][v] += Σⱼ w[j][i] · row_j[v]` over the pairs `(w[j], row_j)`
/// (each row: `NV` whole vectors; the weights by reference, so each
/// broadcast reads memory directly).
#[inline(always)]
pub(crate) fn weights_times_rows<'a, const L: usize, S: Simd<L>, const MR: usize, const NV: usize>(
    s: S,
    pairs: impl Iterator<Item = (&'a [f32; MR], &'a [[f32; L]; NV])>,
    acc: &mut [[S::V; NV]; MR],
) {
    for (w, row) in pairs {
        let b = s.load_all(row);
        for (acc, &w) in acc.iter_mut().zip(w) {
            let x = s.splat(w);
            for (acc, &b) in acc.iter_mut().zip(&b) {
                *acc = s.mul_add(x, b, *acc);
            }
        }
    }
}
