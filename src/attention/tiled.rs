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

/// Largest head dimension the tiled engine takes (the size of `qt`).
pub(crate) const MAX_D: usize = 256;
/// Keys per tile: the scores of one tile are kept in the scratch.
pub(crate) const TILE_KEYS: usize = 48;

/// Output rows `first_row ..` into `out`, with the tile shapes of backend `S`.
#[inline(always)]
pub(crate) fn attend<const L: usize, S: Simd<L>>(s: S, problem: &Problem<'_>, first_row: usize, out: OutRows<'_>) {
    if S::REGISTERS >= 32 {
        attend_with::<L, S, 2, 12, 4, 4>(s, problem, first_row, out);
    } else if S::FUSED {
        attend_with::<L, S, 2, 6, 4, 2>(s, problem, first_row, out);
    } else {
        attend_with::<L, S, 2, 4, 4, 2>(s, problem, first_row, out);
    }
}

/// Per-call scratch: the transposed queries of a block and one tile of
/// scores (later weights), `QV` vectors per row.
struct Scratch<const L: usize, const QV: usize> {
    qt: [[[f32; L]; QV]; MAX_D],
    tile: [[[f32; L]; QV]; TILE_KEYS],
}

/// The engine with `QV` query vectors per block, `MRK` keys per score tile,
/// `MRP` queries × `NVP` value vectors per `P·V` tile.
#[inline(always)]
fn attend_with<const L: usize, S: Simd<L>, const QV: usize, const MRK: usize, const MRP: usize, const NVP: usize>(
    s: S,
    problem: &Problem<'_>,
    first_row: usize,
    out: OutRows<'_>,
) {
    let rows = out.len().min(problem.nq.saturating_sub(first_row));
    let block = QV * L;
    let mut scratch = Scratch::<L, QV> { qt: [[[0.0; L]; QV]; MAX_D], tile: [[[0.0; L]; QV]; TILE_KEYS] };
    let (stride, width) = (out.stride.max(1), out.width);
    // `max(1)`: chunk sizes the optimizer sees are non-zero (no panic path).
    let blocks = out.data.chunks_mut(block.saturating_mul(stride).max(1)).take(rows.div_ceil(block));
    for (b, data) in blocks.enumerate() {
        let first = first_row + b * block;
        let n = block.min(rows - b * block);
        let out = OutRows { data, stride, width };
        attend_block::<L, S, QV, MRK, MRP, NVP>(s, problem, first, n, &mut scratch, out);
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

/// `n` output rows starting at query `first`.
#[inline(never)]
fn attend_block<const L: usize, S: Simd<L>, const QV: usize, const MRK: usize, const MRP: usize, const NVP: usize>(
    s: S,
    problem: &Problem<'_>,
    first: usize,
    n: usize,
    scratch: &mut Scratch<L, QV>,
    mut out: OutRows<'_>,
) {
    // Not inlined (one copy per backend and tile shape, shared by every
    // problem shape), so it re-enters the backend's target features.
    s.vectorize(
        #[inline(always)]
        || {
            let d = problem.d;
            transpose_queries(problem, first, n, &mut scratch.qt);
            let qt = scratch.qt.get(..d).unwrap_or_default();
            // `QV·L` lanes; arrays sized by the largest block any backend uses.
            let ranges = Ranges::<32>::new(problem, first, n);
            let scale = s.splat(problem.scale());
            for row in out.rows(n) {
                row.fill(0.0);
            }
            let mut max = [s.splat(f32::NEG_INFINITY); QV];
            let mut sum = [s.zero(); QV];
            let mut start = ranges.union.start - ranges.union.start % TILE_KEYS;
            while start < ranges.union.end {
                let keys = start.max(ranges.union.start)..ranges.union.end.min(start + TILE_KEYS);
                let tile = scratch.tile.get_mut(..keys.len()).unwrap_or_default();
                score_tile::<L, S, QV, MRK>(s, problem, keys.start, qt, scale, tile);
                let whole = ranges.common.start <= keys.start && keys.end <= ranges.common.end;
                if !whole {
                    mask_edges(&ranges, keys.start, n, tile);
                }
                let mut alpha = [[0.0; L]; QV];
                for (v, ((m, l), alpha)) in max.iter_mut().zip(sum.iter_mut()).zip(alpha.iter_mut()).enumerate() {
                    let tile_max = tile.iter().fold(s.splat(f32::NEG_INFINITY), |acc, x| {
                        s.max(s.load(x.get(v).unwrap_or(&[f32::NEG_INFINITY; L])), acc)
                    });
                    let new_max = s.max(tile_max, *m);
                    let shift = s.zero_if_neg_inf(new_max);
                    let rescale = exp_shifted(s, *m, shift);
                    let mut tile_sum = s.zero();
                    for x in tile.iter_mut() {
                        if let Some(x) = x.get_mut(v) {
                            let w = exp_shifted(s, s.load(x), shift);
                            tile_sum = tile_sum + w;
                            s.store(w, x);
                        }
                    }
                    *l = s.mul_add(*l, rescale, tile_sum);
                    *m = new_max;
                    s.store(rescale, alpha);
                }
                let alpha = alpha.as_flattened();
                if whole {
                    accumulate_all::<L, S, QV, MRP, NVP>(s, problem, keys.start, tile, alpha, n, &mut out);
                } else {
                    accumulate_ranges::<L, S, QV, NVP>(s, problem, keys.start, tile, alpha, &ranges, n, &mut out);
                }
                start += TILE_KEYS - start % TILE_KEYS;
            }
            let mut sums = [[0.0; L]; QV];
            for (l, dst) in sum.iter().zip(sums.iter_mut()) {
                s.store(*l, dst);
            }
            for (row, &l) in out.rows(n).zip(sums.as_flattened()) {
                if l == 0.0 {
                    row.fill(0.0);
                } else {
                    scale_with(s, row, 1.0 / l);
                }
            }
        },
    )
}

/// `qt[c][v][lane] = q[first + v·L + lane][c]`, zero past `d` and past the
/// block's rows.
fn transpose_queries<const L: usize, const QV: usize>(
    problem: &Problem<'_>,
    first: usize,
    n: usize,
    qt: &mut [[[f32; L]; QV]; MAX_D],
) {
    if n < QV * L {
        qt.iter_mut().take(problem.d).for_each(|r| *r = [[0.0; L]; QV]);
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

/// Scores `q·k·scale` of keys `first ..` for every lane: `MRK` keys per
/// register tile, then one key at a time.
#[inline(never)]
fn score_tile<const L: usize, S: Simd<L>, const QV: usize, const MRK: usize>(
    s: S,
    problem: &Problem<'_>,
    first: usize,
    qt: &[[[f32; L]; QV]],
    scale: S::V,
    tile: &mut [[[f32; L]; QV]],
) {
    s.vectorize(
        #[inline(always)]
        || {
            let mut groups = tile.chunks_exact_mut(MRK);
            let mut j = first;
            for group in &mut groups {
                let keys: [&[f32]; MRK] = core::array::from_fn(|i| problem.k.row(j + i));
                let mut acc = [[s.zero(); QV]; MRK];
                rows_times_panel(s, keys, qt, &mut acc);
                for (dst, acc) in group.iter_mut().zip(&acc) {
                    for (dst, &a) in dst.iter_mut().zip(acc) {
                        s.store(a * scale, dst);
                    }
                }
                j += MRK;
            }
            for dst in groups.into_remainder() {
                let mut acc = [[s.zero(); QV]; 1];
                rows_times_panel(s, [problem.k.row(j)], qt, &mut acc);
                for (dst, &a) in dst.iter_mut().zip(&acc[0]) {
                    s.store(a * scale, dst);
                }
                j += 1;
            }
        },
    )
}

/// Sets to `−∞` the scores of keys outside each lane's own range.
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

/// The V rows of a tile's keys as one slice: row `j` at `j·stride`, the
/// last one `width` long, walked by `chunks(stride)` in the `P·V` loop.
#[derive(Clone, Copy)]
struct ValueTile<'a> {
    data: &'a [f32],
    stride: usize,
}

impl<'a> ValueTile<'a> {
    /// The V rows of keys `keys` (all within the problem).
    fn new(problem: &Problem<'a>, keys: Range<usize>) -> Self {
        let v = problem.v;
        let stride = v.stride.max(1);
        let data = match keys.end.checked_sub(1) {
            Some(last) if !keys.is_empty() => {
                v.data.get(keys.start * stride..last * stride + v.width).unwrap_or_default()
            }
            _ => &[],
        };
        ValueTile { data, stride }
    }

    /// Rows `lo .. hi` of the tile.
    fn rows(&self, lo: usize, hi: usize) -> Self {
        let end = (hi * self.stride).min(self.data.len());
        ValueTile { data: self.data.get(lo * self.stride..end).unwrap_or_default(), stride: self.stride }
    }

    /// `(weights of key j, value vectors col .. col + NV of key j)` for the
    /// tile's keys, the weights `MR` lanes from `lane` of each tile row.
    #[inline(always)]
    fn pairs<'w, const L: usize, const QV: usize, const MR: usize, const NV: usize>(
        self,
        tile: &'w [[[f32; L]; QV]],
        lane: usize,
        col: usize,
    ) -> impl Iterator<Item = (&'w [f32; MR], &'a [[f32; L]; NV])>
    where
        'a: 'w,
    {
        let at = col * L;
        let pick = move |(w, v): (&'w [[f32; L]; QV], &'a [f32])| {
            Some((
                w.as_flattened().get(lane..)?.first_chunk::<MR>()?,
                v.get(at..)?.as_chunks::<L>().0.first_chunk::<NV>()?,
            ))
        };
        tile.iter().zip(self.data.chunks(self.stride)).map_while(pick)
    }
}

/// `out[i] = out[i]·alpha[i] + Σⱼ w[j][i]·v[j]` for every row of the block,
/// every key of the tile, in `MRP × NVP` register tiles.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn accumulate_all<const L: usize, S: Simd<L>, const QV: usize, const MRP: usize, const NVP: usize>(
    s: S,
    problem: &Problem<'_>,
    first: usize,
    tile: &[[[f32; L]; QV]],
    alpha: &[f32],
    rows: usize,
    out: &mut OutRows<'_>,
) {
    s.vectorize(
        #[inline(always)]
        || {
            let values = ValueTile::new(problem, first..first + tile.len());
            let mut rows_out: [&mut [f32]; 32] = core::array::from_fn(|_| &mut [][..]);
            for (slot, row) in rows_out.iter_mut().zip(out.rows(rows)) {
                *slot = row;
            }
            let rows_out = rows_out.get_mut(..rows).unwrap_or_default();
            for_columns::<L, NVP>(
                problem.dv,
                #[inline(always)]
                |col, width| match width {
                    w if w == NVP => groups::<L, S, QV, MRP, NVP>(s, tile, values, alpha, rows_out, col),
                    2 => groups::<L, S, QV, MRP, 2>(s, tile, values, alpha, rows_out, col),
                    _ => groups::<L, S, QV, MRP, 1>(s, tile, values, alpha, rows_out, col),
                },
            );
            value_tail(s, problem, first, tile, alpha, 0, rows_out);
        },
    )
}

/// Calls `f(col, width)` for the groups of whole value vectors: `NVP` at a
/// time, then 2, then 1.
#[inline(always)]
fn for_columns<const L: usize, const NVP: usize>(dv: usize, mut f: impl FnMut(usize, usize)) {
    let vectors = dv / L;
    let mut col = 0;
    while col + NVP <= vectors {
        f(col, NVP);
        col += NVP;
    }
    if NVP > 2 && col + 2 <= vectors {
        f(col, 2);
        col += 2;
    }
    while col < vectors {
        f(col, 1);
        col += 1;
    }
}

/// Value vectors `col .. col + NV` of every row of the block, `MRP` rows
/// per register tile.
#[inline(always)]
fn groups<const L: usize, S: Simd<L>, const QV: usize, const MRP: usize, const NV: usize>(
    s: S,
    tile: &[[[f32; L]; QV]],
    values: ValueTile<'_>,
    alpha: &[f32],
    rows: &mut [&mut [f32]],
    col: usize,
) {
    let mut groups = rows.chunks_exact_mut(MRP);
    let mut lane = 0;
    for group in &mut groups {
        columns_tile::<L, S, QV, MRP, NV>(s, tile, values, alpha, lane, group, col);
        lane += MRP;
    }
    for row in groups.into_remainder() {
        columns_tile::<L, S, QV, 1, NV>(s, tile, values, alpha, lane, core::slice::from_mut(row), col);
        lane += 1;
    }
}

/// [`accumulate_all`] on an edge tile: each row folds in only the keys of
/// its own range (its other V rows are not read).
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn accumulate_ranges<const L: usize, S: Simd<L>, const QV: usize, const NVP: usize>(
    s: S,
    problem: &Problem<'_>,
    first: usize,
    tile: &[[[f32; L]; QV]],
    alpha: &[f32],
    ranges: &Ranges<32>,
    rows: usize,
    out: &mut OutRows<'_>,
) {
    s.vectorize(
        #[inline(always)]
        || {
            let end = first + tile.len();
            let values = ValueTile::new(problem, first..end);
            for (lane, mut row) in out.rows(rows).enumerate() {
                let lo = ranges.lo.get(lane).map_or(end, |&lo| lo.max(first));
                let hi = ranges.hi.get(lane).map_or(first, |&hi| hi.min(end));
                if lo >= hi {
                    continue;
                }
                let sub = tile.get(lo - first..hi - first).unwrap_or_default();
                let vals = values.rows(lo - first, hi - first);
                let row = core::slice::from_mut(&mut row);
                for_columns::<L, NVP>(
                    problem.dv,
                    #[inline(always)]
                    |col, width| {
                        for c in (col..col + width).step_by(NVP) {
                            if width == NVP {
                                columns_tile::<L, S, QV, 1, NVP>(s, sub, vals, alpha, lane, row, c);
                            } else {
                                columns_tile::<L, S, QV, 1, 1>(s, sub, vals, alpha, lane, row, c);
                                if width == 2 {
                                    columns_tile::<L, S, QV, 1, 1>(s, sub, vals, alpha, lane, row, c + 1);
                                }
                            }
                        }
                    },
                );
                value_tail(s, problem, lo, sub, alpha, lane, row);
            }
        },
    )
}

/// The last `dv % L` columns of `rows` (block lanes `lane ..`), from the
/// tile's keys `first ..`.
#[inline(always)]
fn value_tail<const L: usize, S: Simd<L>, const QV: usize>(
    s: S,
    problem: &Problem<'_>,
    first: usize,
    tile: &[[[f32; L]; QV]],
    alpha: &[f32],
    lane: usize,
    rows: &mut [&mut [f32]],
) {
    if problem.dv.is_multiple_of(L) {
        return;
    }
    let at = problem.dv / L * L;
    for (row, i) in rows.iter_mut().zip(lane..) {
        let a = alpha.get(i).copied().unwrap_or(0.0);
        let tail = row.get_mut(at..).unwrap_or_default();
        let mut acc = s.load_padded(tail, 0.0) * s.splat(a);
        for (j, w) in (first..).zip(tile) {
            let x = s.load_padded(problem.v.row(j).get(at..).unwrap_or_default(), 0.0);
            acc = s.mul_add(s.splat(w.as_flattened().get(i).copied().unwrap_or(0.0)), x, acc);
        }
        s.store_partial(acc, tail);
    }
}

/// Vectors `col .. col + NV` of `MR` output rows (block lanes `lane ..`):
/// `acc = out·alpha`, the register tile over the keys, `out = acc`.
#[inline(always)]
fn columns_tile<const L: usize, S: Simd<L>, const QV: usize, const MR: usize, const NV: usize>(
    s: S,
    tile: &[[[f32; L]; QV]],
    values: ValueTile<'_>,
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
    weights_times_rows(s, values.pairs::<L, QV, MR, NV>(tile, lane, col), &mut acc);
    for (acc, row) in acc.iter().zip(out.iter_mut()) {
        if let Some(xs) = row.as_chunks_mut::<L>().0.get_mut(col..col + NV) {
            for (acc, x) in acc.iter().zip(xs) {
                s.store(*acc, x);
            }
        }
    }
}
