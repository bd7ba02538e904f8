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

/// Steps of the reduction unrolled per bounds check of the broadcast rows.
const UNROLL: usize = 4;

/// `acc[i][v] += Σₖ rows[i][k] · panel[k][v]` for `k < panel.len()`; a row
/// shorter than the panel contributes only its own length.
#[inline(always)]
pub(crate) fn rows_times_panel<const L: usize, S: Simd<L>, const MR: usize, const NV: usize>(
    s: S,
    rows: [&[f32]; MR],
    panel: &[[[f32; L]; NV]],
    acc: &mut [[S::V; NV]; MR],
) {
    let (steps, tail) = panel.as_chunks::<UNROLL>();
    let chunked = rows.map(|r| r.as_chunks::<UNROLL>().0);
    for (c, block) in steps.iter().enumerate() {
        // One check per row per UNROLL steps (rows are at least this long);
        // references, so each broadcast reads memory directly.
        let a: [&[f32; UNROLL]; MR] = core::array::from_fn(|i| chunked[i].get(c).unwrap_or(&[0.0; UNROLL]));
        for (u, b) in block.iter().enumerate() {
            let b = b.map(|lanes| s.load(&lanes));
            for (acc, a) in acc.iter_mut().zip(&a) {
                let x = s.splat(a[u]);
                for (acc, &b) in acc.iter_mut().zip(&b) {
                    *acc = s.mul_add(x, b, *acc);
                }
            }
        }
    }
    let done = steps.len() * UNROLL;
    for (k, b) in (done..).zip(tail) {
        let b = b.map(|lanes| s.load(&lanes));
        for (acc, row) in acc.iter_mut().zip(&rows) {
            let x = s.splat(row.get(k).copied().unwrap_or(0.0));
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
        let b = row.map(|lanes| s.load(&lanes));
        for (acc, &w) in acc.iter_mut().zip(w) {
            let x = s.splat(w);
            for (acc, &b) in acc.iter_mut().zip(&b) {
                *acc = s.mul_add(x, b, *acc);
            }
        }
    }
}
