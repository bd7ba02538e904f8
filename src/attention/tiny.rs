//! The tiny engine: every key in one vector lane, for problems whose keys,
//! head dimension and value dimension each fit in one vector (`NK, D, DV ≤
//! LANES`: the seed toy, 16×16×16×16 on AVX-512) and no masking at all.
//!
//! K is transposed once per call into `kt` (row `d` holds `k[·][d]` of every
//! key) and V padded into full vectors, so each query costs `D` FMAs for its
//! whole score vector, one vectorized `2^x`, and `NK` FMAs for its output
//! row: no per-block bookkeeping, no tails. Arithmetic matches the tiled
//! engine's (scores pre-multiplied by `scale·log₂e`, the same `2^x`).

use super::row::Problem;
use crate::kernels::exp2_nonpositive_lanes;
use crate::simd::{self, LANES};

/// Whether the tiny engine takes `problem` (a property of the problem
/// alone, so every row range of it runs here too).
pub(crate) fn eligible(problem: &Problem<'_>) -> bool {
    super::tiled::ENABLED
        && problem.nk <= LANES
        && problem.d <= LANES
        && problem.dv <= LANES
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
    let mut kt = [[0.0f32; LANES]; LANES];
    for (j, key) in problem.k.chunks_exact(d).take(nk).enumerate() {
        for (row, &x) in kt.iter_mut().zip(key) {
            if let Some(slot) = row.get_mut(j) {
                *slot = x;
            }
        }
    }
    let mut values = [[0.0f32; LANES]; LANES];
    for (dst, src) in values.iter_mut().zip(problem.v.chunks_exact(dv)) {
        for (x, y) in dst.iter_mut().zip(src) {
            *x = *y;
        }
    }
    // 0 on real keys, −∞ on padding lanes: added to the scores.
    let mut pad = [f32::NEG_INFINITY; LANES];
    pad.iter_mut().take(nk).for_each(|x| *x = 0.0);
    let pad = simd::load(&pad);
    let queries = problem.q.get(first_row * d..).unwrap_or_default();
    for (query, row) in queries.chunks_exact(d).zip(out.chunks_exact_mut(dv)) {
        let mut s = simd::splat(0.0);
        for (&x, k) in query.iter().zip(&kt) {
            s = simd::mul_add(simd::splat(x * factor), simd::load(k), s);
        }
        let s = s + pad;
        let shift = simd::reduce_max(s);
        let p = exp2_nonpositive_lanes(s - simd::splat(shift));
        let sum = simd::reduce_add(p);
        let mut weights = [0.0f32; LANES];
        simd::store(p, &mut weights);
        let mut acc = simd::splat(0.0);
        for (&w, v) in weights.iter().zip(&values).take(nk) {
            acc = simd::mul_add(simd::splat(w), simd::load(v), acc);
        }
        simd::store_partial(acc * simd::splat(1.0 / sum), row);
    }
}
