//! The tiny engine: every key in its own vector lane, for problems whose
//! key count, head dimension and value dimension are each at most 16 (the
//! seed toy, 16×16×16×16) and no masking at all.
//!
//! K is transposed once per call into `kt` (row `d` holds `k[·][d]` of every
//! key) and V padded to 16 floats a row, so each query costs `D` FMAs per
//! vector of scores, one vectorized `2^x`, and `NK` FMAs per vector of its
//! output row: no per-block bookkeeping, no tails. Arithmetic matches the tiled
//! engine's (scores pre-multiplied by `scale·log₂e`, the same `2^x`).

use super::row::Problem;
use crate::kernels::exp2_nonpositive_lanes;
use crate::simd::{self, LANES};

/// Largest key count, head and value dimension the tiny engine takes.
pub(crate) const MAX: usize = if LANES > 16 { LANES } else { 16 };
/// Vectors per `MAX` floats.
const VECTORS: usize = MAX / LANES;

/// Whether the tiny engine takes `problem` (a property of the problem
/// alone, so every row range of it runs here too).
pub(crate) fn eligible(problem: &Problem<'_>) -> bool {
    super::tiled::ENABLED
        && problem.nk <= MAX
        && problem.d <= MAX
        && problem.dv <= MAX
        && problem.mask.is_none()
        && problem.bias.is_none()
        && problem.settings.alibi_slope.is_none()
        && !problem.settings.causal
        && problem.settings.window.is_none()
}

/// The key count and the head and value dimensions, as runtime values or as
/// constants: the const-generic API monomorphizes the tiny engine per shape
/// (fully unrolled, no loop bookkeeping) and runs the very same operations
/// in the same order, so both give the same bits.
pub(crate) trait Dims: Copy {
    fn nk(self) -> usize;
    fn d(self) -> usize;
    fn dv(self) -> usize;
}

/// Dimensions known at run time only.
#[derive(Clone, Copy)]
pub(crate) struct RuntimeDims {
    nk: usize,
    d: usize,
    dv: usize,
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

/// Output rows `first_row ..` into `out` (whole rows of `dv`).
pub(crate) fn attend_rows(problem: &Problem<'_>, first_row: usize, out: &mut [f32]) {
    let dims = RuntimeDims { nk: problem.nk, d: problem.d, dv: problem.dv };
    attend_rows_with(dims, problem, first_row, out);
}

/// [`attend_rows`] with the dimensions given by `dims` (which must agree
/// with `problem`'s).
#[inline(always)]
pub(crate) fn attend_rows_with<T: Dims>(dims: T, problem: &Problem<'_>, first_row: usize, out: &mut [f32]) {
    let (d, dv, nk) = (dims.d().max(1), dims.dv().max(1), dims.nk());
    let scale = match problem.settings.scale {
        Some(s) => s,
        None => 1.0 / libm::sqrtf(d as f32),
    };
    let factor = scale * core::f32::consts::LOG2_E;
    // kt[i] = k[·][i] over all keys, VECTORS vectors of keys.
    let mut kt = [[0.0f32; MAX]; MAX];
    for (j, key) in problem.k.chunks_exact(d).take(nk).enumerate() {
        for (row, &x) in kt.iter_mut().zip(key) {
            if let Some(slot) = row.get_mut(j) {
                *slot = x;
            }
        }
    }
    let mut values = [[0.0f32; MAX]; MAX];
    for (dst, src) in values.iter_mut().zip(problem.v.chunks_exact(dv)) {
        for (x, y) in dst.iter_mut().zip(src) {
            *x = *y;
        }
    }
    // Vectors holding keys, and holding a value row: constants for const shapes.
    let (kv, vv) = (nk.div_ceil(LANES).min(VECTORS), dv.div_ceil(LANES).min(VECTORS));
    // Checked: a `first_row` far past the last row (no row to write) must
    // not overflow the offset.
    let queries = first_row.checked_mul(d).and_then(|at| problem.q.get(at..)).unwrap_or_default();
    for (query, row) in queries.chunks_exact(d).zip(out.chunks_exact_mut(dv)) {
        let mut s = [simd::splat(0.0); VECTORS];
        for (&x, k) in query.iter().zip(&kt) {
            let x = simd::splat(x * factor);
            for (a, k) in s.iter_mut().zip(k.as_chunks::<LANES>().0).take(kv) {
                *a = simd::mul_add(x, simd::load(k), *a);
            }
        }
        // Padding lanes past the last key are set to −∞ (not added: an
        // infinite query entry times their zero K would be NaN).
        if !nk.is_multiple_of(LANES)
            && let Some(last) = s.get_mut(kv.wrapping_sub(1))
        {
            let mut lanes = [0.0; LANES];
            simd::store(*last, &mut lanes);
            lanes.iter_mut().skip(nk % LANES).for_each(|x| *x = f32::NEG_INFINITY);
            *last = simd::load(&lanes);
        }
        // Every score −∞ (an infinite query entry meeting keys of the
        // opposite sign): shift by 0 so `−∞ − shift` stays `−∞`, not NaN.
        let max = simd::reduce_max(s.iter().take(kv).copied().fold(simd::splat(f32::NEG_INFINITY), simd::max));
        let shift = if max == f32::NEG_INFINITY { 0.0 } else { max };
        let mut weights = [0.0f32; MAX];
        let mut sum = simd::splat(0.0);
        for (s, w) in s.iter().zip(weights.as_chunks_mut::<LANES>().0).take(kv) {
            let p = exp2_nonpositive_lanes(*s - simd::splat(shift));
            sum += p;
            simd::store(p, w);
        }
        let sum = simd::reduce_add(sum);
        // No key with a finite score: the zero row, as a fully masked row
        // (before accumulating: a zero weight times an infinite value is NaN).
        if sum == 0.0 {
            row.fill(0.0);
            continue;
        }
        let mut acc = [simd::splat(0.0); VECTORS];
        for (&w, v) in weights.iter().zip(&values).take(nk) {
            let w = simd::splat(w);
            for (a, v) in acc.iter_mut().zip(v.as_chunks::<LANES>().0).take(vv) {
                *a = simd::mul_add(w, simd::load(v), *a);
            }
        }
        let inv = simd::splat(1.0 / sum);
        let (body, tail) = row.as_chunks_mut::<LANES>();
        for (a, o) in acc.iter().zip(body.iter_mut()) {
            simd::store(*a * inv, o);
        }
        if let Some(a) = acc.get(body.len()) {
            simd::store_partial(*a * inv, tail);
        }
    }
}
