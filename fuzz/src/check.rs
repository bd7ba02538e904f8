//! Assertions on attention outputs against the oracle's [`RowRef`].

use sdpa_oracle::{Problem, RowRef, same};

/// Asserts two slices are equal element by element in the sense of [`same`].
#[track_caller]
pub fn assert_same(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (c, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(same(*g, *w), "{what}: element {c} is {g:e} ({:#x}), want {w:e} ({:#x})", g.to_bits(), w.to_bits());
    }
}

/// Asserts every element is `+0.0` exactly.
#[track_caller]
fn assert_zero(xs: &[f32], what: &str) {
    assert!(xs.iter().all(|x| x.to_bits() == 0), "{what}: a fully masked row must be exactly +0, got {xs:?}");
}

/// The checks on output row `i` (`dv` values): of the fused kernel when
/// `fused` (which may score in either documented order), else of
/// `attention_weights` (dot-then-scale).
#[track_caller]
pub fn output_row(r: &RowRef, i: usize, out: &[f32], what: &str, fused: bool) {
    let (nan_row, some_finite) =
        if fused { (r.fused_nan, r.fused_some_finite) } else { (r.nan_row, r.some_finite_score) };
    let all_neg_inf = if fused { r.fused_all_neg_inf } else { r.all_neg_inf };
    if !r.any_visible {
        assert_zero(out, &format!("{what} row {i}"));
    } else if all_neg_inf {
        assert!(out.iter().all(|x| x.to_bits() == 0), "{what} row {i}: every score -inf must give +0, got {out:?}");
    } else if nan_row == Some(true) {
        assert!(out.iter().all(|x| x.is_nan()), "{what} row {i}: a NaN or +inf score must make the row NaN: {out:?}");
    } else if nan_row.is_none() && r.values_safe {
        // Either order's outcome: the whole row NaN, or no NaN from the
        // scores (with values that cannot overflow the weighted sum).
        let all_nan = out.iter().all(|x| x.is_nan());
        let columns = out.iter().zip(&r.nan_columns).all(|(x, n)| !x.is_nan() || *n);
        assert!(all_nan || columns, "{what} row {i}: NaN in a column no NaN value reaches: {out:?}");
    } else if r.finite {
        for (c, &x) in out.iter().enumerate() {
            let x64 = f64::from(x);
            let (want, tol) = (r.out[c], r.tolerance);
            assert!(x.is_finite(), "{what} row {i} col {c}: {x} not finite for finite inputs");
            assert!(
                (x64 - want).abs() <= tol,
                "{what} row {i} col {c}: {x:e} vs f64 {want:e}, error {:e} > tolerance {tol:e} (score error {:e})",
                (x64 - want).abs(),
                r.score_error
            );
            assert!(
                x64 >= r.lo[c] - tol && x64 <= r.hi[c] + tol,
                "{what} row {i} col {c}: {x:e} outside the convex hull [{:e}, {:e}] of the visible values",
                r.lo[c],
                r.hi[c]
            );
        }
    }
    // NaN in a visible value row reaches its column (weight · NaN is NaN,
    // even for a weight of 0) unless every score of the row is -inf.
    if r.any_visible && nan_row == Some(false) && some_finite {
        for (c, x) in out.iter().enumerate() {
            assert!(
                !r.nan_columns[c] || x.is_nan(),
                "{what} row {i} col {c}: a visible NaN value must reach it, got {x:e}"
            );
        }
    }
}

/// The checks on weight row `i` (`nk` values) of `attention_weights`: each
/// visible weight within [`RowRef::weight_tolerance`] of f64.
#[track_caller]
pub fn weights_row(r: &RowRef, i: usize, nk: usize, w: &[f32]) {
    if !r.any_visible || r.all_neg_inf {
        assert_zero(w, &format!("weights row {i}"));
    } else if r.nan_row == Some(true) {
        for (j, x) in w.iter().enumerate() {
            assert!(!r.visible[j] || x.is_nan(), "weights row {i}: visible entry {j} should be NaN: {w:?}");
        }
    } else if r.nan_row.is_none() {
        // The summation order decides: every visible weight NaN, or none.
        let visible = || w.iter().zip(&r.visible).filter(|(_, v)| **v).map(|(x, _)| *x);
        let all_nan = visible().all(f32::is_nan);
        assert!(all_nan || visible().all(|x| (0.0..=1.0).contains(&x)), "weights row {i}: NaN or out of [0, 1]: {w:?}");
    } else if r.finite {
        let mut sum = 0.0f64;
        for (j, &x) in w.iter().enumerate() {
            if !r.visible[j] {
                assert_eq!(x.to_bits(), 0, "weights row {i}: masked entry {j} must be exactly 0, is {x:e}");
                continue;
            }
            let (want, tol) = (r.weights[j], r.weight_tolerance(j, nk));
            assert!(
                (f64::from(x) - want).abs() <= tol,
                "weights row {i} key {j}: {x:e} vs f64 {want:e}, error {:e} > {tol:e}",
                (f64::from(x) - want).abs()
            );
            sum += f64::from(x);
        }
        assert!(sum > 0.0 && sum.is_finite(), "weights row {i}: sum {sum}");
    }
}

/// Every row check for one problem: the fused output, the output and the
/// weights of `attention_weights`, and their agreement. Returns the per-row
/// references for further checks.
pub fn attention(p: &Problem<'_>, fused: &[f32], with_weights: &[f32], weights: &[f32]) -> Vec<RowRef> {
    let (dv, nk) = (p.dv, p.nk);
    if std::env::var_os("SDPA_FUZZ_DEBUG").is_some() {
        eprintln!("{p:?}\nfused {fused:?}\nwith weights {with_weights:?}\nweights {weights:?}");
    }
    (0..p.nq)
        .map(|i| {
            let r = p.row_reference(i);
            if std::env::var_os("SDPA_FUZZ_DEBUG").is_some() {
                eprintln!("row {i}: {r:?}");
            }
            let row = |xs: &[f32], len: usize| xs.get(i * len..(i + 1) * len).unwrap_or_default().to_vec();
            let (a, b) = (row(fused, dv), row(with_weights, dv));
            output_row(&r, i, &a, "fused", true);
            output_row(&r, i, &b, "weights variant", false);
            weights_row(&r, i, nk, &row(weights, nk));
            if r.finite && r.nan_row == Some(false) {
                for (c, (x, y)) in a.iter().zip(&b).enumerate() {
                    let diff = (f64::from(*x) - f64::from(*y)).abs();
                    assert!(diff <= 2.0 * r.tolerance, "row {i} col {c}: fused {x:e} vs weights variant {y:e}");
                }
            }
            r
        })
        .collect()
}
