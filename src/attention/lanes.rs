//! The lanes engine: four queries at a time, one per vector lane, for the
//! portable backend (Cortex-M, RISC-V), where a vector is four FPU
//! registers. Every K and V value it loads feeds four multiply-adds (one per
//! query), where the row engine's feed one; it takes range masks only
//! (causal, window, alignment), as the tiled engine does on SIMD hosts.
//!
//! Per block of four queries (a block of fewer rows repeats its last query
//! in the spare lanes, whose keys are all out of range and whose results
//! are dropped):
//! - keys in blocks of [`KEYS`] at absolute multiples of it, over the
//!   union of the four key ranges (blocks beyond every range are skipped);
//! - scores in tiles of four keys: `Σ_c [q₀[c], q₁[c], q₂[c], q₃[c]]·kⱼ[c]`,
//!   four vector accumulators (16 registers on a Cortex-M4F), scaled; a key
//!   outside a lane's range (the causal diagonal, window edges) gets `−∞`
//!   in that lane;
//! - the online softmax per lane, in natural units ([`super::logits`]);
//! - `P·V` one output vector at a time for the four queries: per key one
//!   loaded V vector times the four weights. The keys every lane sees go
//!   through that loop; the few a lane may not see (the edges) through an
//!   out-of-line loop that folds a key into a lane only if the lane sees
//!   it, so a V row a query may not see cannot reach it.
//!
//! Head and value dimensions are multiples of four ([`fits`]; other shapes
//! run on the row engine): no tail code, which keeps one instance small.
//! Each output element gets the same operations in the same order whatever
//! the loop: `a = out·rescale` (or 0 in the first block), then `a = w·v + a`
//! for each key it sees, in ascending order. Each lane's operations are its
//! own and the key blocks absolute, so any split into row ranges gives the
//! same bits. Code size matters here (one instance is the whole engine on a
//! Cortex-M): the rare paths are out of line.

use super::logits::exp_shifted;
use super::problem::{OutRows, Problem, Rows};
use crate::simd::Simd;
use core::ops::Range;

/// Queries per block: the lanes of a portable vector.
const QUERIES: usize = 4;
/// Keys per online-softmax block.
const KEYS: usize = 32;
/// Score slots: a block, the spill of its last tile of four, and the old
/// maximum (exponentiated with the block's scores).
const SLOTS: usize = KEYS + 4;

/// Whether the engine takes these head and value dimensions on backend
/// `L` (it has no tail code).
pub(crate) const fn fits<const L: usize>(d: usize, dv: usize) -> bool {
    d.is_multiple_of(4) && dv.is_multiple_of(L)
}

/// Output rows `first_row ..` into `out`, as many as it holds and `nq`
/// allows (the caller checked [`fits`]).
#[inline(always)]
pub(crate) fn attend<const L: usize, S: Simd<L>>(s: S, problem: &Problem<'_>, first_row: usize, out: OutRows<'_>) {
    let rows = out.len().min(problem.nq.saturating_sub(first_row));
    let (stride, width) = (out.stride.max(1), out.width);
    // `max(1)`: chunk sizes the optimizer sees are non-zero (no panic path).
    let blocks = out.data.chunks_mut(QUERIES.saturating_mul(stride).max(1)).take(rows.div_ceil(QUERIES));
    let scale = problem.scale();
    let mut slots = [[f32::NEG_INFINITY; L]; SLOTS];
    for (b, data) in blocks.enumerate() {
        let n = QUERIES.min(rows - b * QUERIES);
        attend_block(s, problem, scale, first_row + b * QUERIES, n, &mut slots, OutRows { data, stride, width });
    }
}

/// Row `i` of `rows` and everything after it (a row is its first `width`
/// values).
#[inline(always)]
fn row_from<'a>(rows: &Rows<'a>, i: usize) -> &'a [f32] {
    rows.data.get(i.wrapping_mul(rows.stride)..).unwrap_or_default()
}

/// Keeps the loop it is called in rolled: an empty `black_box` is an
/// inline-assembly call, and LLVM does not unroll loops with calls (its
/// runtime unrolling on Cortex-M, at opt-level 3, would multiply the size
/// of these rarely run loops several times over). Costs no instruction.
#[inline(always)]
fn rolled() {
    core::hint::black_box(());
}

/// `[a, b, c, d]` in the first lanes of an `L`-lane array (zeros after).
#[inline(always)]
fn lanes<const L: usize>(x: [f32; QUERIES]) -> [f32; L] {
    core::array::from_fn(|i| x.get(i).copied().unwrap_or(0.0))
}

/// The key ranges of a block's lanes (empty for spare lanes), their union
/// and their intersection.
struct Ranges {
    lo: [usize; QUERIES],
    hi: [usize; QUERIES],
    union: Range<usize>,
    common: Range<usize>,
}

impl Ranges {
    fn new(problem: &Problem<'_>, first: usize, n: usize) -> Self {
        let keys: [Range<usize>; QUERIES] = core::array::from_fn(|l| {
            let keys = if l < n { problem.key_range(problem.position(first + l)) } else { 0..0 };
            keys.start..keys.end.max(keys.start)
        });
        // The union of the non-empty ranges (`lo > hi` while there is none)
        // and the intersection of all.
        let (mut lo, mut hi) = (usize::MAX, 0);
        let (mut common_lo, mut common_hi) = (0, usize::MAX);
        for keys in keys.iter().take(n) {
            if !keys.is_empty() {
                (lo, hi) = (lo.min(keys.start), hi.max(keys.end));
            }
            (common_lo, common_hi) = (common_lo.max(keys.start), common_hi.min(keys.end));
        }
        let union = if lo < hi { lo..hi } else { 0..0 };
        let (lo, hi) = (keys.clone().map(|k| k.start), keys.map(|k| k.end));
        Ranges { lo, hi, union, common: common_lo..common_hi }
    }

    /// Whether lane `l` sees key `j`.
    #[inline(always)]
    fn sees(&self, l: usize, j: usize) -> bool {
        self.lo.get(l).is_some_and(|&lo| lo <= j) && self.hi.get(l).is_some_and(|&hi| j < hi)
    }
}

/// How a block starts an output element: from zero (the first block) or from
/// `out·rescale`.
#[derive(Clone, Copy)]
enum Start<'r, const L: usize> {
    Zero,
    Rescale(&'r [f32; L]),
}

impl<const L: usize> Start<'_, L> {
    #[inline(always)]
    fn value(self, x: f32, l: usize) -> f32 {
        match self {
            Start::Zero => 0.0,
            Start::Rescale(r) => x * r.get(l).copied().unwrap_or(0.0),
        }
    }
}

/// `n` output rows (`out`) of queries `first ..` (`slots`: scratch).
#[inline(never)]
fn attend_block<const L: usize, S: Simd<L>>(
    s: S,
    problem: &Problem<'_>,
    scale: f32,
    first: usize,
    n: usize,
    slots: &mut [[f32; L]; SLOTS],
    mut out: OutRows<'_>,
) {
    // Not inlined (shared by every problem shape): re-enters the backend.
    s.vectorize(
        #[inline(always)]
        || {
            let q: [&[f32]; QUERIES] = core::array::from_fn(|l| problem.q.row(first + l.min(n.saturating_sub(1))));
            let ranges = Ranges::new(problem, first, n);
            let mut rows = out.rows(n);
            let mut out: [&mut [f32]; QUERIES] = core::array::from_fn(|_| rows.next().unwrap_or_default());
            let scale = s.splat(scale);
            let mut max = s.splat(f32::NEG_INFINITY);
            let mut sum = s.zero();
            let mut first_block = true;
            let mut block_start = ranges.union.start - ranges.union.start % KEYS;
            while block_start < ranges.union.end {
                let keys = block_start.max(ranges.union.start)..ranges.union.end.min(block_start + KEYS);
                let n = keys.len();
                score_block(s, problem, &q, keys.clone(), scale, slots);
                let whole = ranges.common.start <= keys.start && keys.end <= ranges.common.end;
                if !whole {
                    mask_edges(&ranges, keys.clone(), slots);
                }
                let rescale;
                (max, sum, rescale) = softmax_block(s, slots, n, max, sum);
                let start = if first_block { Start::Zero } else { Start::Rescale(&rescale) };
                let weights = slots.get(..n).unwrap_or_default();
                accumulate(s, &problem.v, &ranges, keys.start, weights, start, &mut out);
                first_block = false;
                block_start += KEYS - block_start % KEYS;
            }
            let sums = s.to_array(sum);
            for (row, &l) in out.iter_mut().zip(&sums) {
                rolled();
                finish(row, l);
            }
        },
    )
}

/// The online softmax step of a block of `n` scores (lanes = queries),
/// rewriting them to their weights; from the running maximum and sum, the
/// new ones and the factor for what was accumulated before. The old
/// maximum goes through the same exponential as the block's scores (in the
/// slot after them).
#[inline(never)]
fn softmax_block<const L: usize, S: Simd<L>>(
    s: S,
    slots: &mut [[f32; L]; SLOTS],
    n: usize,
    max: S::V,
    sum: S::V,
) -> (S::V, S::V, [f32; L]) {
    s.vectorize(
        #[inline(always)]
        || {
            let block = slots.get(..n).unwrap_or_default();
            let block_max = block.iter().fold(s.splat(f32::NEG_INFINITY), |m, x| {
                rolled();
                s.max(s.load(x), m)
            });
            let new_max = s.max(block_max, max);
            let shift = s.zero_if_neg_inf(new_max);
            if let Some(slot) = slots.get_mut(n) {
                s.store(max, slot);
            }
            for x in slots.iter_mut().take(n + 1) {
                rolled();
                s.store(exp_shifted(s, s.load(x), shift), x);
            }
            // The sum in a pass of its own: beside the exponential's
            // constants, four shifts and its temporaries, four running sums
            // no longer fit the FPU's registers (they went to the stack and
            // back for every key).
            let block_sum = slots.get(..n).unwrap_or_default().iter().fold(s.zero(), |sum, x| {
                rolled();
                sum + s.load(x)
            });
            let old = slots.get(n).map_or(s.zero(), |x| s.load(x));
            let rescale = s.select_eq(new_max, max, s.splat(1.0), old);
            (new_max, sum * rescale + block_sum, s.to_array(rescale))
        },
    )
}

/// Scaled scores of `keys`, one slot per key (lanes = queries), in tiles of
/// four keys (the last tile repeats the block's last key and spills into
/// the slots after the block).
#[inline(never)]
fn score_block<const L: usize, S: Simd<L>>(
    s: S,
    problem: &Problem<'_>,
    q: &[&[f32]; QUERIES],
    keys: Range<usize>,
    scale: S::V,
    slots: &mut [[f32; L]; SLOTS],
) {
    s.vectorize(
        #[inline(always)]
        || {
            let k = &problem.k;
            let last = keys.end.saturating_sub(1);
            let tiles = slots.as_chunks_mut::<4>().0.iter_mut().take(keys.len().div_ceil(4));
            for (tile, j) in tiles.zip(keys.step_by(4)) {
                let rows: [&[f32]; 4] = core::array::from_fn(|i| row_from(k, (j + i).min(last)));
                let acc = dot_tile(s, q, rows);
                for (dst, a) in tile.iter_mut().zip(acc) {
                    s.store(a * scale, dst);
                }
            }
        },
    )
}

/// Whole steps of four dimensions of a row.
#[inline(always)]
fn chunks(row: &[f32]) -> &[[f32; 4]] {
    row.as_chunks::<4>().0
}

/// `acc[j]` = the four queries (lanes) dotted with key `keys[j]`, each
/// along the head dimension in order: per dimension, one value of each
/// query and of each key, sixteen multiply-adds. One dimension per step:
/// eight values and sixteen accumulators fit the FPU's 32 registers, where
/// a step of four dimensions had the scheduler load all 32 values first
/// and spill them.
#[inline(always)]
fn dot_tile<'a, const L: usize, S: Simd<L>>(s: S, q: &[&'a [f32]; QUERIES], keys: [&'a [f32]; 4]) -> [S::V; 4] {
    let d = chunks(q[0]).len() * 4;
    // Every stream exactly as long as the first query's whole steps (a row
    // shorter than that, which the invariants rule out, reads the first
    // query instead): one trip count for the zip below.
    let same = |r: &'a [f32]| r.get(..d).unwrap_or(q[0].get(..d).unwrap_or_default());
    let [q0, q1, q2, q3] = q.map(same);
    let [k0, k1, k2, k3] = keys.map(same);
    let mut acc = [s.zero(); 4];
    for (((((((&a, &b), &x), &y), &k0), &k1), &k2), &k3) in
        q0.iter().zip(q1).zip(q2).zip(q3).zip(k0).zip(k1).zip(k2).zip(k3)
    {
        let qv = s.load(&lanes([a, b, x, y]));
        for (acc, k) in acc.iter_mut().zip([k0, k1, k2, k3]) {
            *acc = s.mul_add(qv, s.splat(k), *acc);
        }
    }
    acc
}

/// Sets to `−∞` the scores of `keys` outside each lane's range (slot `i`
/// is key `keys.start + i`). Only the keys outside the lanes' common range
/// are visited: every lane sees the others.
#[inline(never)]
fn mask_edges<const L: usize>(ranges: &Ranges, keys: Range<usize>, slots: &mut [[f32; L]; SLOTS]) {
    let (first, mut j) = (keys.start, keys.start);
    while j < keys.end {
        rolled();
        if j >= ranges.common.start && j < ranges.common.end {
            j = ranges.common.end;
            continue;
        }
        if let Some(x) = slots.get_mut(j - first) {
            for (l, lane) in x.iter_mut().enumerate().take(QUERIES) {
                if !ranges.sees(l, j) {
                    *lane = f32::NEG_INFINITY;
                }
            }
        }
        j += 1;
    }
}

/// `out[l] = out[l]·rescale[l] + Σⱼ w[j][l]·vⱼ` (or from zero in the first
/// block) for the four lanes, over keys `first ..` in order, each key only
/// into the lanes that see it.
#[inline(never)]
fn accumulate<const L: usize, S: Simd<L>>(
    s: S,
    v: &Rows<'_>,
    ranges: &Ranges,
    first: usize,
    weights: &[[f32; L]],
    start: Start<'_, L>,
    out: &mut [&mut [f32]; QUERIES],
) {
    s.vectorize(
        #[inline(always)]
        || {
            let end = first + weights.len();
            // The keys every lane sees: one loop for all four lanes.
            let fast = first.max(ranges.common.start).min(end)..end.min(ranges.common.end);
            let fast = fast.start..fast.end.max(fast.start);
            let before = first..fast.start;
            let after = fast.end..end;
            let dv = out.iter().map(|r| r.len()).max().unwrap_or(0);
            let vectors = dv / L;
            let keys = Keys { v, ranges, first, weights };
            let wfast = weights.get(fast.start - first..fast.end - first).unwrap_or_default();
            // The fast keys' V rows as whole strides (no per-key length
            // check); a last row shorter than the stride (a strided view's
            // last key) goes through the edge loop, which folds it the same.
            let stride = v.stride.max(1);
            let rows = row_from(v, fast.start);
            let whole = wfast.len().min(rows.len() / stride);
            let rest = fast.start + whole..fast.end;
            for c in 0..vectors {
                rolled();
                let at = c * L;
                let mut acc = [s.zero(); QUERIES];
                for (l, (a, row)) in acc.iter_mut().zip(out.iter()).enumerate() {
                    if let Some(x) = row.get(at..at + L) {
                        *a = s.load(&core::array::from_fn(|i| start.value(x.get(i).copied().unwrap_or(0.0), l)));
                    }
                }
                if !before.is_empty() {
                    acc = keys.fold_edges(s, before.clone(), at, acc);
                }
                for (row, w) in rows.chunks_exact(stride).zip(wfast) {
                    if let Some(x) = row.get(at..).and_then(|r| r.first_chunk::<L>()) {
                        let x = s.load(x);
                        for (a, &w) in acc.iter_mut().zip(w) {
                            *a = s.mul_add(s.splat(w), x, *a);
                        }
                    }
                }
                if !rest.is_empty() {
                    acc = keys.fold_edges(s, rest.clone(), at, acc);
                }
                if !after.is_empty() {
                    acc = keys.fold_edges(s, after.clone(), at, acc);
                }
                for (row, a) in out.iter_mut().zip(acc) {
                    if let Some(x) = row.get_mut(at..).and_then(|r| r.first_chunk_mut::<L>()) {
                        s.store(a, x);
                    }
                }
            }
        },
    )
}

/// A block's keys for `P·V`: their V rows, the lanes' ranges, the weights.
struct Keys<'k, 'a, const L: usize> {
    v: &'k Rows<'a>,
    ranges: &'k Ranges,
    first: usize,
    weights: &'k [[f32; L]],
}

impl<const L: usize> Keys<'_, '_, L> {
    /// `acc` plus `w·v` of `keys` (in order) at column `at`, for the lanes
    /// that see them.
    #[inline(never)]
    fn fold_edges<S: Simd<L>>(&self, s: S, keys: Range<usize>, at: usize, acc: [S::V; QUERIES]) -> [S::V; QUERIES] {
        s.vectorize(
            #[inline(always)]
            || {
                // Four locals, not the array: the loop's `rolled` would make
                // every step store the array (it is the returned value).
                let [mut a0, mut a1, mut a2, mut a3] = acc;
                for j in keys {
                    rolled();
                    let w = self.weights.get(j.wrapping_sub(self.first)).copied().unwrap_or([0.0; L]);
                    let Some(x) = row_from(self.v, j).get(at..).and_then(|r| r.first_chunk::<L>()) else { continue };
                    let x = s.load(x);
                    for (l, a) in [&mut a0, &mut a1, &mut a2, &mut a3].into_iter().enumerate() {
                        if self.ranges.sees(l, j) {
                            *a = s.mul_add(s.splat(w[l]), x, *a);
                        }
                    }
                }
                [a0, a1, a2, a3]
            },
        )
    }
}

/// `row /= l`, or the zero row when the lane saw no finite score.
#[inline(always)]
fn finish(row: &mut [f32], l: f32) {
    // `black_box`: a zero the optimizer cannot see, so the stores stay
    // stores (a loop storing a constant zero becomes a `memset` call).
    let f = if l == 0.0 { core::hint::black_box(0.0) } else { 1.0 / l };
    let zero = l == 0.0;
    for x in row.iter_mut() {
        rolled();
        *x = if zero { f } else { *x * f };
    }
}
