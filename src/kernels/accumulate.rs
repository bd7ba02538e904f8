//! Accumulation: `acc += w·x`, `acc += Σ wⱼ·rowⱼ`, and `acc *= s`.

use crate::simd::{Simd, dispatch};

/// Rows [`axpy_rows`] folds per pass over the accumulator.
const ROWS_PER_PASS: usize = 4;

/// `acc[i] += w · x[i]` over the common length (fused where the target has FMA).
///
/// Error: one rounding per element with FMA, two without. Non-finite values
/// follow IEEE arithmetic (`0 · ∞ = NaN`).
///
/// ```
/// let mut acc = [1.0, 1.0];
/// sdpa::kernels::axpy(&mut acc, 2.0, &[3.0, -1.0]);
/// assert_eq!(acc, [7.0, -1.0]);
/// ```
pub fn axpy(acc: &mut [f32], w: f32, x: &[f32]) {
    dispatch!(|s| axpy_with(s, acc, w, x))
}

/// [`axpy`] on backend `s`.
#[inline(always)]
pub(crate) fn axpy_with<const L: usize, S: Simd<L>>(s: S, acc: &mut [f32], w: f32, x: &[f32]) {
    let wv = s.splat(w);
    let (av, at) = acc.as_chunks_mut::<L>();
    let (xv, xt) = x.as_chunks::<L>();
    for (a, x) in av.iter_mut().zip(xv) {
        s.store(s.mul_add(wv, s.load(x), s.load(a)), a);
    }
    if av.len() <= xv.len() {
        let rest = x.get(av.len() * L..).unwrap_or_default();
        for (a, x) in at.iter_mut().zip(rest) {
            *a = mul_add_one(s, w, *x, *a);
        }
    } else {
        // `x` ended inside the vector part of `acc`: finish on the tail of `x`.
        let done = xv.len() * L;
        let acc_rest = av.as_flattened_mut().get_mut(done..).unwrap_or_default();
        for (a, x) in acc_rest.iter_mut().zip(xt) {
            *a = mul_add_one(s, w, *x, *a);
        }
    }
}

/// `acc[i] += Σⱼ weights[j] · rows[j·n + i]` with `n = acc.len()`: the
/// weighted sum of consecutive rows, four rows per pass over `acc` so each
/// accumulator load and store serves four FMAs.
///
/// Uses `min(weights.len(), rows.len() / n)` rows. Each element is updated
/// row by row in index order, rounding exactly as repeated [`axpy`] calls:
/// for `m` rows, within `γ(m + 1)·(|acc| + Σⱼ|wⱼ·xⱼ|)` of the exact sum,
/// `γ(k) = k·2⁻²⁴/(1 − k·2⁻²⁴)`. Non-finite values follow IEEE arithmetic.
///
/// ```
/// let mut acc = [0.0, 0.0];
/// let rows = [1.0, 2.0, /**/ 10.0, 20.0];
/// sdpa::kernels::axpy_rows(&mut acc, &[0.5, 0.25], &rows);
/// assert_eq!(acc, [3.0, 6.0]);
/// ```
pub fn axpy_rows(acc: &mut [f32], weights: &[f32], rows: &[f32]) {
    dispatch!(|s| axpy_rows_with(s, acc, weights, rows))
}

/// [`axpy_rows`] on backend `s`.
#[inline(always)]
pub(crate) fn axpy_rows_with<const L: usize, S: Simd<L>>(s: S, acc: &mut [f32], weights: &[f32], rows: &[f32]) {
    let n = acc.len();
    if n == 0 {
        return;
    }
    let used = weights.len().min(rows.len() / n);
    let mut groups = rows.chunks_exact(n * ROWS_PER_PASS).take(used / ROWS_PER_PASS);
    let ws = weights.as_chunks::<ROWS_PER_PASS>().0;
    for (group, &[w0, w1, w2, w3]) in (&mut groups).zip(ws) {
        let mut four = [&[][..]; ROWS_PER_PASS];
        for (slot, row) in four.iter_mut().zip(&mut group.chunks_exact(n)) {
            *slot = row;
        }
        let [(r0, t0), (r1, t1), (r2, t2), (r3, t3)] = four.map(|row| row.as_chunks::<L>());
        let wv = [s.splat(w0), s.splat(w1), s.splat(w2), s.splat(w3)];
        let (av, at) = acc.as_chunks_mut::<L>();
        for ((((a, x0), x1), x2), x3) in av.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3) {
            let mut sum = s.load(a);
            sum = s.mul_add(wv[0], s.load(x0), sum);
            sum = s.mul_add(wv[1], s.load(x1), sum);
            sum = s.mul_add(wv[2], s.load(x2), sum);
            sum = s.mul_add(wv[3], s.load(x3), sum);
            s.store(sum, a);
        }
        for (w, tail) in [(w0, t0), (w1, t1), (w2, t2), (w3, t3)] {
            for (a, x) in at.iter_mut().zip(tail) {
                *a = mul_add_one(s, w, *x, *a);
            }
        }
    }
    let first_rest = (used / ROWS_PER_PASS) * ROWS_PER_PASS;
    let rest_rows = rows.get(first_rest * n..used * n).unwrap_or_default();
    let rest_weights = weights.get(first_rest..used).unwrap_or_default();
    // `&mut`: see `dot_rows` (no out-of-line division, no panic path).
    for (row, &w) in (&mut rest_rows.chunks_exact(n)).zip(rest_weights) {
        axpy_with(s, acc, w, row);
    }
}

/// `acc[i] *= s`.
///
/// Exact when `s` is a power of two and no underflow occurs, else one rounding.
/// Non-finite values follow IEEE arithmetic (`0 · ∞ = NaN`).
///
/// ```
/// let mut acc = [2.0, -4.0];
/// sdpa::kernels::scale(&mut acc, 0.5);
/// assert_eq!(acc, [1.0, -2.0]);
/// ```
pub fn scale(acc: &mut [f32], s: f32) {
    let factor = s;
    dispatch!(|s| scale_with(s, acc, factor))
}

/// [`scale`] on backend `s`.
#[inline(always)]
pub(crate) fn scale_with<const L: usize, S: Simd<L>>(s: S, acc: &mut [f32], factor: f32) {
    let sv = s.splat(factor);
    let (av, at) = acc.as_chunks_mut::<L>();
    for a in av {
        s.store(s.load(a) * sv, a);
    }
    for a in at {
        *a *= factor;
    }
}

/// `a * b + c` on one scalar, rounded exactly as a lane of `s.mul_add`.
#[inline(always)]
fn mul_add_one<const L: usize, S: Simd<L>>(s: S, a: f32, b: f32, c: f32) -> f32 {
    super::exp::first_lane(s, s.mul_add(s.splat(a), s.splat(b), s.splat(c)))
}

/// Scalar reference for [`axpy`] and [`axpy_rows`]: `acc[i] += w·x[i]`, one
/// multiply and one add per element.
///
/// ```
/// let mut acc = [1.0];
/// sdpa::kernels::axpy_reference(&mut acc, 2.0, &[3.0]);
/// assert_eq!(acc, [7.0]);
/// ```
pub fn axpy_reference(acc: &mut [f32], w: f32, x: &[f32]) {
    for (a, x) in acc.iter_mut().zip(x) {
        *a += w * x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wave(i: usize) -> f32 {
        (i as f32 * 0.61).sin()
    }

    #[test]
    fn axpy_matches_reference_for_all_length_pairs() {
        for n_acc in 0..40 {
            for n_x in 0..40 {
                let x: [f32; 40] = core::array::from_fn(|i| wave(i + 3));
                let mut got: [f32; 40] = core::array::from_fn(wave);
                let mut want = got;
                axpy(&mut got[..n_acc], 1.5, &x[..n_x]);
                axpy_reference(&mut want[..n_acc], 1.5, &x[..n_x]);
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() <= 4.0 * f32::EPSILON, "{n_acc} {n_x}");
                }
            }
        }
    }

    #[test]
    fn axpy_rows_equals_repeated_axpy() {
        for n in 1..20 {
            for m in 0..10 {
                let rows: [f32; 200] = core::array::from_fn(|i| wave(i * 7 + 1));
                let weights: [f32; 10] = core::array::from_fn(|i| wave(i + 50));
                let mut fused = [0.25f32; 20];
                let mut step = fused;
                axpy_rows(&mut fused[..n], &weights[..m], &rows[..n * m]);
                for j in 0..m {
                    axpy(&mut step[..n], weights[j], &rows[j * n..(j + 1) * n]);
                }
                assert_eq!(fused, step, "n = {n}, m = {m}");
            }
        }
    }

    #[test]
    fn scale_by_power_of_two_is_exact() {
        let mut acc: [f32; 19] = core::array::from_fn(wave);
        let before = acc;
        scale(&mut acc, 0.25);
        for (a, b) in acc.iter().zip(&before) {
            assert_eq!(*a, b * 0.25);
        }
    }
}
