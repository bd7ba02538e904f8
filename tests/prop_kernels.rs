//! Properties of the dot-product and accumulation kernels over many lengths
//! (every tail length for every lane width): `dot` and `dot_rows` against the
//! f64 oracle within the standard bound for a sum of `n` products (and the
//! tighter bound each rustdoc states); `axpy`, `axpy_rows`, `scale` and
//! `exp_in_place` against exact emulations of their rounding.
//!
//! `cargo test --release --test prop_kernels`

mod common;

use common::prop::config;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use sdpa::kernels::{axpy, axpy_reference, axpy_rows, dot, dot_reference, dot_rows, exp, exp_in_place, scale};
use sdpa_oracle::bounds::{dot_bound, dot_documented_bound, dot_rows_documented_bound};
use sdpa_oracle::kernels::{axpy_as_built, axpy64};
use sdpa_oracle::{TINY, U, abs_dot64, dot64, gamma, lanes};

const REGRESSIONS: &str = "proptest-regressions/prop_kernels.txt";

/// Magnitudes from products that underflow to products near `1e36`.
fn amplitude() -> impl Strategy<Value = f32> {
    prop::sample::select(vec![1e-30f32, 1e-3, 1.0, 1.0, 1.0, 100.0, 1e18])
}

/// `n` values in `[-a, a]`.
fn values(n: usize) -> impl Strategy<Value = Vec<f32>> {
    amplitude().prop_flat_map(move |a| prop::collection::vec(-a..=a, n))
}

fn check_dot(a: &[f32], b: &[f32]) -> Result<(), TestCaseError> {
    let n = a.len().min(b.len());
    let (want, abs) = (dot64(a, b), abs_dot64(a, b));
    for (name, got, bound) in [
        ("dot", dot(a, b), dot_bound(n, abs)),
        ("dot (documented)", dot(a, b), dot_documented_bound(n, lanes(), abs)),
        ("dot_reference", dot_reference(a, b), dot_bound(n, abs)),
    ] {
        let err = (got as f64 - want).abs();
        prop_assert!(err <= bound, "{name}: n {n}: {got:e} vs {want:e}, err {err:e} > {bound:e}");
    }
    prop_assert_eq!(dot(a, b).to_bits(), dot(b, a).to_bits(), "dot is not symmetric");
    Ok(())
}

fn check_dot_rows(query: &[f32], rows: &[f32], out_len: usize) -> Result<(), TestCaseError> {
    let d = query.len();
    let mut out = vec![f32::NAN; out_len];
    dot_rows(query, rows, &mut out);
    let filled = out_len.min(rows.len() / d);
    for (j, &got) in out.iter().enumerate() {
        if j >= filled {
            prop_assert!(got.is_nan(), "output {j} past the last row was written");
            continue;
        }
        let row = &rows[j * d..(j + 1) * d];
        let (want, abs) = (dot64(query, row), abs_dot64(query, row));
        let bound = dot_rows_documented_bound(d, lanes(), abs).min(dot_bound(d, abs));
        let err = (got as f64 - want).abs();
        prop_assert!(err <= bound, "row {j}: d {d}: {got:e} vs {want:e}, err {err:e} > {bound:e}");
        let mut alone = [f32::NAN];
        dot_rows(query, row, &mut alone);
        prop_assert_eq!(alone[0].to_bits(), got.to_bits(), "row {} depends on its position", j);
    }
    Ok(())
}

/// `axpy` rounds each element exactly once (FMA) or twice (`w * x + acc`),
/// as the build dictates; elements past the common length are untouched.
fn check_axpy(acc: &[f32], w: f32, x: &[f32]) -> Result<(), TestCaseError> {
    let mut got = acc.to_vec();
    axpy(&mut got, w, x);
    let mut reference = acc.to_vec();
    axpy_reference(&mut reference, w, x);
    let exact = axpy64(acc, w, x);
    for i in 0..acc.len() {
        if i >= x.len() {
            prop_assert_eq!(got[i].to_bits(), acc[i].to_bits(), "element {} past x was written", i);
            prop_assert_eq!(reference[i].to_bits(), acc[i].to_bits());
            continue;
        }
        prop_assert_eq!(got[i].to_bits(), axpy_as_built(acc[i], w, x[i]).to_bits(), "element {}", i);
        prop_assert_eq!(reference[i].to_bits(), (acc[i] + w * x[i]).to_bits(), "reference element {}", i);
        let bound = U * exact[i].abs() + gamma(1) * (w as f64 * x[i] as f64).abs() + TINY;
        prop_assert!((got[i] as f64 - exact[i]).abs() <= bound);
    }
    Ok(())
}

/// `axpy_rows` rounds each element as repeated `axpy` calls, row by row.
fn check_axpy_rows(acc: &[f32], weights: &[f32], rows: &[f32]) -> Result<(), TestCaseError> {
    let n = acc.len();
    let mut got = acc.to_vec();
    axpy_rows(&mut got, weights, rows);
    let used = rows.len().checked_div(n).map_or(0, |r| weights.len().min(r));
    for i in 0..n {
        let mut want = acc[i];
        let mut exact = acc[i] as f64;
        let mut abs = (acc[i] as f64).abs();
        for j in 0..used {
            want = axpy_as_built(want, weights[j], rows[j * n + i]);
            exact += weights[j] as f64 * rows[j * n + i] as f64;
            abs += (weights[j] as f64 * rows[j * n + i] as f64).abs();
        }
        prop_assert_eq!(got[i].to_bits(), want.to_bits(), "element {} ({} rows)", i, used);
        let bound = gamma(used + 1) * abs + (used + 1) as f64 * TINY;
        prop_assert!((got[i] as f64 - exact).abs() <= bound, "element {i}: vs f64");
    }
    Ok(())
}

fn check_scale(acc: &[f32], s: f32) -> Result<(), TestCaseError> {
    let mut got = acc.to_vec();
    scale(&mut got, s);
    for (g, a) in got.iter().zip(acc) {
        prop_assert_eq!(g.to_bits(), (a * s).to_bits());
    }
    Ok(())
}

fn check_exp_in_place(xs: &[f32]) -> Result<(), TestCaseError> {
    let mut got = xs.to_vec();
    exp_in_place(&mut got);
    for (g, x) in got.iter().zip(xs) {
        prop_assert!(g.to_bits() == exp(*x).to_bits() || (g.is_nan() && x.is_nan()), "exp_in_place({x}) = {g}");
    }
    Ok(())
}

/// Any `f32` bit pattern, or one of the special values.
fn any_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        3 => any::<u32>().prop_map(f32::from_bits),
        2 => -110.0f32..90.0,
        1 => prop::sample::select(vec![0.0, -0.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, -f32::MAX]),
    ]
}

macro_rules! lengths {
    ($($name:ident: $n:literal),* $(,)?) => {$(
        mod $name {
            use super::*;
            proptest! {
                #![proptest_config(config(REGRESSIONS))]

                #[test]
                fn dot_within_the_n_term_bound(a in values($n), b in values($n + 5), cut in 0usize..=5) {
                    check_dot(&a, &b[..$n + cut])?;
                    check_dot(&b[..$n + cut], &a)?;
                }

                #[test]
                fn dot_rows_within_bound_and_position_independent(
                    q in values($n),
                    rows in (0usize..=9).prop_flat_map(|m| values(m * $n + $n / 2)),
                    out_len in 0usize..=10,
                ) {
                    check_dot_rows(&q, &rows, out_len)?;
                }

                #[test]
                fn axpy_rounds_once_or_twice_per_element(
                    acc in values($n), w in -4.0f32..4.0, x in values($n + 3), cut in 0usize..=6,
                ) {
                    let x = &x[..($n + 3usize).saturating_sub(cut)];
                    check_axpy(&acc, w, x)?;
                }

                #[test]
                fn axpy_rows_equals_repeated_axpy(
                    acc in values($n),
                    weights in prop::collection::vec(0.0f32..=1.0, 0..=9),
                    rows in values(9 * $n + 1),
                    cut in 0usize..=9,
                ) {
                    let rows = &rows[..(9 - cut) * $n];
                    check_axpy_rows(&acc, &weights, rows)?;
                }

                #[test]
                fn scale_rounds_once(acc in values($n), s in any_f32()) {
                    check_scale(&acc, s)?;
                }

                #[test]
                fn exp_in_place_matches_exp_on_every_lane(xs in prop::collection::vec(any_f32(), $n)) {
                    check_exp_in_place(&xs)?;
                }
            }
        }
    )*};
}

lengths! {
    n1: 1, n2: 2, n3: 3, n7: 7, n8: 8, n15: 15, n16: 16, n17: 17,
    n31: 31, n32: 32, n33: 33, n64: 64, n65: 65, n100: 100,
}
