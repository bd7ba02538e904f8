//! The fused kernel: each query row streams over key blocks with an online
//! softmax; the output row itself is the accumulator.

use super::row::{Problem, RowPlan};
use crate::kernels::{OnlineSoftmax, axpy, dot_rows, scale};

/// Keys scored per block: the only per-row scratch (128 bytes on the stack).
pub(crate) const BLOCK_KEYS: usize = 32;

/// Computes output rows `first_row ..` into `out` (whole rows of `dv`), for
/// as many rows as `out` holds and `nq` allows: on the tiny engine when every
/// dimension fits in a vector and nothing is masked, else on the tiled engine
/// when it can take the problem (no per-key mask, bias or ALiBi, `d` ≤ 128,
/// enough queries to fill half a vector or few enough keys for one tile),
/// else row by row. The choice depends on the problem only, never on the
/// row range, so row ranges reassemble the whole bit for bit.
pub(crate) fn attend_rows(problem: &Problem<'_>, first_row: usize, out: &mut [f32]) {
    if super::tiny::eligible(problem) {
        super::tiny::attend_rows(problem, first_row, out);
        return;
    }
    if super::tiled::eligible(problem) {
        super::tiled::attend_rows(problem, first_row, out);
        return;
    }
    let scale = problem.scale();
    for (r, out_row) in out.chunks_exact_mut(problem.dv.max(1)).enumerate() {
        // Checked: `(first_row..)` would step past `usize::MAX` and panic
        // with overflow checks, even with no row to write.
        match first_row.checked_add(r).and_then(|i| problem.row(i, scale)) {
            Some(plan) => attend_row(problem, &plan, out_row),
            None => break,
        }
    }
}

/// [`attend_rows`] for const shapes: the tiny engine is monomorphized per
/// shape (same operations, same bits as the runtime path), the others are
/// shared.
#[inline(always)]
pub(crate) fn attend_rows_const<const NK: usize, const D: usize, const DV: usize>(
    problem: &Problem<'_>,
    first_row: usize,
    out: &mut [f32],
) {
    if NK <= crate::simd::LANES && D <= crate::simd::LANES && DV <= crate::simd::LANES && super::tiny::eligible(problem)
    {
        super::tiny::attend_rows_with(super::tiny::ConstDims::<NK, D, DV>, problem, first_row, out);
    } else {
        attend_rows(problem, first_row, out);
    }
}

/// One output row: `softmax(q·Kᵀ·scale + bias)·V` over the visible keys.
fn attend_row(problem: &Problem<'_>, plan: &RowPlan<'_>, out: &mut [f32]) {
    out.fill(0.0);
    let mut state = OnlineSoftmax::new();
    let mut scores = [0.0f32; BLOCK_KEYS];
    let (d, dv) = (problem.d, problem.dv);
    let mut start = plan.keys.start;
    while start < plan.keys.end {
        let end = plan.keys.end.min(start + BLOCK_KEYS);
        let keys = problem.k.get(start * d..end * d).unwrap_or_default();
        let values = problem.v.get(start * dv..end * dv).unwrap_or_default();
        let block = scores.get_mut(..end - start).unwrap_or_default();
        if plan.has_per_key_masking() {
            masked_block(plan, start, keys, values, block, &mut state, out);
        } else {
            dot_rows(plan.query, keys, block);
            plan.finish_scores(start, block);
            state.accumulate(block, values, out);
        }
        start = end;
    }
    state.finish(out);
}

/// A block in which some keys may be masked: masked keys get score `−∞`
/// without their K row being read, and their V row is never read either.
fn masked_block(
    plan: &RowPlan<'_>,
    first: usize,
    keys: &[f32],
    values: &[f32],
    scores: &mut [f32],
    state: &mut OnlineSoftmax,
    out: &mut [f32],
) {
    let d = plan.query.len().max(1);
    for ((j, s), key) in (first..).zip(scores.iter_mut()).zip(keys.chunks_exact(d)) {
        *s = 0.0;
        if !plan.is_masked(j) {
            dot_rows(plan.query, key, core::slice::from_mut(s));
        }
    }
    plan.finish_scores(first, scores);
    for (j, s) in (first..).zip(scores.iter_mut()) {
        if plan.is_masked(j) {
            *s = f32::NEG_INFINITY;
        }
    }
    let rescale = state.update(scores);
    if rescale != 1.0 {
        scale(out, rescale);
    }
    for ((j, &w), value) in (first..).zip(scores.iter()).zip(values.chunks_exact(out.len().max(1))) {
        if !plan.is_masked(j) {
            axpy(out, w, value);
        }
    }
}
