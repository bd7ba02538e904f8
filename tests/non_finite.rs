//! The specified non-finite behaviour of attention, case by case, on every
//! backend with each attention engine forced in turn (where it accepts the
//! problem).
#![allow(clippy::needless_range_loop)] // index loops mirror the rules

/// Options and the predicate "key j is masked for query i" they imply.
type MaskedCase<'a> = (Options<'a, NQ, NK>, fn(usize, usize) -> bool);

use sdpa::{Alignment, Matrix, Options, attention, attention_weights};
use sdpa_oracle::backend::each_backend_and_engine;

const NQ: usize = 5;
const NK: usize = 37; // a block of 32 plus a tail
const D: usize = 19;
const DV: usize = 11;

fn inputs() -> (Matrix<NQ, D>, Matrix<NK, D>, Matrix<NK, DV>) {
    (
        Matrix::from_fn(|r, c| ((r * D + c) as f32 * 0.37).sin()),
        Matrix::from_fn(|r, c| ((r * D + c) as f32 * 0.23).cos()),
        Matrix::from_fn(|r, c| ((r * DV + c) as f32 * 0.71).sin() * 2.0),
    )
}

fn run(q: &Matrix<NQ, D>, k: &Matrix<NK, D>, v: &Matrix<NK, DV>, o: &Options<'_, NQ, NK>) -> Matrix<NQ, DV> {
    let mut out = Matrix::from_fn(|_, _| f32::NAN);
    attention(q, k, v, &mut out, o);
    out
}

/// Both the fused path and the weights path, which must agree on these rules.
fn both(q: &Matrix<NQ, D>, k: &Matrix<NK, D>, v: &Matrix<NK, DV>, o: &Options<'_, NQ, NK>) -> [Matrix<NQ, DV>; 2] {
    let mut out = Matrix::from_fn(|_, _| f32::NAN);
    let mut w = Matrix::from_fn(|_, _| f32::NAN);
    attention_weights(q, k, v, &mut out, &mut w, o);
    [run(q, k, v, o), out]
}

#[test]
fn fully_masked_rows_are_exactly_zero() {
    each_backend_and_engine(|_, _| {
        let (q, k, v) = inputs();
        let none = [[false; NK]; NQ];
        let no_key = [false; NK];
        let all_minus_inf = Matrix::<NQ, NK>::from_fn(|_, _| f32::NEG_INFINITY);
        let key_minus_inf = [f32::NEG_INFINITY; NK];
        for o in [
            Options::new().mask(&none),
            Options::new().key_mask(&no_key),
            Options::new().bias(&all_minus_inf),
            Options::new().key_bias(&key_minus_inf),
            Options::new().window(0, 0).alignment(Alignment::TopLeft).causal().alibi(1.0).key_mask(&no_key),
        ] {
            for out in both(&q, &k, &v, &o) {
                assert!(out.as_slice().iter().all(|x| x.to_bits() == 0), "{o:?}: {out:?}");
            }
        }
    });
}

#[test]
fn rows_with_no_key_in_their_window_are_zero_and_others_are_not() {
    each_backend_and_engine(|_, _| {
        // Bottom-right causal with more queries than keys: the first NQ - NK rows
        // see nothing.
        let q = Matrix::<8, 4>::from_fn(|r, c| (r + c) as f32 * 0.1);
        let k = Matrix::<3, 4>::from_fn(|r, c| (r * c) as f32 * 0.1);
        let v = Matrix::<3, 2>::from_fn(|r, c| 1.0 + (r + c) as f32);
        let mut out = Matrix::from_fn(|_, _| f32::NAN);
        attention(&q, &k, &v, &mut out, &Options::new().causal().alignment(Alignment::BottomRight));
        for (i, row) in out.rows().iter().enumerate() {
            if i < 5 {
                assert_eq!(row, &[0.0; 2], "row {i}");
            } else {
                assert!(row.iter().all(|x| *x >= 1.0), "row {i}: {row:?}");
            }
        }
    });
}

#[test]
fn garbage_in_masked_slots_never_reaches_the_output() {
    each_backend_and_engine(|_, _| {
        let (q, k, v) = inputs();
        // Scattered masked entries, and whole columns (keys 2, 6, .. for the
        // mask, 1, 4, .. for the bias) masked for every query.
        let clean_mask: [[bool; NK]; NQ] =
            core::array::from_fn(|i| core::array::from_fn(|j| (i + j) % 3 != 0 && j % 4 != 2));
        let clean_bias =
            Matrix::<NQ, NK>::from_fn(|i, j| if (i * j) % 4 == 1 || j % 3 == 1 { f32::NEG_INFINITY } else { 0.1 });
        let causal = Options::<NQ, NK>::new().causal();
        let cases: [MaskedCase<'_>; 4] = [
            (causal, |i, j| j > i),
            (Options::new().window(2, 1), |i, j| j + 2 < i || j > i + 1),
            (Options::new().key_mask(&[false; NK]), |_, _| true),
            (Options::new().window(0, 0), |i, j| j != i),
        ];
        for (o, masked) in cases {
            let want = both(&q, &k, &v, &o);
            let (mut k_bad, mut v_bad) = (k, v);
            for j in 0..NK {
                if (0..NQ).all(|i| masked(i, j)) {
                    k_bad.rows_mut()[j] = [f32::NAN; D];
                    v_bad.rows_mut()[j] = [f32::INFINITY; DV];
                }
            }
            assert_eq!(both(&q, &k_bad, &v_bad, &o), want, "{o:?}");
        }
        // Per-entry masks: a key masked for every query may hold anything.
        let by_mask = |j: usize| (0..NQ).all(|i| !clean_mask[i][j]);
        let by_bias = |j: usize| (0..NQ).all(|i| clean_bias.rows()[i][j] == f32::NEG_INFINITY);
        let per_entry: [(Options<'_, NQ, NK>, &dyn Fn(usize) -> bool); 2] =
            [(Options::new().mask(&clean_mask), &by_mask), (Options::new().bias(&clean_bias), &by_bias)];
        for (o, masked_for_all) in per_entry {
            let want = both(&q, &k, &v, &o);
            let (mut k_bad, mut v_bad) = (k, v);
            let mut poisoned = 0;
            for j in (0..NK).filter(|&j| masked_for_all(j)) {
                k_bad.rows_mut()[j] = [f32::NAN; D];
                v_bad.rows_mut()[j] = [f32::NAN; DV];
                poisoned += 1;
            }
            assert!(poisoned > 0, "{o:?}: no key is masked for every query, so nothing would be checked");
            assert_eq!(both(&q, &k_bad, &v_bad, &o), want, "{o:?}");
        }
    });
}

#[test]
fn nan_in_one_query_stays_in_its_row() {
    each_backend_and_engine(|_, _| {
        let (q, k, v) = inputs();
        let clean = both(&q, &k, &v, &Options::new());
        let mut q_bad = q;
        q_bad.rows_mut()[2][7] = f32::NAN;
        for (out, want) in both(&q_bad, &k, &v, &Options::new()).iter().zip(&clean) {
            for i in 0..NQ {
                if i == 2 {
                    assert!(out.rows()[i].iter().all(|x| x.is_nan()), "row 2 should be NaN");
                } else {
                    assert_eq!(out.rows()[i], want.rows()[i], "row {i} changed");
                }
            }
        }
    });
}

#[test]
fn nan_in_a_key_reaches_exactly_the_rows_that_see_it() {
    each_backend_and_engine(|_, _| {
        let (q, k, v) = inputs();
        let o = Options::<NQ, NK>::new().causal();
        let clean = both(&q, &k, &v, &o);
        let mut k_bad = k;
        k_bad.rows_mut()[3][0] = f32::NAN; // seen by queries 3 and 4 only
        for (out, want) in both(&q, &k_bad, &v, &o).iter().zip(&clean) {
            for i in 0..NQ {
                if i >= 3 {
                    assert!(out.rows()[i].iter().all(|x| x.is_nan()), "row {i} should be NaN");
                } else {
                    assert_eq!(out.rows()[i], want.rows()[i], "row {i} changed");
                }
            }
        }
    });
}

#[test]
fn huge_finite_scores_do_not_overflow() {
    each_backend_and_engine(|_, _| {
        let q = Matrix::<2, 2>::from_rows([[100.0, 100.0], [-100.0, 50.0]]);
        let k = Matrix::<3, 2>::from_rows([[100.0, 100.0], [-100.0, 0.0], [99.0, 100.0]]);
        let v = Matrix::<3, 1>::from_rows([[1.0], [2.0], [3.0]]);
        for scale in [1.0f32, 1e-3, 1e30] {
            let mut out = Matrix::zeros();
            attention(&q, &k, &v, &mut out, &Options::new().scale(scale));
            assert!(out.as_slice().iter().all(|x| x.is_finite() && (1.0..=3.0).contains(x)), "scale {scale}: {out:?}");
        }
    });
}

#[test]
fn infinite_inputs_do_not_panic_and_follow_ieee() {
    each_backend_and_engine(|_, _| {
        let (q, k, mut v) = inputs();
        v.rows_mut()[5][3] = f32::INFINITY;
        let out = run(&q, &k, &v, &Options::new());
        // Every row sees key 5 with a positive weight: column 3 is +inf, the rest finite.
        for row in out.rows() {
            assert_eq!(row[3], f32::INFINITY);
            assert!(row.iter().enumerate().all(|(c, x)| c == 3 || x.is_finite()));
        }
        let mut q_inf = q;
        q_inf.rows_mut()[0] = [f32::INFINITY; D];
        let out = run(&q_inf, &k, &v, &Options::new());
        assert!(out.rows()[0].iter().all(|x| x.is_nan()), "an infinite score row is NaN (like PyTorch)");
    });
}
