//! Inputs the fuzz targets in `fuzz/` found, each reduced to a plain test
//! that failed before its fix. Some findings only show with overflow checks,
//! so CI also runs this file in the debug profile
//! (`cargo test --test fuzz_regressions`). Each runs on every backend, the
//! attention ones with each attention engine forced in turn.

use sdpa::kernels::{OnlineSoftmax, softmax};
use sdpa::{Matrix, Options, attention, attention_rows, attention_weights};
use sdpa_oracle::backend::{each_backend, each_backend_and_engine};

/// Fuzz target `attention`: `attention_rows` with `first_row = usize::MAX`
/// (so no row to write) advanced the row counter `usize::MAX..` once and
/// panicked with "attempt to add with overflow" in builds with overflow
/// checks. It must write nothing and return 0.
#[test]
fn attention_rows_at_the_last_usize_row_writes_nothing() {
    each_backend_and_engine(|_, _| {
        let q = Matrix::<1, 1>::from_rows([[1.0]]);
        let (k, v) = (q, Matrix::<1, 1>::from_rows([[2.0]]));
        let o = Options::new();
        for first_row in [usize::MAX, usize::MAX - 1, 1] {
            let mut none: [[f32; 1]; 0] = [];
            assert_eq!(attention_rows(&q, &k, &v, first_row, &mut none, &o), 0);
            let mut one = [[f32::NAN]];
            assert_eq!(attention_rows(&q, &k, &v, first_row, &mut one, &o), 0);
            assert!(one[0][0].is_nan(), "row past NQ must be left untouched");
        }
    });
}

/// Fuzz target `softmax`: a NaN score in the same SIMD lane as the maximum,
/// one vector later, replaced the maximum in that lane (x86 `maxps` returns
/// its second operand when either is NaN) and the next vector then replaced
/// the NaN, so `OnlineSoftmax::max` reported a value that was neither the
/// maximum nor NaN. The lane-wise max now ignores NaN on every backend.
#[test]
fn a_nan_score_does_not_hide_the_maximum() {
    each_backend(|_| {
        // Index 16 shares lane 0 with index 0 for 4, 8 and 16 lanes.
        let mut scores = [1.0f32; 40];
        scores[0] = 3.0;
        scores[16] = f32::NAN;
        let mut state = OnlineSoftmax::new();
        state.update(&mut scores.clone());
        assert_eq!(state.max(), 3.0);
        assert!(state.sum().is_nan());
        let mut acc = [0.0; 2];
        state.finish(&mut acc);
        assert!(acc.iter().all(|x| x.is_nan()), "a NaN score still makes the result NaN");
        softmax(&mut scores);
        assert!(scores.iter().all(|x| x.is_nan()));
    });
}

/// Fuzz target `attention`: on the tiny engine (every dimension ≤ 16,
/// nothing masked) `attention_rows` with a `first_row` past `NQ` computed
/// `first_row · D` before noticing there was no row to write, and panicked
/// with "attempt to multiply with overflow" in builds with overflow checks.
/// The tiled engine (more queries) takes the same first rows as well.
#[test]
fn attention_rows_far_past_the_last_row_writes_nothing_on_any_engine() {
    each_backend_and_engine(|_, _| {
        let q = Matrix::<3, 4>::from_fn(|r, c| (r + c) as f32 * 0.25);
        let (k, v) =
            (Matrix::<5, 4>::from_fn(|r, c| (r * c) as f32 * 0.1), Matrix::<5, 6>::from_fn(|r, c| (r + c) as f32));
        let q16 = Matrix::<16, 4>::from_fn(|r, c| (r + c) as f32 * 0.25);
        let (o, o16) = (Options::new(), Options::new());
        for first_row in [usize::MAX, usize::MAX / 2, usize::MAX / 4 + 1, 16, 17] {
            let mut one = [[f32::NAN; 6]];
            assert_eq!(attention_rows(&q, &k, &v, first_row, &mut one, &o), 0);
            assert!(one[0].iter().all(|x| x.is_nan()), "row past NQ must be left untouched");
            assert_eq!(attention_rows(&q16, &k, &v, first_row, &mut one, &o16), 0);
            assert!(one[0].iter().all(|x| x.is_nan()), "row past NQ must be left untouched");
        }
    });
}

/// Fuzz targets `layer_decode` and `attention`: a row whose every score is
/// `−∞` is the zero row, whatever the values. The tiny engine accumulated
/// `0 · ∞ = NaN` from an infinite value row before noticing the sum was 0,
/// and `attention_weights` did the same with its all-zero weight row.
/// Checked on every engine: tiny (small, unmasked), tiled (16 causal
/// queries), the per-row engine (a key mask) and `attention_weights`.
#[test]
fn a_row_of_minus_infinity_scores_is_zero_even_with_infinite_values() {
    each_backend_and_engine(|_, _| {
        fn check<const NQ: usize, const NK: usize>(o: &Options<'_, NQ, NK>, what: &str) {
            // q·k = −∞ for every pair: an infinite query entry meets positive keys.
            let q = Matrix::<NQ, 2>::from_fn(|_, c| if c == 0 { f32::NEG_INFINITY } else { 1.0 });
            let k = Matrix::<NK, 2>::from_fn(|r, _| 1.0 + r as f32);
            let v = Matrix::<NK, 3>::from_fn(|r, c| match (r + c) % 3 {
                0 => f32::INFINITY,
                1 => f32::NEG_INFINITY,
                _ => 2.0,
            });
            let mut out = Matrix::from_fn(|_, _| f32::NAN);
            attention(&q, &k, &v, &mut out, o);
            for (i, row) in out.rows().iter().enumerate() {
                assert!(row.iter().all(|x| x.to_bits() == 0), "{what}: row {i} is {row:?}, want +0");
            }
            let (mut out, mut w) = (Matrix::from_fn(|_, _| f32::NAN), Matrix::from_fn(|_, _| f32::NAN));
            attention_weights(&q, &k, &v, &mut out, &mut w, o);
            for (i, (row, w)) in out.rows().iter().zip(w.rows()).enumerate() {
                assert!(row.iter().all(|x| x.to_bits() == 0), "{what}, weights variant: row {i} is {row:?}, want +0");
                assert!(w.iter().all(|x| x.to_bits() == 0), "{what}: weights row {i} is {w:?}, want +0");
            }
        }
        check::<1, 1>(&Options::new(), "tiny, one key");
        check::<3, 5>(&Options::new(), "tiny");
        check::<16, 5>(&Options::new().causal(), "tiled");
        let keep = [true; 5];
        check::<3, 5>(&Options::new().key_mask(&keep), "per-row engine");
    });
}

/// Found by the `softmax` fuzz target: a NaN among the last (partial-vector)
/// scores started that lane's running maximum as NaN, and `+∞` in the same
/// lane of a whole vector was then lost (`OnlineSoftmax::max` gave a finite
/// score). The maximum is the largest non-NaN score, on every backend.
#[test]
fn a_nan_in_the_tail_does_not_hide_the_maximum() {
    sdpa_oracle::backend::each_backend(|b| {
        for whole in 1..=16 {
            let mut scores = vec![0.0f32; whole + 1];
            scores[0] = f32::INFINITY;
            scores[whole] = f32::NAN;
            let mut state = sdpa::kernels::OnlineSoftmax::new();
            state.update(&mut scores);
            assert_eq!(state.max(), f32::INFINITY, "{b}: {whole} scores before the NaN");
        }
    });
}
