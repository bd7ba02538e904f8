//! Attention that also writes the `NQ × NK` weight matrix, for inspection and
//! teaching: scores row, exact three-pass softmax, weighted sum of values.

use super::problem::{Problem, RowPlan};
use super::rows::dot_lanes;
use crate::kernels::{axpy_with, softmax_with};
use crate::simd::Simd;

/// Fills `weights` (`nq·nk`, row-major) and `out` (`nq·dv`, row-major).
#[inline(always)]
pub(crate) fn attend_with_weights<const L: usize, S: Simd<L>>(
    s: S,
    problem: &Problem<'_>,
    out: &mut [f32],
    weights: &mut [f32],
) {
    let scale = problem.scale();
    // Zips over `&mut` chunk iterators (see `dot_rows`: no panic path at
    // any opt-level).
    let mut weight_rows = weights.chunks_exact_mut(problem.nk.max(1));
    let rows = out.chunks_exact_mut(problem.dv.max(1)).zip(&mut weight_rows);
    for (i, (out_row, weight_row)) in rows.enumerate() {
        if let Some(plan) = problem.row(i, scale) {
            weights_row(s, problem, &plan, weight_row);
            s.vectorize(
                #[inline(always)]
                || softmax_with(s, weight_row),
            );
            weighted_values(s, problem, &plan, weight_row, out_row);
        }
    }
}

/// Scaled, biased scores of every key (the row engine's dot products);
/// `−∞` for keys the row may not see (their K rows are not read).
#[inline(never)]
fn weights_row<const L: usize, S: Simd<L>>(s: S, problem: &Problem<'_>, plan: &RowPlan<'_>, row: &mut [f32]) {
    s.vectorize(
        #[inline(always)]
        || {
            row.fill(f32::NEG_INFINITY);
            let visible = row.get_mut(plan.keys.clone()).unwrap_or_default();
            let masking = plan.has_per_key_masking();
            for (g, group) in visible.chunks_mut(L).enumerate() {
                let first = plan.keys.start + g * L;
                let keys: [&[f32]; L] = core::array::from_fn(|i| {
                    let j = first + i;
                    if i < group.len() && !(masking && plan.is_masked(j)) { problem.k.row(j) } else { &[] }
                });
                let sums = s.to_array(dot_lanes(s, plan.query, keys));
                for (x, &sum) in group.iter_mut().zip(&sums) {
                    *x = sum;
                }
            }
            plan.finish_scores(s, plan.keys.start, visible);
            for (j, x) in plan.keys.clone().zip(visible.iter_mut()) {
                if plan.is_masked(j) {
                    *x = f32::NEG_INFINITY;
                }
            }
        },
    )
}

/// `out = Σⱼ wⱼ·vⱼ` over the keys the row may see; other V rows are not read.
#[inline(never)]
fn weighted_values<const L: usize, S: Simd<L>>(
    s: S,
    problem: &Problem<'_>,
    plan: &RowPlan<'_>,
    weights: &[f32],
    out: &mut [f32],
) {
    s.vectorize(
        #[inline(always)]
        || {
            out.fill(0.0);
            let visible = weights.get(plan.keys.clone()).unwrap_or_default();
            // Every score −∞ (softmax gave all zeros): the zero row, whatever the
            // values (a zero weight times an infinite value would be NaN).
            if visible.iter().all(|&w| w == 0.0) {
                return;
            }
            for (j, &w) in plan.keys.clone().zip(visible) {
                if !plan.is_masked(j) {
                    axpy_with(s, out, w, problem.v.row(j));
                }
            }
        },
    )
}
