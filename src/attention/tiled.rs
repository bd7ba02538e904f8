//! The tiled engine: one query per vector lane.
//!
//! A block of `LANES` queries is transposed once into `qt` (row `d` holds
//! `q[·][d]` of every query in the block, pre-multiplied by `scale·log₂e`).
//! The keys then stream by in tiles of [`TILE_KEYS`]: each tile's K rows are
//! copied into a fixed-stride buffer, and the scores of key `j` for all the
//! block's queries form one vector, `Σ_d qt[d] · k[j][d]`: one FMA per key
//! and dimension, no horizontal sum. The online softmax is lane-wise (each
//! lane keeps its query's running max and sum) with one vectorized `2^x`
//! pass per tile, and `P·V` is register-blocked over [`QUERY_GROUP`]
//! queries × a few vectors of the value row, accumulating into the output
//! rows, which are normalised once at the end.
//!
//! Masking is by key range only (causal, window, alignment): a tile that
//! every query of the block sees entirely runs the fast path; a tile on the
//! edge of some query's range sets that query's out-of-range scores to `−∞`
//! by selection, and folds into each query only the V rows of its own range,
//! so a masked V row is never read for it and NaN there cannot leak. K rows
//! beyond every query's range are never read.

use super::row::Problem;
use crate::kernels::{exp2_nonpositive_lanes, scale};
use crate::simd::{self, F32s, LANES, REGISTERS};
use core::ops::Range;

/// Keys per tile: one score vector each, all kept in registers.
pub(crate) const TILE_KEYS: usize = if REGISTERS >= 32 { 16 } else { 8 };
/// Queries per `P·V` register block.
const QUERY_GROUP: usize = 4;
/// Vectors of a value row per `P·V` register block.
const VALUE_VECTORS: usize = if REGISTERS >= 32 { 4 } else { 2 };
/// Largest head dimension the tiled engine takes.
pub(crate) const MAX_D: usize = 128;
/// Whether this backend uses the tiled engine at all. The portable backend
/// (Cortex-M, RISC-V) keeps the per-row engine: less stack and less code.
pub(crate) const ENABLED: bool = REGISTERS >= 16;

/// One lane's worth of floats.
type Lanes = [f32; LANES];

/// Whether the tiled engine takes `problem`. It depends on the problem
/// only, not on the rows asked for, so that any split into row ranges gives
/// the same bits as the whole.
pub(crate) fn eligible(problem: &Problem<'_>) -> bool {
    ENABLED
        && problem.mask.is_none()
        && problem.bias.is_none()
        && problem.settings.alibi_slope.is_none()
        && problem.d <= MAX_D
        && (problem.nq * 2 >= LANES || problem.nk <= TILE_KEYS)
}

/// Output rows `first_row ..` into `out` (whole rows of `dv`).
pub(crate) fn attend_rows(problem: &Problem<'_>, first_row: usize, out: &mut [f32]) {
    // One instance per power of two of vectors per head-dimension row, up
    // to MAX_D; each has its own (fixed) stack frame.
    match problem.d.div_ceil(LANES) {
        0 | 1 => attend::<1>(problem, first_row, out),
        2 => attend::<2>(problem, first_row, out),
        3 | 4 => attend::<4>(problem, first_row, out),
        5..=8 if MAX_D / LANES >= 8 => attend::<8>(problem, first_row, out),
        9..=16 if MAX_D / LANES >= 16 => attend::<16>(problem, first_row, out),
        _ if MAX_D / LANES >= 32 => attend::<32>(problem, first_row, out),
        _ => {}
    }
}

/// Scratch of one call: the transposed query block, one K tile at a fixed
/// stride, and one tile of weights. `DL` vectors per head-dimension row.
struct Scratch<const DL: usize> {
    qt: [[Lanes; LANES]; DL],
    keys: [[Lanes; DL]; TILE_KEYS],
    weights: [Lanes; TILE_KEYS],
}

#[inline(never)]
fn attend<const DL: usize>(problem: &Problem<'_>, first_row: usize, out: &mut [f32]) {
    let dv = problem.dv.max(1);
    let rows = (out.len() / dv).min(problem.nq.saturating_sub(first_row));
    let out = out.get_mut(..rows * dv).unwrap_or_default();
    let factor = problem.scale() * core::f32::consts::LOG2_E;
    let mut scratch = Scratch::<DL> {
        qt: [[[0.0; LANES]; LANES]; DL],
        keys: [[[0.0; LANES]; DL]; TILE_KEYS],
        weights: [[0.0; LANES]; TILE_KEYS],
    };
    // `max(1)`: a chunk size the optimizer can see is non-zero (no panic path).
    for (b, block) in out.chunks_mut(LANES.saturating_mul(dv).max(1)).enumerate() {
        attend_block(problem, first_row + b * LANES, factor, &mut scratch, block);
    }
}

/// Per-lane key ranges of a block, with their union and intersection.
struct Ranges {
    lo: [usize; LANES],
    hi: [usize; LANES],
    union: Range<usize>,
    common: Range<usize>,
}

impl Ranges {
    fn new(problem: &Problem<'_>, first: usize, rows: usize) -> Self {
        if !problem.settings.causal && problem.settings.window.is_none() {
            let all = 0..if rows == 0 { 0 } else { problem.nk };
            return Ranges { lo: [0; LANES], hi: [problem.nk; LANES], union: all.clone(), common: all };
        }
        let mut r = Ranges {
            lo: [0; LANES],
            hi: [0; LANES],
            union: Range { start: usize::MAX, end: 0 },
            common: 0..usize::MAX,
        };
        for ((lo, hi), i) in r.lo.iter_mut().zip(r.hi.iter_mut()).zip(first..first + rows) {
            let keys = problem.row(i, 0.0).map_or(0..0, |plan| plan.keys);
            (*lo, *hi) = (keys.start, keys.end);
            if !keys.is_empty() {
                r.union = r.union.start.min(keys.start)..r.union.end.max(keys.end);
            }
            r.common = r.common.start.max(keys.start)..r.common.end.min(keys.end);
        }
        r
    }
}

/// Up to `LANES` output rows starting at query `first`.
fn attend_block<const DL: usize>(
    problem: &Problem<'_>,
    first: usize,
    factor: f32,
    scratch: &mut Scratch<DL>,
    out: &mut [f32],
) {
    let (d, dv) = (problem.d.max(1), problem.dv.max(1));
    let rows = out.len() / dv;
    let queries = problem.q.get(first * d..(first + rows) * d).unwrap_or_default();
    transpose_queries(queries, d, factor, &mut scratch.qt);
    let ranges = Ranges::new(problem, first, rows);
    out.fill(0.0);
    let mut max = simd::splat(f32::NEG_INFINITY);
    let mut sum = simd::splat(0.0);
    // Tiles start at multiples of TILE_KEYS whatever the block, so a row's
    // result does not depend on which rows share its block.
    let mut start = ranges.union.start - ranges.union.start % TILE_KEYS;
    while start < ranges.union.end {
        let end = ranges.union.end.min(start + TILE_KEYS - start % TILE_KEYS);
        let n = end - start;
        let keys = problem.k.get(start * d..end * d).unwrap_or_default();
        for (dst, src) in scratch.keys.iter_mut().zip(keys.chunks_exact(d)) {
            let (body, tail) = src.as_chunks::<LANES>();
            for (x, y) in dst.iter_mut().zip(body) {
                *x = *y;
            }
            if let Some(x) = dst.get_mut(body.len()) {
                for (x, y) in x.iter_mut().zip(tail) {
                    *x = *y;
                }
            }
        }
        let mut scores = scores_tile(&scratch.qt, &scratch.keys, d);
        for s in scores.iter_mut().skip(n) {
            *s = simd::splat(f32::NEG_INFINITY);
        }
        let whole = ranges.common.start <= start && end <= ranges.common.end;
        if !whole {
            mask_edges(&mut scores, start, &ranges, rows);
        }
        // Online softmax, lane-wise, in log2 units.
        let tile_max = scores.iter().fold(simd::splat(f32::NEG_INFINITY), |m, &s| simd::max(m, s));
        let new_max = simd::max(max, tile_max);
        let shift = simd::zero_if_neg_inf(new_max);
        let rescale = exp2_nonpositive_lanes(max - shift);
        let mut tile_sum = simd::splat(0.0);
        for (s, w) in scores.iter().zip(scratch.weights.iter_mut()).take(n) {
            let e = exp2_nonpositive_lanes(*s - shift);
            tile_sum += e;
            simd::store(e, w);
        }
        sum = simd::mul_add(sum, rescale, tile_sum);
        max = new_max;
        let mut alpha = [0.0; LANES];
        simd::store(rescale, &mut alpha);
        let values = problem.v.get(start * dv..end * dv).unwrap_or_default();
        let weights = scratch.weights.get(..n).unwrap_or_default();
        if whole {
            accumulate_all(weights, &alpha, values, out, dv);
        } else {
            accumulate_ranges(weights, &alpha, values, out, dv, start, &ranges);
        }
        start = end;
    }
    let mut sums = [0.0; LANES];
    simd::store(sum, &mut sums);
    for (row, &l) in out.chunks_exact_mut(dv).zip(&sums) {
        if l == 0.0 {
            row.fill(0.0);
        } else {
            scale(row, 1.0 / l);
        }
    }
}

/// `qt[c][l][lane] = queries[lane][c·LANES + l] · factor`, zero past `d` and
/// past the block's rows.
fn transpose_queries<const DL: usize>(queries: &[f32], d: usize, factor: f32, qt: &mut [[Lanes; LANES]; DL]) {
    let rows = queries.len() / d;
    let qt = qt.as_flattened_mut();
    if rows < LANES {
        qt.iter_mut().for_each(|r| *r = [0.0; LANES]);
    }
    for (lane, query) in queries.chunks_exact(d).enumerate() {
        for (row, &x) in qt.iter_mut().zip(query) {
            if let Some(slot) = row.get_mut(lane) {
                *slot = x * factor;
            }
        }
    }
}

/// Scores of every key in the tile for every query lane: `TILE_KEYS`
/// independent FMA chains over the head dimension, K broadcast from the
/// fixed-stride tile buffer.
#[inline(always)]
fn scores_tile<const DL: usize>(
    qt: &[[Lanes; LANES]; DL],
    keys: &[[Lanes; DL]; TILE_KEYS],
    d: usize,
) -> [F32s; TILE_KEYS] {
    let mut acc = [simd::splat(0.0); TILE_KEYS];
    for c in 0..DL {
        for l in 0..LANES.min(d.saturating_sub(c * LANES)) {
            let q = simd::load(&qt[c][l]);
            for (a, k) in acc.iter_mut().zip(keys) {
                *a = simd::mul_add(q, simd::splat(k[c][l]), *a);
            }
        }
    }
    acc
}

/// Sets to `−∞` the scores of keys outside each query's own range.
fn mask_edges(scores: &mut [F32s; TILE_KEYS], start: usize, ranges: &Ranges, rows: usize) {
    for (j, s) in (start..).zip(scores.iter_mut()) {
        let mut lanes = [0.0; LANES];
        simd::store(*s, &mut lanes);
        for ((x, &lo), &hi) in lanes.iter_mut().zip(&ranges.lo).zip(&ranges.hi).take(rows) {
            if j < lo || j >= hi {
                *x = f32::NEG_INFINITY;
            }
        }
        *s = simd::load(&lanes);
    }
}

/// `out[q] = out[q]·alpha[q] + Σ_j weights[j][q]·values[j]` for every row of
/// the block, every key of the tile.
fn accumulate_all(weights: &[Lanes], alpha: &Lanes, values: &[f32], out: &mut [f32], dv: usize) {
    let mut groups = out.chunks_exact_mut(QUERY_GROUP.saturating_mul(dv).max(1));
    let mut lane = 0;
    for rows in &mut groups {
        accumulate_group::<QUERY_GROUP>(weights, alpha, lane, values, rows, dv);
        lane += QUERY_GROUP;
    }
    for row in groups.into_remainder().chunks_exact_mut(dv) {
        accumulate_group::<1>(weights, alpha, lane, values, row, dv);
        lane += 1;
    }
}

/// [`accumulate_all`] on an edge tile: each query folds in only the keys
/// of its own range (its other V rows are not read).
fn accumulate_ranges(
    weights: &[Lanes],
    alpha: &Lanes,
    values: &[f32],
    out: &mut [f32],
    dv: usize,
    start: usize,
    ranges: &Ranges,
) {
    for (lane, row) in out.chunks_exact_mut(dv).enumerate() {
        let lo = ranges.lo.get(lane).map_or(0, |&lo| lo.saturating_sub(start));
        let hi = ranges.hi.get(lane).map_or(0, |&hi| hi.saturating_sub(start)).min(weights.len());
        let lo = lo.min(hi);
        let w = weights.get(lo..hi).unwrap_or_default();
        let v = values.get(lo * dv..hi * dv).unwrap_or_default();
        accumulate_group::<1>(w, alpha, lane, v, row, dv);
    }
}

/// `G` consecutive output rows (query lanes `lane ..`): rescale by `alpha`
/// and add the weighted value rows, `VALUE_VECTORS` vectors at a time.
#[inline(never)]
fn accumulate_group<const G: usize>(
    weights: &[Lanes],
    alpha: &Lanes,
    lane: usize,
    values: &[f32],
    rows: &mut [f32],
    dv: usize,
) {
    let mut rows_it = rows.chunks_exact_mut(dv);
    let mut out: [&mut [f32]; G] = core::array::from_fn(|_| rows_it.next().unwrap_or_default());
    let a: [f32; G] = core::array::from_fn(|i| alpha.get(lane + i).copied().unwrap_or(0.0));
    let full = dv / LANES;
    let mut col = 0;
    while col + VALUE_VECTORS <= full {
        accumulate_columns::<G, VALUE_VECTORS>(weights, lane, &a, values, dv, &mut out, col);
        col += VALUE_VECTORS;
    }
    if VALUE_VECTORS > 2 && col + 2 <= full {
        accumulate_columns::<G, 2>(weights, lane, &a, values, dv, &mut out, col);
        col += 2;
    }
    while col < full {
        accumulate_columns::<G, 1>(weights, lane, &a, values, dv, &mut out, col);
        col += 1;
    }
    if !dv.is_multiple_of(LANES) {
        accumulate_tail::<G>(weights, lane, &a, values, dv, &mut out, full * LANES);
    }
}

/// The weights of lanes `lane .. lane + G` of one tile row.
#[inline(always)]
fn group_weights<const G: usize>(w: &Lanes, lane: usize) -> [F32s; G] {
    let mut p = [simd::splat(0.0); G];
    if let Some(ws) = w.get(lane..lane + G) {
        for (p, &x) in p.iter_mut().zip(ws) {
            *p = simd::splat(x);
        }
    }
    p
}

/// Vectors `col .. col + W` of `G` output rows.
#[inline(always)]
fn accumulate_columns<const G: usize, const W: usize>(
    weights: &[Lanes],
    lane: usize,
    alpha: &[f32; G],
    values: &[f32],
    dv: usize,
    out: &mut [&mut [f32]; G],
    col: usize,
) {
    if lane + G > LANES {
        return;
    }
    let mut acc = [[simd::splat(0.0); W]; G];
    for ((acc, row), &a) in acc.iter_mut().zip(out.iter()).zip(alpha) {
        let av = simd::splat(a);
        if let Some(vs) = row.as_chunks::<LANES>().0.get(col..col + W) {
            for (acc, x) in acc.iter_mut().zip(vs) {
                *acc = simd::load(x) * av;
            }
        }
    }
    for (w, value) in weights.iter().zip(values.chunks_exact(dv)) {
        let Some(vs) = value.as_chunks::<LANES>().0.get(col..col + W) else { break };
        let mut x = [simd::splat(0.0); W];
        for (x, v) in x.iter_mut().zip(vs) {
            *x = simd::load(v);
        }
        let p = group_weights::<G>(w, lane);
        for (acc, p) in acc.iter_mut().zip(p) {
            for (acc, x) in acc.iter_mut().zip(x) {
                *acc = simd::mul_add(p, x, *acc);
            }
        }
    }
    for (acc, row) in acc.iter().zip(out.iter_mut()) {
        if let Some(vs) = row.as_chunks_mut::<LANES>().0.get_mut(col..col + W) {
            for (acc, v) in acc.iter().zip(vs) {
                simd::store(*acc, v);
            }
        }
    }
}

/// The last `dv % LANES` columns of `G` output rows, from offset `at`.
#[inline(always)]
fn accumulate_tail<const G: usize>(
    weights: &[Lanes],
    lane: usize,
    alpha: &[f32; G],
    values: &[f32],
    dv: usize,
    out: &mut [&mut [f32]; G],
    at: usize,
) {
    if lane + G > LANES {
        return;
    }
    let mut acc = [simd::splat(0.0); G];
    for ((acc, row), &a) in acc.iter_mut().zip(out.iter()).zip(alpha) {
        *acc = simd::load_padded(row.get(at..).unwrap_or_default(), 0.0) * simd::splat(a);
    }
    for (w, value) in weights.iter().zip(values.chunks_exact(dv)) {
        let x = simd::load_padded(value.get(at..).unwrap_or_default(), 0.0);
        let p = group_weights::<G>(w, lane);
        for (acc, p) in acc.iter_mut().zip(p) {
            *acc = simd::mul_add(p, x, *acc);
        }
    }
    for (acc, row) in acc.iter().zip(out.iter_mut()) {
        simd::store_partial(*acc, row.get_mut(at..).unwrap_or_default());
    }
}
