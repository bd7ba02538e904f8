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
//! read straight from the key rows, with no scratch and no copy. There each
//! output vector is one chain over the value rows, and with runtime
//! dimensions each score one dot product over a key row, the rows walked in
//! order (no per-element row arithmetic). Either way the arithmetic, and so
//! every bit, is the same.
//!
//! The const-generic API runs it specialised by its const dimensions
//! ([`ConstDims`]: rows are arrays, every loop has a constant trip count and
//! unrolls, padding lanes past the last key or value column are never
//! computed); the runtime API runs the very same operations with
//! [`RuntimeDims`], so both give the same bits. Not inlined into the caller,
//! so its scratch is not part of the other engines' stack frames.

use super::logits::exp_shifted;
use super::problem::{OutRows, Problem, Rows};
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
        if S::REGISTERS >= 16 {
            let mut kt = [[0.0; MAX]; D];
            engine(s, sizes, problem, first_row, out, Some(&mut kt), false, (q, &k[..], &v[..]));
        } else {
            engine(s, sizes, problem, first_row, out, None, false, (q, &k[..], &v[..]));
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
        let rows = (problem.q, problem.k, problem.v);
        if S::REGISTERS >= 16 {
            let mut kt = [[0.0; MAX]; MAX];
            engine(s, sizes, problem, first_row, out, Some(&mut kt), true, rows);
        } else {
            engine(s, sizes, problem, first_row, out, None, true, rows);
        }
    }
}

/// Rows of Q, K or V: arrays of a const width (the const-generic API) or
/// a view of runtime width and stride.
trait RowsOf<'a>: Copy {
    /// Row `i` (empty past the end).
    fn row(self, i: usize) -> &'a [f32];
    /// The rows in order.
    fn each(self) -> impl Iterator<Item = &'a [f32]>;
}

impl<'a, const W: usize> RowsOf<'a> for &'a [[f32; W]] {
    #[inline(always)]
    fn row(self, i: usize) -> &'a [f32] {
        self.get(i).map_or(&[][..], |r| r.as_slice())
    }
    #[inline(always)]
    fn each(self) -> impl Iterator<Item = &'a [f32]> {
        self.iter().map(|r| r.as_slice())
    }
}

impl<'a> RowsOf<'a> for Rows<'a> {
    #[inline(always)]
    fn row(self, i: usize) -> &'a [f32] {
        Rows::row(&self, i)
    }
    #[inline(always)]
    fn each(self) -> impl Iterator<Item = &'a [f32]> {
        self.iter()
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

/// The engine on the rows `(q, k, v)`; the key
/// vectors transposed into a scratch on SIMD hosts, gathered from the key
/// rows on the portable backend (`by_key`: one dot product per key instead,
/// for runtime dimensions, where a gather pays a bounds check per lane).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn engine<'a, const L: usize, S: Simd<L>>(
    s: S,
    sizes: Sizes,
    problem: &Problem<'_>,
    first_row: usize,
    out: OutRows<'_>,
    kt: Option<&mut [[f32; MAX]]>,
    by_key: bool,
    (q, k, v): (impl RowsOf<'a>, impl RowsOf<'a>, impl RowsOf<'a>),
) {
    let (nk, d) = (sizes.nk.min(MAX), sizes.d.min(MAX));
    let scale = problem.scale();
    if let (Some(kt), true) = (kt, S::REGISTERS >= 16) {
        // kt[c][j] = k[j][c] (zeroed by the caller past the last key).
        for j in 0..nk {
            for (row, &x) in kt.iter_mut().zip(k.row(j)).take(d) {
                if let Some(slot) = row.get_mut(j) {
                    *slot = x;
                }
            }
        }
        // Closures as arguments, where they can be `#[inline(always)]`: one
        // left out of line would run without the backend's target features.
        attend_with(
            s,
            sizes,
            problem,
            first_row,
            out,
            q,
            v,
            #[inline(always)]
            |query: &[f32]| {
                scores_by_dim(
                    s,
                    query,
                    (nk, d),
                    scale,
                    #[inline(always)]
                    |c: usize, v: usize| {
                        let lanes = kt.get(c).and_then(|r| r.get(v * L..)).and_then(|r| r.first_chunk::<L>());
                        lanes.map_or(s.zero(), |x| s.load(x))
                    },
                )
            },
        );
    } else if by_key && !S::FUSED {
        attend_with(
            s,
            sizes,
            problem,
            first_row,
            out,
            q,
            v,
            // Not `#[inline(always)]`: this branch runs on the unfused
            // backends only (portable, SSE2), which have no target features
            // to lose, and forcing it costs the Cortex-M4 C ABI toy 82
            // instructions.
            |query: &[f32]| scores_by_key(s, query.get(..d).unwrap_or(query), k.each().take(nk), scale),
        );
    } else {
        // The key vector straight from the key rows (zero past the last key).
        attend_with(
            s,
            sizes,
            problem,
            first_row,
            out,
            q,
            v,
            #[inline(always)]
            |query: &[f32]| {
                scores_by_dim(
                    s,
                    query,
                    (nk, d),
                    scale,
                    #[inline(always)]
                    |c: usize, v: usize| {
                        let lanes: [f32; L] = core::array::from_fn(|l| {
                            let j = v * L + l;
                            if j < nk { k.row(j).get(c).copied().unwrap_or(0.0) } else { 0.0 }
                        });
                        s.load(&lanes)
                    },
                )
            },
        );
    }
}

/// The scores of `query`: `scale` times its dot products with the `nk`
/// keys, lane `j` of vector `v` for key `v·L + j`, a vector of keys at a
/// time (`key(c, v)` is dimension `c` of keys `v·L .. v·L + L`), `−∞` past
/// the last key.
#[inline(always)]
fn scores_by_dim<const L: usize, S: Simd<L>>(
    s: S,
    query: &[f32],
    (nk, d): (usize, usize),
    scale: f32,
    key: impl Fn(usize, usize) -> S::V,
) -> [S::V; MAX_VECTORS] {
    let key_vectors = nk.div_ceil(L).min(MAX_VECTORS);
    let mut dots = [s.zero(); MAX_VECTORS];
    for (c, &x) in query.iter().enumerate().take(d) {
        let x = s.splat(x);
        for (v, acc) in dots.iter_mut().enumerate().take(key_vectors) {
            *acc = s.mul_add(x, key(c, v), *acc);
        }
    }
    // The padding lanes are set to −∞ after scaling (set, not added: an
    // infinite query entry times their zero K is NaN).
    for (v, x) in dots.iter_mut().enumerate().take(key_vectors) {
        let mut lanes = s.to_array(*x * s.splat(scale));
        for (j, lane) in (v * L..).zip(lanes.iter_mut()) {
            if j >= nk {
                *lane = f32::NEG_INFINITY;
            }
        }
        *x = s.load(&lanes);
    }
    dots
}

/// The same scores as [`scores_by_dim`], bit for bit (each lane is the
/// same chain over the dimensions, unfused as on the backends that call
/// it), one key of `keys` at a time.
#[inline(always)]
fn scores_by_key<'a, const L: usize, S: Simd<L>>(
    s: S,
    query: &[f32],
    keys: impl Iterator<Item = &'a [f32]>,
    scale: f32,
) -> [S::V; MAX_VECTORS] {
    let mut lanes = [[f32::NEG_INFINITY; L]; MAX_VECTORS];
    for (lane, key) in lanes.as_flattened_mut().iter_mut().zip(keys) {
        *lane = query.iter().zip(key).fold(0.0, |acc, (&x, &k)| x * k + acc) * scale;
    }
    s.load_all(&lanes)
}

/// The engine, with `scores(query)` the scaled scores of a query (lane `j`
/// of vector `v` for key `v·L + j`, `−∞` past the last key).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn attend_with<'a, const L: usize, S: Simd<L>>(
    s: S,
    sizes: Sizes,
    problem: &Problem<'_>,
    first_row: usize,
    mut out: OutRows<'_>,
    q: impl RowsOf<'a>,
    v: impl RowsOf<'a>,
    scores: impl Fn(&'a [f32]) -> [S::V; MAX_VECTORS],
) {
    let (nk, dv) = (sizes.nk.min(MAX), sizes.dv.min(MAX));
    let key_vectors = nk.div_ceil(L).min(MAX_VECTORS);
    let rows = out.len().min(problem.nq.saturating_sub(first_row));
    // The query rows walked in order from `first_row` (no per-row index
    // arithmetic; `rows` stops at the last query).
    for (row, query) in out.rows(rows).zip(q.each().skip(first_row)) {
        let mut scores = scores(query);
        let max = scores.iter().take(key_vectors).fold(s.splat(f32::NEG_INFINITY), |m, x| s.max(*x, m));
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
        let inv = s.splat(1.0 / sum);
        weigh(s, &scores, nk, v, row, inv);
    }
}

/// `row = inv · Σ_j w_j v_j` (`w_j` lane `j` of `weights`), each output
/// vector one chain over the keys in order. On SIMD hosts key by key into
/// accumulators for the whole row, which stay in registers; on the portable
/// backend, where they would not fit, one output vector at a time. The same
/// chains either way, bit for bit.
#[inline(always)]
fn weigh<'a, const L: usize, S: Simd<L>>(
    s: S,
    weights: &[S::V; MAX_VECTORS],
    nk: usize,
    v: impl RowsOf<'a>,
    row: &mut [f32],
    inv: S::V,
) {
    if S::REGISTERS < 16 {
        let mut lanes = [[0.0; L]; MAX_VECTORS];
        for (l, w) in lanes.iter_mut().zip(weights) {
            *l = s.to_array(*w);
        }
        let weights = lanes.as_flattened().get(..nk).unwrap_or_default();
        let (body, tail) = row.as_chunks_mut::<L>();
        for (u, o) in body.iter_mut().enumerate() {
            let at = u * L;
            let acc = v.each().zip(weights).fold(s.zero(), |acc, (r, &w)| {
                let x = r.get(at..).and_then(|r| r.first_chunk::<L>()).map_or(s.zero(), |x| s.load(x));
                s.mul_add(s.splat(w), x, acc)
            });
            s.store(acc * inv, o);
        }
        if !tail.is_empty() {
            let at = body.len() * L;
            let acc = v.each().zip(weights).fold(s.zero(), |acc, (r, &w)| {
                s.mul_add(s.splat(w), s.load_padded(r.get(at..).unwrap_or_default(), 0.0), acc)
            });
            s.store_partial(acc * inv, tail);
        }
        return;
    }
    let mut acc = [s.zero(); MAX_VECTORS];
    for (first, w) in (0..nk).step_by(L).zip(weights) {
        for (j, &w) in (first..nk).zip(&s.to_array(*w)) {
            let w = s.splat(w);
            let (body, tail) = v.row(j).as_chunks::<L>();
            for (a, x) in acc.iter_mut().zip(body) {
                *a = s.mul_add(w, s.load(x), *a);
            }
            if !tail.is_empty()
                && let Some(a) = acc.get_mut(body.len())
            {
                *a = s.mul_add(w, s.load_padded(tail, 0.0), *a);
            }
        }
    }
    let (body, tail) = row.as_chunks_mut::<L>();
    for (a, o) in acc.iter().zip(body.iter_mut()) {
        s.store(*a * inv, o);
    }
    if !tail.is_empty()
        && let Some(a) = acc.get(body.len())
    {
        s.store_partial(*a * inv, tail);
    }
}
