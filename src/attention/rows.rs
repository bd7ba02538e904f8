//! The row engine: each query row streams over blocks of keys with an
//! online softmax, its output row the accumulator. Takes every problem
//! (every mask, bias and ALiBi), and is the only engine of the portable
//! backend (Cortex-M, RISC-V) and of decode-like problems (few queries).
//!
//! Per block of `4·L` keys: the scores of `L` keys at a time as one vector
//! (`L` dot products along the head dimension, then one transposing lane
//! sum), masked keys set to `−∞` without reading their K row; then the
//! softmax step on the block's vectors, in natural units (the running
//! maximum is subtracted before the conversion to base 2); then the
//! weighted V rows of the visible keys into the output row.

use super::logits::Running;
use super::problem::{OutRows, Problem, RowPlan};
use crate::kernels::{scale_with, weights_times_rows};
use crate::simd::Simd;

/// Keys per block, at most (the block is [`block_keys`]).
const MAX_BLOCK: usize = 64;

/// Keys per block with `lanes` lanes: `4·L`, at most [`MAX_BLOCK`].
pub(crate) const fn block_keys(lanes: usize) -> usize {
    let keys = 4 * lanes;
    if keys < MAX_BLOCK { keys } else { MAX_BLOCK }
}
/// Vectors of the output row folded per pass over a block's V rows.
const VALUE_VECTORS: usize = 4;

/// Output rows `first_row ..` into `out`, as many as it holds and `nq` allows.
#[inline(always)]
pub(crate) fn attend<const L: usize, S: Simd<L>>(s: S, problem: &Problem<'_>, first_row: usize, mut out: OutRows<'_>) {
    let scale = problem.scale();
    let rows = out.len();
    for (r, out_row) in out.rows(rows).enumerate() {
        // Checked: `first_row + r` could step past `usize::MAX`.
        match first_row.checked_add(r).and_then(|i| problem.row(i, scale)) {
            Some(plan) => attend_row(s, problem, &plan, out_row),
            None => break,
        }
    }
}

/// One output row: `softmax(q·Kᵀ·scale + bias)·V` over the visible keys.
#[inline(never)]
fn attend_row<const L: usize, S: Simd<L>>(s: S, problem: &Problem<'_>, plan: &RowPlan<'_>, out: &mut [f32]) {
    // Not inlined (shared by every problem shape): re-enters the backend.
    s.vectorize(
        #[inline(always)]
        || {
            out.fill(0.0);
            let block = block_keys(L);
            let masking = plan.has_per_key_masking();
            let mut state = Running::new();
            let mut scores = [0.0f32; MAX_BLOCK];
            let mut start = plan.keys.start;
            while start < plan.keys.end {
                let end = plan.keys.end.min(start + block);
                let n = end - start;
                let tile = scores.get_mut(..n).unwrap_or_default();
                score_block(s, problem, plan, start, tile);
                plan.finish_scores(s, start, tile);
                if masking {
                    for (j, x) in (start..).zip(tile.iter_mut()) {
                        if plan.is_masked(j) {
                            *x = f32::NEG_INFINITY;
                        }
                    }
                }
                let rescale = state.update(s, tile);
                if rescale != 1.0 {
                    scale_with(s, out, rescale);
                }
                accumulate(s, problem, plan, start, tile, out);
                start = end;
            }
            state.finish(s, out);
        },
    )
}

/// Raw dot products `q·k` of keys `first ..` into `scores`; masked keys get
/// `0` without their K row being read.
#[inline(always)]
fn score_block<const L: usize, S: Simd<L>>(
    s: S,
    problem: &Problem<'_>,
    plan: &RowPlan<'_>,
    first: usize,
    scores: &mut [f32],
) {
    let masking = plan.has_per_key_masking();
    let mut groups = scores.chunks_mut(L);
    let mut j = first;
    for group in &mut groups {
        let keys: [&[f32]; L] = core::array::from_fn(|i| {
            let key = j + i;
            let visible = i < group.len() && !(masking && plan.is_masked(key));
            if visible { problem.k.row(key) } else { &[] }
        });
        let sums = s.to_array(dot_lanes(s, plan.query, keys));
        for (x, &sum) in group.iter_mut().zip(&sums) {
            *x = sum;
        }
        j += L;
    }
}

/// Lane `i` = `query · keys[i]` (an empty key gives `0`): one accumulator per
/// key along the head dimension, in order, the zero-padded tail, then one
/// transposing lane sum for all `L` keys.
#[inline(always)]
pub(crate) fn dot_lanes<const L: usize, S: Simd<L>>(s: S, query: &[f32], keys: [&[f32]; L]) -> S::V {
    const UNROLL: usize = 4;
    let (qv, qt) = query.as_chunks::<L>();
    let kv = keys.map(|k| k.as_chunks::<L>());
    let mut acc = [s.zero(); L];
    let (q4, q_rest) = qv.as_chunks::<UNROLL>();
    let k4 = kv.map(|(v, _)| v.as_chunks::<UNROLL>().0);
    for (c, q) in q4.iter().enumerate() {
        let q = q.map(|x| s.load(&x));
        for (acc, k) in acc.iter_mut().zip(&k4) {
            // One check per key per UNROLL vectors; an empty key reads zeros.
            let k = k.get(c).copied().unwrap_or([[0.0; L]; UNROLL]);
            for (q, k) in q.iter().zip(&k) {
                *acc = s.mul_add(*q, s.load(k), *acc);
            }
        }
    }
    let done = q4.len() * UNROLL;
    for (c, q) in (done..).zip(q_rest) {
        let q = s.load(q);
        for (acc, (k, _)) in acc.iter_mut().zip(&kv) {
            *acc = s.mul_add(q, s.load(k.get(c).unwrap_or(&[0.0; L])), *acc);
        }
    }
    if !qt.is_empty() {
        let q = s.load_padded(qt, 0.0);
        for (acc, (_, kt)) in acc.iter_mut().zip(&kv) {
            *acc = s.mul_add(q, s.load_padded(kt, 0.0), *acc);
        }
    }
    s.reduce_add_each(acc)
}

/// `out += Σⱼ wⱼ·vⱼ` over the block's visible keys (masked V rows are not
/// read), `VALUE_VECTORS` vectors of the output row per pass.
#[inline(always)]
fn accumulate<const L: usize, S: Simd<L>>(
    s: S,
    problem: &Problem<'_>,
    plan: &RowPlan<'_>,
    first: usize,
    weights: &[f32],
    out: &mut [f32],
) {
    let masking = plan.has_per_key_masking();
    let keys = || (first..).zip(weights).filter(move |(j, _)| !(masking && plan.is_masked(*j)));
    let (body, tail) = out.as_chunks_mut::<L>();
    let mut groups = body.chunks_exact_mut(VALUE_VECTORS);
    let mut col = 0;
    for group in &mut groups {
        let mut acc = [core::array::from_fn(|i| s.load(group.get(i).unwrap_or(&[0.0; L])))];
        let pairs = keys()
            .filter_map(|(j, w)| Some((core::array::from_ref(w), value_vectors::<L, VALUE_VECTORS>(problem, j, col)?)));
        weights_times_rows(s, pairs, &mut acc);
        for (x, &v) in group.iter_mut().zip(&acc[0]) {
            s.store(v, x);
        }
        col += VALUE_VECTORS;
    }
    for x in groups.into_remainder() {
        let mut acc = [[s.load(x)]];
        let pairs =
            keys().filter_map(|(j, w)| Some((core::array::from_ref(w), value_vectors::<L, 1>(problem, j, col)?)));
        weights_times_rows(s, pairs, &mut acc);
        s.store(acc[0][0], x);
        col += 1;
    }
    if !tail.is_empty() {
        let at = col * L;
        let mut acc = s.load_padded(tail, 0.0);
        for (j, &w) in keys() {
            let v = s.load_padded(problem.v.row(j).get(at..).unwrap_or_default(), 0.0);
            acc = s.mul_add(s.splat(w), v, acc);
        }
        s.store_partial(acc, tail);
    }
}

/// Vectors `col .. col + N` of V row `j` (`None` past the row: never, by
/// the invariants).
#[inline(always)]
fn value_vectors<'a, const L: usize, const N: usize>(
    problem: &Problem<'a>,
    j: usize,
    col: usize,
) -> Option<&'a [[f32; L]; N]> {
    problem.v.row(j).as_chunks::<L>().0.get(col..)?.first_chunk::<N>()
}
