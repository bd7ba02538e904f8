//! Attention that also writes the `NQ × NK` weight matrix, for inspection and
//! teaching: scores row, exact three-pass softmax, weighted sum of values.

use super::row::{Problem, RowPlan};
use crate::kernels::{axpy, axpy_rows, dot_rows, softmax};

/// Fills `weights` (`nq·nk`, row-major) and `out` (`nq·dv`).
pub(crate) fn attend_with_weights(problem: &Problem<'_>, out: &mut [f32], weights: &mut [f32]) {
    let scale = problem.scale();
    // Zips over `&mut` chunk iterators (see `dot_rows`: no panic path at
    // any opt-level).
    let mut weight_rows = weights.chunks_exact_mut(problem.nk.max(1));
    let rows = out.chunks_exact_mut(problem.dv.max(1)).zip(&mut weight_rows);
    for (i, (out_row, weight_row)) in rows.enumerate() {
        if let Some(plan) = problem.row(i, scale) {
            weights_row(problem, &plan, weight_row);
            softmax(weight_row);
            weighted_values(problem, &plan, weight_row, out_row);
        }
    }
}

/// Scaled, biased scores of every key; `−∞` for keys the row may not see
/// (their K rows are not read).
fn weights_row(problem: &Problem<'_>, plan: &RowPlan<'_>, row: &mut [f32]) {
    let d = problem.d;
    row.fill(f32::NEG_INFINITY);
    let visible = row.get_mut(plan.keys.clone()).unwrap_or_default();
    let keys = problem.k.get(plan.keys.start * d..plan.keys.end * d).unwrap_or_default();
    if plan.has_per_key_masking() {
        for ((j, s), key) in plan.keys.clone().zip(visible.iter_mut()).zip(&mut keys.chunks_exact(d.max(1))) {
            *s = 0.0;
            if !plan.is_masked(j) {
                dot_rows(plan.query, key, core::slice::from_mut(s));
            }
        }
    } else {
        dot_rows(plan.query, keys, visible);
    }
    plan.finish_scores(plan.keys.start, visible);
    for (j, s) in plan.keys.clone().zip(visible.iter_mut()) {
        if plan.is_masked(j) {
            *s = f32::NEG_INFINITY;
        }
    }
}

/// `out = Σⱼ wⱼ·vⱼ` over the keys the row may see; other V rows are not read.
fn weighted_values(problem: &Problem<'_>, plan: &RowPlan<'_>, weights: &[f32], out: &mut [f32]) {
    let dv = problem.dv;
    out.fill(0.0);
    let visible = weights.get(plan.keys.clone()).unwrap_or_default();
    // Every score −∞ (softmax gave all zeros): the zero row, whatever the
    // values (a zero weight times an infinite value would be NaN).
    if visible.iter().all(|&w| w == 0.0) {
        return;
    }
    let values = problem.v.get(plan.keys.start * dv..plan.keys.end * dv).unwrap_or_default();
    if plan.has_per_key_masking() {
        for ((j, &w), value) in plan.keys.clone().zip(visible).zip(&mut values.chunks_exact(dv.max(1))) {
            if !plan.is_masked(j) {
                axpy(out, w, value);
            }
        }
    } else {
        axpy_rows(out, visible, values);
    }
}
