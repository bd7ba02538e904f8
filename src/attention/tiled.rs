//! The tiled engine: a block of `QV·L` queries, one per vector lane,
//! against tiles of keys, with GEMM register tiles for both products.
//!
//! - The block's queries are transposed once into `qt` (row `d` holds
//!   component `d` of every query, `QV` vectors). K and V are read in place,
//!   in their own row-major layout, which is already the layout the
//!   microkernels want: no K or V packing.
//! - `Q·Kᵀ`: per tile of [`TILE_KEYS`] keys, [`rows_times_panel`] over
//!   `MRK` keys × `QV` query vectors: `MRK` K entries broadcast against
//!   `QV` vectors of `qt` per step. The scores come out one vector per key
//!   and query vector, lanes = queries: the softmax needs no horizontal
//!   reduction.
//! - The online softmax per lane, in natural units ([`super::logits`]).
//! - `P·V`: [`weights_times_rows`] over `MRP` queries × `NVP` vectors of
//!   the value rows, accumulating into the output rows (rescaled on load),
//!   which are normalised once at the end.
//!
//! Specialised by the head and value dimensions ([`SIZES`]): every row is
//! a fixed-size array, so the register tiles' loops have constant bounds
//! and no bounds checks. Other dimensions run on the row engine.
//!
//! Masking is by key range only (causal, window, alignment): tiles beyond
//! every query's range are skipped (their K and V rows are never read); a
//! tile every query of the block sees entirely runs the fast path; on an
//! edge tile, out-of-range scores are set to `−∞` by selection and each
//! query folds in only the V rows of its own range, so NaN in a V row it
//! may not see cannot reach it.
//!
//! Every operation on a query's lane is independent of the block's other
//! lanes, and tiles start at multiples of [`TILE_KEYS`] whatever the block,
//! so any split into row ranges gives the same bits as the whole.

use super::logits::exp_shifted;
use super::problem::{OutRows, Problem};
use crate::kernels::{rows_times_panel, scale_with, weights_times_rows};
use crate::simd::Simd;
use core::ops::Range;

/// Keys per tile: the scores of one tile are kept in the scratch.
pub(crate) const TILE_KEYS: usize = 48;
/// The head dimensions the tiled engine is specialised for (the value
/// dimension must equal the head dimension): multiples of 16, so whole
/// vectors on every backend.
pub(crate) const SIZES: [usize; 8] = [16, 32, 48, 64, 80, 96, 128, 256];

/// Whether the tiled engine has an instance for head dimension `d` and
/// value dimension `dv`.
pub(crate) fn fits(d: usize, dv: usize) -> bool {
    d == dv && SIZES.contains(&d)
}

/// Output rows `first_row ..` into `out` (the caller checked [`fits`]),
/// with the tile shapes of backend `S`.
#[inline(always)]
pub(crate) fn attend<const L: usize, S: Simd<L>>(s: S, problem: &Problem<'_>, first_row: usize, out: OutRows<'_>) {
    match problem.d {
        16 => shaped::<L, S, 16>(s, problem, first_row, out),
        32 => shaped::<L, S, 32>(s, problem, first_row, out),
        48 => shaped::<L, S, 48>(s, problem, first_row, out),
        64 => shaped::<L, S, 64>(s, problem, first_row, out),
        80 => shaped::<L, S, 80>(s, problem, first_row, out),
        96 => shaped::<L, S, 96>(s, problem, first_row, out),
        128 => shaped::<L, S, 128>(s, problem, first_row, out),
        256 => shaped::<L, S, 256>(s, problem, first_row, out),
        _ => debug_assert!(false, "the tiled engine has no instance for d = {}", problem.d),
    }
}

/// The engine for head and value dimension `D`, tile shapes by backend.
#[inline(always)]
fn shaped<const L: usize, S: Simd<L>, const D: usize>(s: S, problem: &Problem<'_>, first_row: usize, out: OutRows<'_>) {
    if S::REGISTERS >= 32 {
        attend_with::<L, S, D, 2, 12, 4, 4>(s, problem, first_row, out);
    } else if S::FUSED {
        attend_with::<L, S, D, 2, 6, 4, 2>(s, problem, first_row, out);
    } else {
        attend_with::<L, S, D, 2, 4, 4, 2>(s, problem, first_row, out);
    }
}

/// Per-call scratch: the transposed queries of a block and one tile of
/// scores (later weights), `QV` vectors per row.
struct Scratch<const L: usize, const QV: usize, const D: usize> {
    qt: [[[f32; L]; QV]; D],
    tile: [[[f32; L]; QV]; TILE_KEYS],
}

/// The engine with `QV` query vectors per block, `MRK` keys per score tile,
/// `MRP` queries × `NVP` value vectors per `P·V` tile.
#[inline(always)]
#[allow(clippy::many_single_char_names)]
fn attend_with<
    const L: usize,
    S: Simd<L>,
    const D: usize,
    const QV: usize,
    const MRK: usize,
    const MRP: usize,
    const NVP: usize,
>(
    s: S,
    problem: &Problem<'_>,
    first_row: usize,
    out: OutRows<'_>,
) {
    let rows = out.len().min(problem.nq.saturating_sub(first_row));
    let block = QV * L;
    let mut scratch = Scratch::<L, QV, D> { qt: [[[0.0; L]; QV]; D], tile: [[[0.0; L]; QV]; TILE_KEYS] };
    let (stride, width) = (out.stride.max(1), out.width);
    // `max(1)`: chunk sizes the optimizer sees are non-zero (no panic path).
    let blocks = out.data.chunks_mut(block.saturating_mul(stride).max(1)).take(rows.div_ceil(block));
    for (b, data) in blocks.enumerate() {
        let first = first_row + b * block;
        let n = block.min(rows - b * block);
        let out = OutRows { data, stride, width };
        attend_block::<L, S, D, QV, MRK, MRP, NVP>(s, problem, first, n, &mut scratch, out);
    }
}

/// Per-lane key ranges of a block, with their union and intersection.
struct Ranges<const N: usize> {
    lo: [usize; N],
    hi: [usize; N],
    union: Range<usize>,
    common: Range<usize>,
}

impl<const N: usize> Ranges<N> {
    fn new(problem: &Problem<'_>, first: usize, rows: usize) -> Self {
        // The union starts inverted (`start > end`) and grows.
        let mut r =
            Ranges { lo: [0; N], hi: [0; N], union: Range { start: usize::MAX, end: 0 }, common: 0..usize::MAX };
        for ((lo, hi), i) in r.lo.iter_mut().zip(r.hi.iter_mut()).zip(first..first + rows) {
            let keys = problem.key_range(problem.position(i));
            (*lo, *hi) = (keys.start, keys.end);
            if !keys.is_empty() {
                r.union = r.union.start.min(keys.start)..r.union.end.max(keys.end);
            }
            r.common = r.common.start.max(keys.start)..r.common.end.min(keys.end);
        }
        if r.union.is_empty() {
            r.union = 0..0;
        }
        r
    }
}

/// Zeros to stand in for a row a view does not hold (never, by the
/// invariants: only so that reference arrays can be filled without panics).
static ZEROS: [f32; 256] = [0.0; 256];

/// Rows `keys` of `rows` as fixed-size arrays, into `refs` (the rest of
/// `refs` keeps `zero`); the filled part.
#[inline(always)]
fn fixed_rows<'a, 'r, const D: usize>(
    rows: &super::problem::Rows<'a>,
    keys: Range<usize>,
    zero: &'a [f32; D],
    refs: &'r mut [&'a [f32; D]; TILE_KEYS],
) -> &'r [&'a [f32; D]] {
    let n = keys.len().min(TILE_KEYS);
    for (r, j) in refs.iter_mut().zip(keys) {
        *r = rows.row(j).first_chunk::<D>().unwrap_or(zero);
    }
    refs.get(..n).unwrap_or_default()
}

/// `n` output rows starting at query `first`.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn attend_block<
    const L: usize,
    S: Simd<L>,
    const D: usize,
    const QV: usize,
    const MRK: usize,
    const MRP: usize,
    const NVP: usize,
>(
    s: S,
    problem: &Problem<'_>,
    first: usize,
    n: usize,
    scratch: &mut Scratch<L, QV, D>,
    mut out: OutRows<'_>,
) {
    // Not inlined (one copy per backend and shape, shared by every call), so
    // it re-enters the backend's target features.
    s.vectorize(
        #[inline(always)]
        || {
            let Some(zero) = ZEROS.first_chunk::<D>() else { return };
            transpose_queries::<L, QV, D>(problem, first, n, &mut scratch.qt);
            // `QV·L` lanes; arrays sized by the largest block any backend uses.
            let ranges = Ranges::<32>::new(problem, first, n);
            let scale = s.splat(problem.scale());
            // The block's output rows: the accumulators, zero before the first tile.
            let mut rows: [&mut [f32]; 32] = core::array::from_fn(|_| &mut [][..]);
            for (slot, row) in rows.iter_mut().zip(out.rows(n)) {
                row.fill(0.0);
                *slot = row;
            }
            let rows = rows.get_mut(..n).unwrap_or_default();
            let mut max = [s.splat(f32::NEG_INFINITY); QV];
            let mut sum = [s.zero(); QV];
            let (mut krefs, mut vrefs) = ([zero; TILE_KEYS], [zero; TILE_KEYS]);
            let mut start = ranges.union.start - ranges.union.start % TILE_KEYS;
            while start < ranges.union.end {
                let keys = start.max(ranges.union.start)..ranges.union.end.min(start + TILE_KEYS);
                let tile = scratch.tile.get_mut(..keys.len()).unwrap_or_default();
                let k = fixed_rows::<D>(&problem.k, keys.clone(), zero, &mut krefs);
                score_tile::<L, S, D, QV, MRK>(s, &scratch.qt, k, scale, tile);
                let whole = ranges.common.start <= keys.start && keys.end <= ranges.common.end;
                if !whole {
                    mask_edges(&ranges, keys.start, n, tile);
                }
                let mut alpha = [[0.0; L]; QV];
                softmax_tile(s, tile, &mut max, &mut sum, &mut alpha);
                let alpha = alpha.as_flattened();
                let v = fixed_rows::<D>(&problem.v, keys.clone(), zero, &mut vrefs);
                if whole {
                    accumulate_all::<L, S, D, QV, MRP, NVP>(s, tile, v, alpha, rows);
                } else {
                    accumulate_ranges::<L, S, D, QV, NVP>(s, keys.start, tile, v, alpha, &ranges, rows);
                }
                start += TILE_KEYS - start % TILE_KEYS;
            }
            let mut sums = [[0.0; L]; QV];
            for (l, dst) in sum.iter().zip(sums.iter_mut()) {
                s.store(*l, dst);
            }
            for (row, &l) in rows.iter_mut().zip(sums.as_flattened()) {
                if l == 0.0 {
                    row.fill(0.0);
                } else {
                    scale_with(s, row, 1.0 / l);
                }
            }
        },
    )
}

/// `qt[c][v][lane] = q[first + v·L + lane][c]`, zero past the block's rows.
#[inline(always)]
fn transpose_queries<const L: usize, const QV: usize, const D: usize>(
    problem: &Problem<'_>,
    first: usize,
    n: usize,
    qt: &mut [[[f32; L]; QV]; D],
) {
    if n < QV * L {
        qt.iter_mut().for_each(|r| *r = [[0.0; L]; QV]);
    }
    for lane in 0..n {
        let query = problem.q.row(first + lane);
        let (v, l) = (lane / L, lane % L);
        for (row, &x) in qt.iter_mut().zip(query) {
            if let Some(slot) = row.get_mut(v).and_then(|r| r.get_mut(l)) {
                *slot = x;
            }
        }
    }
}

/// Scores `q·k·scale` of the tile's keys for every lane: `MRK` keys per
/// register tile, then one key at a time.
#[inline(always)]
fn score_tile<const L: usize, S: Simd<L>, const D: usize, const QV: usize, const MRK: usize>(
    s: S,
    qt: &[[[f32; L]; QV]; D],
    keys: &[&[f32; D]],
    scale: S::V,
    tile: &mut [[[f32; L]; QV]],
) {
    let mut groups = tile.chunks_exact_mut(MRK);
    let mut key_groups = keys.chunks_exact(MRK);
    for (group, k) in (&mut groups).zip(&mut key_groups) {
        let Some(k) = k.first_chunk::<MRK>() else { break };
        let mut acc = [[s.zero(); QV]; MRK];
        rows_times_panel(s, k, qt, &mut acc);
        for (dst, acc) in group.iter_mut().zip(&acc) {
            for (dst, &a) in dst.iter_mut().zip(acc) {
                s.store(a * scale, dst);
            }
        }
    }
    for (dst, k) in groups.into_remainder().iter_mut().zip(key_groups.remainder()) {
        let mut acc = [[s.zero(); QV]; 1];
        rows_times_panel(s, &[*k], qt, &mut acc);
        for (dst, &a) in dst.iter_mut().zip(&acc[0]) {
            s.store(a * scale, dst);
        }
    }
}

/// Sets to `−∞` the scores of keys outside each lane's own range.
/// Inlined into [`attend_block`]'s backend: out of line, a default
/// (runtime-dispatched) build compiled it for SSE2, which cost W7 14 %.
#[inline(always)]
fn mask_edges<const L: usize, const QV: usize>(
    ranges: &Ranges<32>,
    first: usize,
    rows: usize,
    tile: &mut [[[f32; L]; QV]],
) {
    for (j, scores) in (first..).zip(tile.iter_mut()) {
        let lanes = scores.as_flattened_mut();
        for ((x, &lo), &hi) in lanes.iter_mut().zip(&ranges.lo).zip(&ranges.hi).take(rows) {
            if j < lo || j >= hi {
                *x = f32::NEG_INFINITY;
            }
        }
    }
}

/// The online softmax step of one tile, lane-wise: the running maxima and
/// sums move on, the tile's scores become their weights `e^(x − m)`, and
/// `alpha` gets each lane's rescale factor `e^(m_old − m_new)`.
#[inline(always)]
fn softmax_tile<const L: usize, S: Simd<L>, const QV: usize>(
    s: S,
    tile: &mut [[[f32; L]; QV]],
    max: &mut [S::V; QV],
    sum: &mut [S::V; QV],
    alpha: &mut [[f32; L]; QV],
) {
    for (v, ((m, l), alpha)) in max.iter_mut().zip(sum.iter_mut()).zip(alpha.iter_mut()).enumerate() {
        let tile_max =
            tile.iter().filter_map(|x| x.get(v)).fold(s.splat(f32::NEG_INFINITY), |acc, x| s.max(s.load(x), acc));
        let new_max = s.max(tile_max, *m);
        let shift = s.zero_if_neg_inf(new_max);
        let rescale = exp_shifted(s, *m, shift);
        let mut tile_sum = s.zero();
        for x in tile.iter_mut().filter_map(|x| x.get_mut(v)) {
            let w = exp_shifted(s, s.load(x), shift);
            tile_sum = tile_sum + w;
            s.store(w, x);
        }
        *l = s.mul_add(*l, rescale, tile_sum);
        *m = new_max;
        s.store(rescale, alpha);
    }
}

/// `out[i] = out[i]·alpha[i] + Σⱼ w[j][i]·v[j]` for every row of the block,
/// every key of the tile: per group of `NVP` value vectors, `MRP` rows per
/// register tile.
#[inline(never)]
fn accumulate_all<const L: usize, S: Simd<L>, const D: usize, const QV: usize, const MRP: usize, const NVP: usize>(
    s: S,
    tile: &[[[f32; L]; QV]],
    values: &[&[f32; D]],
    alpha: &[f32],
    rows: &mut [&mut [f32]],
) {
    s.vectorize(
        #[inline(always)]
        || columns::<L, S, D, QV, MRP, NVP>(s, tile, values, alpha, 0, rows),
    )
}

/// Every value vector of `rows` (block lanes `lane ..`): `NVP` vectors at a
/// time, then one at a time, `MRP` rows per register tile.
#[inline(always)]
fn columns<const L: usize, S: Simd<L>, const D: usize, const QV: usize, const MRP: usize, const NVP: usize>(
    s: S,
    tile: &[[[f32; L]; QV]],
    values: &[&[f32; D]],
    alpha: &[f32],
    lane: usize,
    rows: &mut [&mut [f32]],
) {
    let vectors = D / L;
    let mut col = 0;
    while col + NVP <= vectors {
        column_groups::<L, S, D, QV, MRP, NVP>(s, tile, values, alpha, lane, rows, col);
        col += NVP;
    }
    while col < vectors {
        column_groups::<L, S, D, QV, MRP, 1>(s, tile, values, alpha, lane, rows, col);
        col += 1;
    }
}

/// Value vectors `col .. col + NV` of `rows` (block lanes `lane ..`), `MRP`
/// rows per register tile.
#[inline(always)]
fn column_groups<const L: usize, S: Simd<L>, const D: usize, const QV: usize, const MRP: usize, const NV: usize>(
    s: S,
    tile: &[[[f32; L]; QV]],
    values: &[&[f32; D]],
    alpha: &[f32],
    mut lane: usize,
    rows: &mut [&mut [f32]],
    col: usize,
) {
    let mut groups = rows.chunks_exact_mut(MRP);
    for group in &mut groups {
        columns_tile::<L, S, D, QV, MRP, NV>(s, tile, values, alpha, lane, group, col);
        lane += MRP;
    }
    for row in groups.into_remainder() {
        columns_tile::<L, S, D, QV, 1, NV>(s, tile, values, alpha, lane, core::slice::from_mut(row), col);
        lane += 1;
    }
}

/// [`accumulate_all`] on an edge tile: each row folds in only the keys of
/// its own range (its other V rows are not read).
#[inline(never)]
fn accumulate_ranges<const L: usize, S: Simd<L>, const D: usize, const QV: usize, const NVP: usize>(
    s: S,
    first: usize,
    tile: &[[[f32; L]; QV]],
    values: &[&[f32; D]],
    alpha: &[f32],
    ranges: &Ranges<32>,
    rows: &mut [&mut [f32]],
) {
    s.vectorize(
        #[inline(always)]
        || {
            let end = first + tile.len();
            for (lane, row) in rows.iter_mut().enumerate() {
                let lo = ranges.lo.get(lane).map_or(end, |&lo| lo.max(first));
                let hi = ranges.hi.get(lane).map_or(first, |&hi| hi.min(end));
                if lo >= hi {
                    continue;
                }
                let sub = tile.get(lo - first..hi - first).unwrap_or_default();
                let vals = values.get(lo - first..hi - first).unwrap_or_default();
                columns::<L, S, D, QV, 1, NVP>(s, sub, vals, alpha, lane, core::slice::from_mut(row));
            }
        },
    )
}

/// Vectors `col .. col + NV` of `MR` output rows (block lanes `lane ..`):
/// `acc = out·alpha`, the register tile over the keys, `out = acc`.
#[inline(always)]
fn columns_tile<const L: usize, S: Simd<L>, const D: usize, const QV: usize, const MR: usize, const NV: usize>(
    s: S,
    tile: &[[[f32; L]; QV]],
    values: &[&[f32; D]],
    alpha: &[f32],
    lane: usize,
    out: &mut [&mut [f32]],
    col: usize,
) {
    let mut acc = [[s.zero(); NV]; MR];
    for ((acc, row), i) in acc.iter_mut().zip(out.iter()).zip(lane..) {
        let a = s.splat(alpha.get(i).copied().unwrap_or(0.0));
        if let Some(xs) = row.as_chunks::<L>().0.get(col..col + NV) {
            for (acc, x) in acc.iter_mut().zip(xs) {
                *acc = s.load(x) * a;
            }
        }
    }
    // Constant-size rows: both lookups below are loop-invariant checks.
    let pairs = tile.iter().zip(values).map_while(|(w, v)| {
        let w = w.as_flattened().get(lane..)?.first_chunk::<MR>()?;
        let v = v.as_chunks::<L>().0.get(col..)?.first_chunk::<NV>()?;
        Some((w, v))
    });
    weights_times_rows(s, pairs, &mut acc);
    for (acc, row) in acc.iter().zip(out.iter_mut()) {
        if let Some(xs) = row.as_chunks_mut::<L>().0.get_mut(col..col + NV) {
            for (acc, x) in acc.iter().zip(xs) {
                s.store(*acc, x);
            }
        }
    }
}
