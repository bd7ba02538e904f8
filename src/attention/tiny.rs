//! The tiny engine: every key in its own vector lane, for problems whose
//! key count, head dimension and value dimension are each at most [`MAX`]
//! (the seed toy, 16×16×16×16) and nothing masked.
//!
//! Each query costs `D` multiply-adds per vector of scores (one per key
//! lane), one softmax step on those vectors and `NK` multiply-adds per
//! vector of its output row. The key vector of dimension `c` holds `k[·][c]`
//! of `L` keys: on SIMD hosts K is transposed once per call into a scratch
//! sized by the dimensions (`D` rows of [`MAX`]), so it is one load; on the
//! portable backend (Cortex-M, RISC-V: a vector is four FPU registers) it is
//! read straight from the key rows, with no scratch and no copy. Either way
//! the arithmetic is the same.
//!
//! The const-generic API runs it specialised by its const dimensions
//! ([`ConstDims`]: rows are arrays, every loop has a constant trip count and
//! unrolls, padding lanes past the last key or value column are never
//! computed); the runtime API runs the very same operations with
//! [`RuntimeDims`], so both give the same bits. Not inlined into the caller,
//! so its scratch is not part of the other engines' stack frames.

use super::logits::exp_shifted;
use super::problem::{OutRows, Problem};
use crate::simd::Simd;

/// Largest key count, head and value dimension the tiny engine takes.
pub(crate) const MAX: usize = 16;
/// Vectors of [`MAX`] lanes at the narrowest backend (4 lanes).
const MAX_VECTORS: usize = 4;

/// Whether the tiny engine can take a problem of these dimensions.
pub(crate) const fn fits(nk: usize, d: usize, dv: usize) -> bool {
    nk <= MAX && d <= MAX && dv <= MAX
}

/// The key count and the head and value dimensions, known at compile time
/// or at run time: each runs the engine with row accessors of its own (the
/// const ones index arrays, so every bound is a constant the optimizer
/// sees), over the same arithmetic (`Sync`: parallel row blocks share it).
pub(crate) trait Dims: Copy + Sync {
    /// Whether the tiny engine can take `problem` ([`fits`] of its dimensions).
    fn fits(self, problem: &Problem<'_>) -> bool;

    /// Output rows `first_row ..` of `problem` into `out`.
    fn run<const L: usize, S: Simd<L>>(self, s: S, problem: &Problem<'_>, first_row: usize, out: OutRows<'_>);
}

/// Dimensions known at compile time.
#[derive(Clone, Copy)]
pub(crate) struct ConstDims<const NK: usize, const D: usize, const DV: usize>;

impl<const NK: usize, const D: usize, const DV: usize> Dims for ConstDims<NK, D, DV> {
    #[inline(always)]
    fn fits(self, _: &Problem<'_>) -> bool {
        fits(NK, D, DV)
    }

    #[inline(always)]
    fn run<const L: usize, S: Simd<L>>(self, s: S, problem: &Problem<'_>, first_row: usize, out: OutRows<'_>) {
        // Contiguous arrays (the single-head const-generic API) are read as
        // arrays; strided views (the multi-head form) through the runtime
        // accessors, over the same arithmetic.
        let k = problem.k.data.as_chunks::<D>().0.first_chunk::<NK>();
        let v = problem.v.data.as_chunks::<DV>().0.first_chunk::<NK>();
        let q = problem.q.data.as_chunks::<D>().0;
        let contiguous = problem.q.stride == D && problem.k.stride == D && problem.v.stride == DV;
        let sizes = Sizes { nk: NK, d: D, dv: DV };
        let (Some(k), Some(v), true) = (k, v, contiguous) else {
            return RuntimeDims.run(s, problem, first_row, out);
        };
        let q_row = |i: usize| q.get(i).map_or(&[][..], |r| r.as_slice());
        let k_row = |j: usize| k.get(j).map_or(&[][..], |r| r.as_slice());
        let v_row = |j: usize| v.get(j).map_or(&[][..], |r| r.as_slice());
        if S::REGISTERS >= 16 {
            let mut kt = [[0.0; MAX]; D];
            engine(s, sizes, problem, first_row, out, Some(&mut kt), q_row, k_row, v_row);
        } else {
            engine(s, sizes, problem, first_row, out, None, q_row, k_row, v_row);
        }
    }
}

/// Dimensions known at run time only: the problem's.
#[derive(Clone, Copy)]
pub(crate) struct RuntimeDims;

impl Dims for RuntimeDims {
    #[inline(always)]
    fn fits(self, problem: &Problem<'_>) -> bool {
        fits(problem.nk, problem.d, problem.dv)
    }

    #[inline(always)]
    fn run<const L: usize, S: Simd<L>>(self, s: S, problem: &Problem<'_>, first_row: usize, out: OutRows<'_>) {
        let sizes = Sizes { nk: problem.nk, d: problem.d, dv: problem.dv };
        let (q_row, k_row, v_row) = (|i| problem.q.row(i), |j| problem.k.row(j), |j| problem.v.row(j));
        if S::REGISTERS >= 16 {
            let mut kt = [[0.0; MAX]; MAX];
            engine(s, sizes, problem, first_row, out, Some(&mut kt), q_row, k_row, v_row);
        } else {
            engine(s, sizes, problem, first_row, out, None, q_row, k_row, v_row);
        }
    }
}

/// The dimensions, as numbers.
#[derive(Clone, Copy)]
struct Sizes {
    nk: usize,
    d: usize,
    dv: usize,
}

/// Output rows `first_row ..` into `out` for a problem of the dimensions
/// `dims` (the caller checked [`fits`] and that nothing is masked).
#[inline(never)]
pub(crate) fn attend<const L: usize, S: Simd<L>, T: Dims>(
    s: S,
    dims: T,
    problem: &Problem<'_>,
    first_row: usize,
    out: OutRows<'_>,
) {
    // Not inlined (one copy per const shape, one for runtime shapes):
    // re-enters the backend.
    s.vectorize(
        #[inline(always)]
        || dims.run(s, problem, first_row, out),
    )
}

/// Sets the rows `out` holds (at most `rows`) to zero.
fn zero_rows(mut out: OutRows<'_>, rows: usize) {
    let zero = core::hint::black_box(0.0);
    for row in out.rows(rows) {
        for x in row.iter_mut() {
            *x = zero;
        }
    }
}

/// The engine on rows read through `q_row`, `k_row` and `v_row`; the key
/// vectors transposed into a scratch on SIMD hosts, gathered from the key
/// rows on the portable backend.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn engine<'a, const L: usize, S: Simd<L>>(
    s: S,
    sizes: Sizes,
    problem: &Problem<'_>,
    first_row: usize,
    out: OutRows<'_>,
    kt: Option<&mut [[f32; MAX]]>,
    q_row: impl Fn(usize) -> &'a [f32],
    k_row: impl Fn(usize) -> &'a [f32],
    v_row: impl Fn(usize) -> &'a [f32],
) {
    let (nk, d) = (sizes.nk.min(MAX), sizes.d.min(MAX));
    if let (Some(kt), true) = (kt, S::REGISTERS >= 16) {
        // kt[c][j] = k[j][c] (zeroed by the caller past the last key).
        for j in 0..nk {
            for (row, &x) in kt.iter_mut().zip(k_row(j)).take(d) {
                if let Some(slot) = row.get_mut(j) {
                    *slot = x;
                }
            }
        }
        let key = |c: usize, v: usize| {
            kt.get(c).and_then(|r| r.get(v * L..)).and_then(|r| r.first_chunk::<L>()).map_or(s.zero(), |x| s.load(x))
        };
        attend_with(s, sizes, problem, first_row, out, q_row, v_row, key);
    } else {
        // The key vector straight from the key rows (zero past the last key).
        let key = |c: usize, v: usize| {
            let lanes: [f32; L] = core::array::from_fn(|l| {
                let j = v * L + l;
                if j < nk { k_row(j).get(c).copied().unwrap_or(0.0) } else { 0.0 }
            });
            s.load(&lanes)
        };
        attend_with(s, sizes, problem, first_row, out, q_row, v_row, key);
    }
}

/// The engine, with `key(c, v)` the vector of dimension `c` of keys
/// `v·L .. v·L + L` (zero past the last key).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn attend_with<'a, const L: usize, S: Simd<L>>(
    s: S,
    sizes: Sizes,
    problem: &Problem<'_>,
    first_row: usize,
    mut out: OutRows<'_>,
    q_row: impl Fn(usize) -> &'a [f32],
    v_row: impl Fn(usize) -> &'a [f32],
    key: impl Fn(usize, usize) -> S::V,
) {
    let (nk, d, dv) = (sizes.nk.min(MAX), sizes.d.min(MAX), sizes.dv.min(MAX));
    let key_vectors = nk.div_ceil(L).min(MAX_VECTORS);
    let value_vectors = dv.div_ceil(L).min(MAX_VECTORS);
    let scale = s.splat(problem.scale());
    let rows = out.len().min(problem.nq.saturating_sub(first_row));
    // Row indices from the rows present (`first_row` may be near `usize::MAX`).
    for (k, row) in out.rows(rows).enumerate() {
        let i = first_row + k;
        let query = q_row(i);
        let mut scores = [s.zero(); MAX_VECTORS];
        for (c, &x) in query.iter().enumerate().take(d) {
            let x = s.splat(x);
            for (v, acc) in scores.iter_mut().enumerate().take(key_vectors) {
                *acc = s.mul_add(x, key(c, v), *acc);
            }
        }
        // Scale; the padding lanes past the last key are set to −∞ (set,
        // not added: an infinite query entry times their zero K is NaN).
        let mut max = s.splat(f32::NEG_INFINITY);
        for (v, x) in scores.iter_mut().enumerate().take(key_vectors) {
            let mut lanes = s.to_array(*x * scale);
            for (j, lane) in (v * L..).zip(lanes.iter_mut()) {
                if j >= nk {
                    *lane = f32::NEG_INFINITY;
                }
            }
            *x = s.load(&lanes);
            max = s.max(*x, max);
        }
        let max = s.reduce_max(max);
        // Every score −∞ (an infinite query entry meeting keys of the
        // opposite sign): shift by 0 so `−∞ − shift` stays `−∞`, not NaN.
        let shift = s.splat(if max == f32::NEG_INFINITY { 0.0 } else { max });
        let mut sum = s.zero();
        for x in scores.iter_mut().take(key_vectors) {
            let p = exp_shifted(s, *x, shift);
            sum = sum + p;
            *x = p;
        }
        let sum = s.reduce_add(sum);
        // No key with a finite score: the zero row, as a fully masked row
        // (before accumulating: a zero weight times an infinite value is NaN).
        if sum == 0.0 {
            zero_rows(OutRows::contiguous(row, dv), 1);
            continue;
        }
        let mut acc = [s.zero(); MAX_VECTORS];
        for (v, weights) in scores.iter().enumerate().take(key_vectors) {
            for (j, &w) in (v * L..nk).zip(&s.to_array(*weights)) {
                let w = s.splat(w);
                let (body, tail) = v_row(j).as_chunks::<L>();
                for (a, v) in acc.iter_mut().zip(body).take(value_vectors) {
                    *a = s.mul_add(w, s.load(v), *a);
                }
                if !tail.is_empty()
                    && let Some(a) = acc.get_mut(body.len())
                {
                    *a = s.mul_add(w, s.load_padded(tail, 0.0), *a);
                }
            }
        }
        let inv = s.splat(1.0 / sum);
        let (body, tail) = row.as_chunks_mut::<L>();
        for (a, o) in acc.iter().zip(body.iter_mut()) {
            s.store(*a * inv, o);
        }
        if let Some(a) = acc.get(body.len()).filter(|_| body.len() < value_vectors) {
            s.store_partial(*a * inv, tail);
        }
    }
}
