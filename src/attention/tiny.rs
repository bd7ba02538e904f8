//! The tiny engine: every key in its own vector lane, for problems whose
//! key count, head dimension and value dimension are each at most [`MAX`]
//! (the seed toy, 16×16×16×16) and nothing masked.
//!
//! K is transposed once per call into `kt` (row `d` holds `k[·][d]` of
//! every key), so each query costs `D` FMAs per vector of scores, one
//! softmax step on those vectors and `NK` FMAs per vector of its output
//! row. The const-generic API runs it specialised by its const dimensions
//! ([`ConstDims`]: every loop has a constant trip count and unrolls, no
//! block bookkeeping, no padded tail passes); the runtime API runs the very
//! same operations with [`RuntimeDims`], so both give the same bits.

use super::logits::exp_shifted;
use super::problem::{OutRows, Problem};
use crate::simd::Simd;

/// Largest key count, head and value dimension the tiny engine takes.
pub(crate) const MAX: usize = 16;

/// Whether the tiny engine can take a problem of these dimensions.
pub(crate) const fn fits(nk: usize, d: usize, dv: usize) -> bool {
    nk <= MAX && d <= MAX && dv <= MAX
}

/// The key count and the head and value dimensions, known at compile time
/// or at run time.
pub(crate) trait Dims: Copy {
    fn nk(self) -> usize;
    fn d(self) -> usize;
    fn dv(self) -> usize;
}

/// Dimensions known at compile time.
#[derive(Clone, Copy)]
pub(crate) struct ConstDims<const NK: usize, const D: usize, const DV: usize>;

impl<const NK: usize, const D: usize, const DV: usize> Dims for ConstDims<NK, D, DV> {
    #[inline(always)]
    fn nk(self) -> usize {
        NK
    }
    #[inline(always)]
    fn d(self) -> usize {
        D
    }
    #[inline(always)]
    fn dv(self) -> usize {
        DV
    }
}

/// Dimensions known at run time only.
#[derive(Clone, Copy)]
pub(crate) struct RuntimeDims {
    pub(crate) nk: usize,
    pub(crate) d: usize,
    pub(crate) dv: usize,
}

impl Dims for RuntimeDims {
    #[inline(always)]
    fn nk(self) -> usize {
        self.nk
    }
    #[inline(always)]
    fn d(self) -> usize {
        self.d
    }
    #[inline(always)]
    fn dv(self) -> usize {
        self.dv
    }
}

/// Output rows `first_row ..` into `out` for a problem of the dimensions
/// `dims` (the caller checked [`fits`] and that nothing is masked).
#[inline(always)]
pub(crate) fn attend<const L: usize, S: Simd<L>, T: Dims>(
    s: S,
    dims: T,
    problem: &Problem<'_>,
    first_row: usize,
    mut out: OutRows<'_>,
) {
    let (nk, d) = (dims.nk().min(MAX), dims.d().min(MAX));
    let key_vectors = nk.div_ceil(L);
    let value_vectors = dims.dv().div_ceil(L);
    let scale = s.splat(problem.scale());
    // kt[c][j] = k[j][c], zero past nk.
    let mut kt = [[0.0f32; MAX]; MAX];
    for j in 0..nk {
        for (c, &x) in problem.k.row(j).iter().enumerate().take(d) {
            if let Some(slot) = kt.get_mut(c).and_then(|r| r.get_mut(j)) {
                *slot = x;
            }
        }
    }
    let rows = out.len().min(problem.nq.saturating_sub(first_row));
    for (i, row) in (first_row..).zip(out.rows(rows)) {
        let query = problem.q.row(i);
        let mut scores = [s.zero(); MAX];
        for (&x, k) in query.iter().zip(&kt).take(d) {
            let x = s.splat(x);
            for (acc, k) in scores.iter_mut().zip(k.as_chunks::<L>().0).take(key_vectors) {
                *acc = s.mul_add(x, s.load(k), *acc);
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
        let mut weights = [0.0f32; MAX];
        let mut sum = s.zero();
        for (x, w) in scores.iter().zip(weights.as_chunks_mut::<L>().0).take(key_vectors) {
            let p = exp_shifted(s, *x, shift);
            sum = sum + p;
            s.store(p, w);
        }
        let sum = s.reduce_add(sum);
        // No key with a finite score: the zero row, as a fully masked row
        // (before accumulating: a zero weight times an infinite value is NaN).
        if sum == 0.0 {
            row.fill(0.0);
            continue;
        }
        let mut acc = [s.zero(); MAX];
        for (j, &w) in weights.iter().enumerate().take(nk) {
            let w = s.splat(w);
            let (body, tail) = problem.v.row(j).as_chunks::<L>();
            for (a, v) in acc.iter_mut().zip(body) {
                *a = s.mul_add(w, s.load(v), *a);
            }
            if !tail.is_empty()
                && let Some(a) = acc.get_mut(body.len())
            {
                *a = s.mul_add(w, s.load_padded(tail, 0.0), *a);
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
