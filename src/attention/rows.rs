//! The row engine: each query row streams over blocks of keys with an
//! online softmax, its output row the accumulator. Takes every problem
//! (every mask, bias and ALiBi), and is the only engine of the portable
//! backend (Cortex-M, RISC-V) besides the tiny one, and of decode-like
//! problems (few queries) everywhere.
//!
//! Per block of `GROUPS·L` keys:
//! - the scores, `L` keys at a time as one vector: `L` dot products along
//!   the head dimension (the first step multiplies instead of adding to
//!   zero; no padded pass when the head dimension is a multiple of `L`),
//!   then one transposing lane sum, then the scale. A key the row may not
//!   see, or a lane past the block's last key, reads the query instead of a
//!   K row and its score is set to `−∞`: masked K rows are never read.
//! - the softmax step on the block's vectors, in natural units
//!   ([`Running::update`]: the running maximum is subtracted before the
//!   exponential);
//! - `P·V`: the output row in passes of `NV` vectors held in registers
//!   (`NV·L` columns: 16 on the portable backend, 64 on AVX2, 256 on
//!   AVX-512, narrower passes for narrower rows), each pass folding in the
//!   weighted V rows of the block's visible keys (a masked key's V row is
//!   never read). The first block starts the accumulators at zero; later
//!   ones rescale them on load.
//!
//! Every vector operation works on one query row: results do not depend
//! on which rows a call computes.
//!
//! K and V may be stored as `f32`, [`F16`](crate::F16) or
//! [`Bf16`](crate::Bf16): each K or V vector is widened to `f32` as it is
//! loaded ([`Simd::load_kv`]), and everything after the load is the same
//! code, so 16-bit K/V give the bits of the `f32` call on the widened values.

use super::logits::Running;
use super::problem::{OutRows, Problem, RowPlan, Rows, to_isize};
use crate::KvElement;
use crate::simd::Simd;

/// Score vectors per block (the block is [`block_keys`]).
const GROUPS: usize = 4;

/// Keys per block with `lanes` lanes: `GROUPS·L`.
pub(crate) const fn block_keys(lanes: usize) -> usize {
    GROUPS * lanes
}

/// Output rows `first_row ..` into `out`, as many as it holds and `nq` allows.
#[inline(always)]
pub(crate) fn attend<const L: usize, S: Simd<L>, E: KvElement>(
    s: S,
    problem: &Problem<'_, E>,
    first_row: usize,
    mut out: OutRows<'_>,
) {
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
fn attend_row<const L: usize, S: Simd<L>, E: KvElement>(
    s: S,
    problem: &Problem<'_, E>,
    plan: &RowPlan<'_>,
    out: &mut [f32],
) {
    // Not inlined (shared by every problem shape): re-enters the backend.
    s.vectorize(
        #[inline(always)]
        || {
            let masking = plan.has_per_key_masking();
            let terms = plan.alibi.is_some() || plan.bias.is_some();
            let k = problem.k;
            let block_keys = block_keys(L);
            let mut state = Running::new();
            let mut first = true;
            let mut start = plan.keys.start;
            while start < plan.keys.end {
                let n = block_keys.min(plan.keys.end - start);
                let groups = n.div_ceil(L);
                // Whole groups of a row without a per-key mask read their K
                // rows from one span; the rest (the last group of the row,
                // or every group under a mask) key by key.
                let whole = if masking { 0 } else { n / L };
                let span = row_from(&k, start);
                // A loop, not `array::from_fn`: a closure handed to a
                // library function that is not inlined would run the dot
                // products without the backend's target features.
                let mut block = [[f32::NEG_INFINITY; L]; GROUPS];
                for (g, lanes) in block.iter_mut().enumerate().take(groups) {
                    // A group whose rows do not all fit (which no caller
                    // passes) goes key by key too.
                    let whole_group = (g < whole).then(|| group_rows(span, g * L, k.stride)).flatten();
                    // `match`, not `and_then`: no closure around the dot products.
                    let dots = match whole_group {
                        Some(rows) => dot_group(s, plan.query, rows),
                        None => None,
                    };
                    let x = match dots {
                        Some(dots) => dots * s.splat(plan.scale),
                        None => score_keys(s, plan, &k, start + g * L, n - g * L),
                    };
                    s.store(x, lanes);
                }
                if terms {
                    add_terms(plan, start, block.as_flattened_mut().get_mut(..n).unwrap_or_default());
                }
                let rescale = state.update(s, block.get_mut(..groups).unwrap_or_default());
                let weights = block.as_flattened().get(..n).unwrap_or_default();
                if masking {
                    accumulate::<L, S, E, true>(s, problem.v, plan, start, weights, rescale, first, out);
                } else {
                    accumulate::<L, S, E, false>(s, problem.v, plan, start, weights, rescale, first, out);
                }
                first = false;
                start += n;
            }
            state.finish(s, out, first);
        },
    )
}

/// Rows `first .. first + L` of `span` (rows `stride` apart), each from its
/// start to the end of `span`; `None` if one starts past it.
#[inline(always)]
fn group_rows<const L: usize, E>(span: &[E], first: usize, stride: usize) -> Option<[&[E]; L]> {
    let mut rows: [&[E]; L] = [&[]; L];
    // Wrapping: an offset past `span` (the only kind an overflow could make
    // for rows that exist) is refused by `get`.
    let mut at = first.wrapping_mul(stride);
    for row in &mut rows {
        *row = span.get(at..)?;
        at = at.wrapping_add(stride);
    }
    Some(rows)
}

/// Row `i` of `rows` and everything after it (a row is its first `width`
/// values): no length arithmetic per row beyond one bounds check.
#[inline(always)]
fn row_from<'a, T>(rows: &Rows<'a, T>, i: usize) -> &'a [T] {
    rows.data.get(i.wrapping_mul(rows.stride)..).unwrap_or_default()
}

/// Scaled scores `q·k·scale` of keys `first .. first + min(count, L)`, one
/// per lane, key by key; `−∞` in the lanes past them and for the keys the
/// row's mask hides (their K rows are not read: the lane reads a visible
/// key's row instead, and with no visible key nothing is read).
#[inline(never)]
fn score_keys<const L: usize, S: Simd<L>, E: KvElement>(
    s: S,
    plan: &RowPlan<'_>,
    k: &Rows<'_, E>,
    first: usize,
    count: usize,
) -> S::V {
    s.vectorize(
        #[inline(always)]
        || {
            let hidden = |i: usize| i >= count || plan.is_masked(first + i);
            let Some(shown) = (0..L).find(|&i| !hidden(i)) else {
                return s.splat(f32::NEG_INFINITY);
            };
            let stand_in = row_from(k, first + shown);
            let keys: [&[E]; L] = core::array::from_fn(|i| if hidden(i) { stand_in } else { row_from(k, first + i) });
            // Every K row holds the query's length (`None` is unreachable).
            let dots = dot_group(s, plan.query, keys).unwrap_or_else(|| s.zero());
            let mut lanes = s.to_array(dots * s.splat(plan.scale));
            for (i, lane) in lanes.iter_mut().enumerate() {
                if hidden(i) {
                    *lane = f32::NEG_INFINITY;
                }
            }
            s.load(&lanes)
        },
    )
}

/// `x − slope·|p − j| + bias[j]`: the ALiBi and bias terms of keys
/// `first ..` added to their scaled scores, in that order; masked keys keep
/// their `−∞` (whatever their bias).
#[inline(never)]
fn add_terms(plan: &RowPlan<'_>, first: usize, scores: &mut [f32]) {
    let bias = plan.bias.map(|b| b.get(first..).unwrap_or_default());
    for (i, x) in scores.iter_mut().enumerate() {
        let j = first + i;
        if plan.is_masked(j) {
            continue;
        }
        if let Some((slope, p)) = plan.alibi {
            *x -= slope * p.abs_diff(to_isize(j)) as f32;
        }
        if let Some(&b) = bias.and_then(|b| b.get(i)) {
            *x += b;
        }
    }
}

/// Lane `i` = `query · keys[i]` over the query's length, or `None` if a key
/// is shorter than the query: one accumulator per key along the head
/// dimension, in order (the first step a product, the others multiply-adds),
/// the zero-padded tail only when the length is not a multiple of `L`, then
/// one transposing lane sum for all `L` keys.
#[inline(always)]
fn dot_group<const L: usize, S: Simd<L>, E: KvElement>(s: S, query: &[f32], keys: [&[E]; L]) -> Option<S::V> {
    let (qv, qt) = query.as_chunks::<L>();
    let n = qv.len();
    // Each key's first `n` vectors: all exactly as long as the query's, so
    // the zips below run `n` steps with no check. One exit for a short key
    // (a loop, not `map`: an empty stand-in per key would give every
    // accumulator a zero path of its own).
    let mut kv: [&[[E; L]]; L] = [&[]; L];
    if !L.is_multiple_of(8) {
        for (kv, k) in kv.iter_mut().zip(&keys) {
            *kv = k.as_chunks::<L>().0.get(..n)?;
        }
    }
    let tail = |k: &[E]| s.load_kv_padded(k.get(n * L..n * L + qt.len()).unwrap_or_default(), 0.0);
    let mut acc = [s.zero(); L];
    if n == 0 {
        let q = s.load_padded(qt, 0.0);
        for (a, k) in acc.iter_mut().zip(&keys) {
            *a = q * tail(k);
        }
    } else {
        // Keys in eights (AVX2, AVX-512) or fours (the others), each pass
        // one zip over the query and its keys: every query vector loaded
        // once per pass.
        if L.is_multiple_of(8) {
            // The eights' K slices made per eight: fewer live at once.
            for (acc, keys) in acc.as_chunks_mut::<8>().0.iter_mut().zip(keys.as_chunks::<8>().0) {
                *acc = dot8(s, qv, &first_vectors(keys, n)?);
            }
        } else {
            for (acc, kv) in acc.as_chunks_mut::<4>().0.iter_mut().zip(kv.as_chunks::<4>().0) {
                *acc = dot4(s, qv, kv);
            }
        }
        if !qt.is_empty() {
            let q = s.load_padded(qt, 0.0);
            for (a, k) in acc.iter_mut().zip(&keys) {
                *a = s.mul_add(q, tail(k), *a);
            }
        }
    }
    Some(s.reduce_add_each(acc))
}

/// The first `n` vectors of each key (`None` if one is shorter).
#[inline(always)]
fn first_vectors<'k, const L: usize, const N: usize, E>(keys: &[&'k [E]; N], n: usize) -> Option<[&'k [[E; L]]; N]> {
    let mut kv: [&[[E; L]]; N] = [&[]; N];
    for (kv, k) in kv.iter_mut().zip(keys) {
        *kv = k.as_chunks::<L>().0.get(..n)?;
    }
    Some(kv)
}

/// Four accumulators of [`dot_group`] (zero for an empty query).
#[inline(always)]
fn dot4<const L: usize, S: Simd<L>, E: KvElement>(s: S, qv: &[[f32; L]], k: &[&[[E; L]]; 4]) -> [S::V; 4] {
    let mut steps = qv.iter().zip(k[0]).zip(k[1]).zip(k[2]).zip(k[3]);
    let Some(((((q, a), b), c), d)) = steps.next() else { return [s.zero(); 4] };
    let q = s.load(q);
    let mut acc = [q * s.load_kv(a), q * s.load_kv(b), q * s.load_kv(c), q * s.load_kv(d)];
    for ((((q, a), b), c), d) in steps {
        let q = s.load(q);
        for (acc, k) in acc.iter_mut().zip([a, b, c, d]) {
            *acc = s.mul_add(q, s.load_kv(k), *acc);
        }
    }
    acc
}

/// Eight accumulators of [`dot_group`] (zero for an empty query).
#[inline(always)]
fn dot8<const L: usize, S: Simd<L>, E: KvElement>(s: S, qv: &[[f32; L]], k: &[&[[E; L]]; 8]) -> [S::V; 8] {
    let mut steps = qv.iter().zip(k[0]).zip(k[1]).zip(k[2]).zip(k[3]).zip(k[4]).zip(k[5]).zip(k[6]).zip(k[7]);
    let Some(((((((((q, k0), k1), k2), k3), k4), k5), k6), k7)) = steps.next() else { return [s.zero(); 8] };
    let q = s.load(q);
    let mut acc = [s.zero(); 8];
    for (acc, k) in acc.iter_mut().zip([k0, k1, k2, k3, k4, k5, k6, k7]) {
        *acc = q * s.load_kv(k);
    }
    for ((((((((q, k0), k1), k2), k3), k4), k5), k6), k7) in steps {
        let q = s.load(q);
        for (acc, k) in acc.iter_mut().zip([k0, k1, k2, k3, k4, k5, k6, k7]) {
            *acc = s.mul_add(q, s.load_kv(k), *acc);
        }
    }
    acc
}

/// Lane `i` = `query · keys[i]`; a key shorter than the query gives `0`.
#[inline(always)]
pub(crate) fn dot_lanes<const L: usize, S: Simd<L>>(s: S, query: &[f32], keys: [&[f32]; L]) -> S::V {
    let long = keys.map(|k| k.len() >= query.len());
    let sums =
        dot_group(s, query, keys.map(|k| if k.len() >= query.len() { k } else { query })).unwrap_or_else(|| s.zero());
    if long.iter().all(|&l| l) {
        return sums;
    }
    let mut lanes = s.to_array(sums);
    for (lane, &l) in lanes.iter_mut().zip(&long) {
        if !l {
            *lane = 0.0;
        }
    }
    s.load(&lanes)
}

/// `out = out·rescale + Σⱼ wⱼ·vⱼ` over keys `first ..` (`weights` one per
/// key; with `MASKED`, keys the row's mask hides are skipped and their V
/// rows not read), in passes of `NV` output vectors held in registers; the
/// first block (`first`) starts from zero instead of the old contents.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn accumulate<const L: usize, S: Simd<L>, E: KvElement, const MASKED: bool>(
    s: S,
    v: Rows<'_, E>,
    plan: &RowPlan<'_>,
    first_key: usize,
    weights: &[f32],
    rescale: f32,
    first: bool,
    out: &mut [f32],
) {
    let pv = Pv::<L, S, E, MASKED> { s, v, plan, first_key, weights, rescale, first };
    // Passes no wider than the row: a row of fewer vectors than the widest
    // pass would go one vector (one accumulator, each multiply-add waiting
    // on the last) at a time, as `dv` = 64 did on AVX-512.
    let vectors = out.len() / L;
    if S::REGISTERS >= 32 && vectors >= 16 {
        pv.run::<16>(out);
    } else if S::REGISTERS >= 16 && vectors >= 8 {
        pv.run::<8>(out);
    } else {
        pv.run::<4>(out);
    }
}

/// One block's `P·V` (see [`accumulate`]).
struct Pv<'p, 'a, const L: usize, S: Simd<L>, E, const MASKED: bool> {
    s: S,
    v: Rows<'a, E>,
    plan: &'p RowPlan<'a>,
    first_key: usize,
    weights: &'p [f32],
    rescale: f32,
    first: bool,
}

impl<const L: usize, S: Simd<L>, E: KvElement, const MASKED: bool> Pv<'_, '_, L, S, E, MASKED> {
    /// Whole passes of `NV` vectors, then single vectors, then the tail.
    #[inline(always)]
    fn run<const NV: usize>(&self, out: &mut [f32]) {
        let (body, tail) = out.as_chunks_mut::<L>();
        let mut passes = body.chunks_exact_mut(NV);
        let mut col = 0;
        for pass in &mut passes {
            if let Some(pass) = pass.first_chunk_mut::<NV>() {
                self.columns(pass, col);
            }
            col += NV;
        }
        for x in passes.into_remainder() {
            self.columns::<1>(core::array::from_mut(x), col);
            col += 1;
        }
        if !tail.is_empty() {
            self.tail(tail, col * L);
        }
    }

    /// The keys to fold in: `(key, weight)`.
    #[inline(always)]
    fn keys(&self) -> impl Iterator<Item = (usize, f32)> + '_ {
        (self.first_key..).zip(self.weights.iter().copied()).filter(|&(j, _)| !(MASKED && self.plan.is_masked(j)))
    }

    /// Output vectors `col .. col + NV` (`out`).
    #[inline(always)]
    fn columns<const NV: usize>(&self, out: &mut [[f32; L]; NV], col: usize) {
        let s = self.s;
        let mut acc = [s.zero(); NV];
        if !self.first {
            let r = s.splat(self.rescale);
            for (a, x) in acc.iter_mut().zip(out.iter()) {
                *a = s.load(x) * r;
            }
        }
        // Key `first_key + n`'s `NV` vectors from column `col` start `n`
        // strides into `rows`: one range check per key (every row of the
        // view holds them: `col + NV` vectors fit in the value width).
        let (stride, width) = (self.v.stride, NV * L);
        let rows = row_from(&self.v, self.first_key);
        let mut at = col * L;
        for (&w, j) in self.weights.iter().zip(self.first_key..) {
            let vs = rows.get(at..at.wrapping_add(width)).and_then(|r| r.as_chunks::<L>().0.first_chunk::<NV>());
            at = at.wrapping_add(stride);
            if let Some(vs) = vs
                && !(MASKED && self.plan.is_masked(j))
            {
                let w = s.splat(w);
                for (a, x) in acc.iter_mut().zip(vs) {
                    *a = s.mul_add(w, s.load_kv(x), *a);
                }
            }
        }
        for (x, a) in out.iter_mut().zip(acc) {
            s.store(a, x);
        }
    }

    /// The last `dv mod L` columns, from column `at`.
    #[inline(never)]
    fn tail(&self, out: &mut [f32], at: usize) {
        let s = self.s;
        s.vectorize(
            #[inline(always)]
            || {
                let mut acc = if self.first { s.zero() } else { s.load_padded(out, 0.0) * s.splat(self.rescale) };
                for (j, w) in self.keys() {
                    let row = row_from(&self.v, j).get(at..at + out.len()).unwrap_or_default();
                    acc = s.mul_add(s.splat(w), s.load_kv_padded(row, 0.0), acc);
                }
                s.store_partial(acc, out);
            },
        )
    }
}
