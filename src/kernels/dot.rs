//! Dot products: one pair of vectors, and one query against a block of rows.

use crate::simd::{Simd, dispatch};

/// Vector accumulators [`dot`] keeps in flight, enough to hide FMA latency.
const ACCUMULATORS: usize = 4;
/// Rows [`dot_rows`] computes per pass over the query, sharing its loads.
const ROWS_PER_PASS: usize = 4;

/// `Σ a[i]·b[i]` over the common length of `a` and `b`, vectorized with
/// four independent accumulators.
///
/// Elements past the shorter slice are ignored; empty input gives `0.0`.
/// Error: at most `γ(n/L + 2·log₂L + 2) · Σ|a[i]·b[i]|` with `γ(k) = k·2⁻²⁴`
/// and `L` the lane count, the standard bound for blocked summation.
/// Non-finite inputs follow IEEE arithmetic: a NaN or `∞·0` anywhere gives NaN.
///
/// ```
/// let a = [1.0, 2.0, 3.0];
/// let b = [4.0, 5.0, 6.0];
/// assert_eq!(sdpa::kernels::dot(&a, &b), 32.0);
/// ```
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dispatch!(|s| dot_with(s, a, b))
}

/// [`dot`] on backend `s`.
#[inline(always)]
pub(crate) fn dot_with<const L: usize, S: Simd<L>>(s: S, a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (prefix(a, n), prefix(b, n));
    let (av, at) = a.as_chunks::<L>();
    let (bv, bt) = b.as_chunks::<L>();
    let mut acc = [s.splat(0.0); ACCUMULATORS];
    let (mut ai, mut bi) = (av.chunks_exact(ACCUMULATORS), bv.chunks_exact(ACCUMULATORS));
    for (ag, bg) in (&mut ai).zip(&mut bi) {
        for ((sum, x), y) in acc.iter_mut().zip(ag).zip(bg) {
            *sum = s.mul_add(s.load(x), s.load(y), *sum);
        }
    }
    for ((sum, x), y) in acc.iter_mut().zip(ai.remainder()).zip(bi.remainder()) {
        *sum = s.mul_add(s.load(x), s.load(y), *sum);
    }
    let tail = s.mul_add(s.load_padded(at, 0.0), s.load_padded(bt, 0.0), acc[0]);
    let [_, a1, a2, a3] = acc;
    s.reduce_add((tail + a1) + (a2 + a3))
}

/// One query against consecutive rows: `out[j] = query · rows[j·d .. (j+1)·d]`
/// with `d = query.len()`.
///
/// This is the score kernel of attention: it walks the query once per four
/// rows, so every query load feeds four FMAs. It fills
/// `min(out.len(), rows.len() / d)` outputs and leaves the rest untouched; an
/// empty query writes `0.0` to every output. Each output is computed with the
/// same operation order whatever its position, so permuting rows permutes
/// outputs exactly. Error per output as [`dot`] with one accumulator:
/// `γ(d/L + log₂L + 1) · Σ|q[i]·k[i]|`. Non-finite inputs follow IEEE
/// arithmetic per output, as in [`dot`].
///
/// ```
/// let q = [1.0, 0.0];
/// let keys = [3.0, 4.0, /**/ 5.0, 6.0, /**/ -1.0, 0.5];
/// let mut scores = [0.0; 3];
/// sdpa::kernels::dot_rows(&q, &keys, &mut scores);
/// assert_eq!(scores, [3.0, 5.0, -1.0]);
/// ```
pub fn dot_rows(query: &[f32], rows: &[f32], out: &mut [f32]) {
    dispatch!(|s| dot_rows_with(s, query, rows, out))
}

/// [`dot_rows`] on backend `s`.
#[inline(always)]
pub(crate) fn dot_rows_with<const L: usize, S: Simd<L>>(s: S, query: &[f32], rows: &[f32], out: &mut [f32]) {
    let d = query.len();
    if d == 0 {
        out.fill(0.0);
        return;
    }
    let n = out.len().min(rows.len() / d);
    let rows = prefix(rows, n * d);
    let out = out.get_mut(..n).unwrap_or_default();
    let (qv, qt) = query.as_chunks::<L>();
    let q_tail = s.load_padded(qt, 0.0);
    let mut groups = rows.chunks_exact(d * ROWS_PER_PASS);
    let mut outs = out.chunks_exact_mut(ROWS_PER_PASS);
    for (group, scores) in (&mut groups).zip(&mut outs) {
        let mut four = [&[][..]; ROWS_PER_PASS];
        for (slot, row) in four.iter_mut().zip(&mut group.chunks_exact(d)) {
            *slot = row;
        }
        let [(k0, t0), (k1, t1), (k2, t2), (k3, t3)] = four.map(|row| row.as_chunks::<L>());
        let mut acc = [s.splat(0.0); ROWS_PER_PASS];
        for ((((q, k0), k1), k2), k3) in qv.iter().zip(k0).zip(k1).zip(k2).zip(k3) {
            let q = s.load(q);
            acc[0] = s.mul_add(q, s.load(k0), acc[0]);
            acc[1] = s.mul_add(q, s.load(k1), acc[1]);
            acc[2] = s.mul_add(q, s.load(k2), acc[2]);
            acc[3] = s.mul_add(q, s.load(k3), acc[3]);
        }
        for ((score, a), kt) in scores.iter_mut().zip(acc).zip([t0, t1, t2, t3]) {
            *score = finish_row(s, a, q_tail, kt);
        }
    }
    // Zips over `&mut` chunk iterators here and below: the by-value form
    // divides by the chunk size in `core` out of line (at opt-level "z", or
    // "s" without LTO), which keeps a panic path the no-panic proof rejects.
    let mut rest = groups.remainder().chunks_exact(d);
    for (score, row) in outs.into_remainder().iter_mut().zip(&mut rest) {
        *score = row_dot(s, qv, q_tail, row);
    }
}

/// One row of [`dot_rows`], with exactly the operation order of its
/// four-row pass.
#[inline(always)]
fn row_dot<const L: usize, S: Simd<L>>(s: S, qv: &[[f32; L]], q_tail: S::V, row: &[f32]) -> f32 {
    let (kv, kt) = row.as_chunks::<L>();
    let mut acc = s.splat(0.0);
    for (q, k) in qv.iter().zip(kv) {
        acc = s.mul_add(s.load(q), s.load(k), acc);
    }
    finish_row(s, acc, q_tail, kt)
}

/// Adds the padded tail product to a row's accumulator and reduces it.
#[inline(always)]
fn finish_row<const L: usize, S: Simd<L>>(s: S, acc: S::V, q_tail: S::V, k_tail: &[f32]) -> f32 {
    let tail = s.mul_add(q_tail, s.load_padded(k_tail, 0.0), s.splat(0.0));
    s.reduce_add(acc + tail)
}

/// Scalar reference for [`dot`] and [`dot_rows`]: one accumulator, one
/// multiply and one add per element, in index order.
///
/// ```
/// assert_eq!(sdpa::kernels::dot_reference(&[1.0, 2.0], &[3.0, 4.0]), 11.0);
/// ```
pub fn dot_reference(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0, |s, (x, y)| s + x * y)
}

/// The first `n` elements of `xs` (all of it if shorter), without a panic path.
#[inline(always)]
fn prefix(xs: &[f32], n: usize) -> &[f32] {
    xs.get(..n).unwrap_or(xs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize, step: f32) -> [f32; 67] {
        let mut v = [0.0; 67];
        for (i, x) in v.iter_mut().enumerate().take(n) {
            *x = (i as f32 * step).sin();
        }
        v
    }

    #[test]
    fn matches_reference_on_every_length_up_to_67() {
        let (a, b) = (ramp(67, 0.37), ramp(67, 1.13));
        for n in 0..=67 {
            let (x, y) = (&a[..n], &b[..n]);
            let bound: f32 = x.iter().zip(y).map(|(p, q)| (p * q).abs()).sum::<f32>() * 1e-6 + 1e-30;
            assert!((dot(x, y) - dot_reference(x, y)).abs() <= bound, "n = {n}");
        }
    }

    #[test]
    fn unequal_lengths_use_the_common_prefix() {
        let a = [1.0; 33];
        let b = [2.0; 20];
        assert_eq!(dot(&a, &b), 40.0);
        assert_eq!(dot(&b, &a), 40.0);
        assert_eq!(dot(&[], &a), 0.0);
    }

    #[test]
    fn rows_match_single_dots_for_every_row_count() {
        let q = ramp(19, 0.7);
        let q = &q[..19];
        let keys = [0.5f32; 19 * 9];
        let mut keys = keys;
        for (i, k) in keys.iter_mut().enumerate() {
            *k = (i as f32 * 0.31).cos();
        }
        for n_rows in 0..=9 {
            let mut out = [f32::NAN; 10];
            dot_rows(q, &keys[..19 * n_rows], &mut out);
            for (j, o) in out.iter().enumerate() {
                if j < n_rows {
                    let want = dot_reference(q, &keys[19 * j..19 * (j + 1)]);
                    assert!((o - want).abs() < 1e-5, "rows {n_rows}, row {j}");
                } else {
                    assert!(o.is_nan(), "row {j} beyond the input was written");
                }
            }
        }
    }

    #[test]
    fn rows_are_position_independent() {
        let q = ramp(21, 0.9);
        let q = &q[..21];
        let mut keys = [0.0f32; 21 * 5];
        for (i, k) in keys.iter_mut().enumerate() {
            *k = (i as f32 * 0.77).sin() * 3.0;
        }
        let mut all = [0.0; 5];
        dot_rows(q, &keys, &mut all);
        for j in 0..5 {
            let mut one = [0.0; 1];
            dot_rows(q, &keys[21 * j..21 * (j + 1)], &mut one);
            assert_eq!(one[0].to_bits(), all[j].to_bits(), "row {j}");
        }
    }

    #[test]
    fn empty_query_writes_zeros() {
        let mut out = [1.0; 3];
        dot_rows(&[], &[1.0, 2.0], &mut out);
        assert_eq!(out, [0.0; 3]);
    }
}
