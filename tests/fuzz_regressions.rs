//! Inputs the fuzz targets in `fuzz/` found, each reduced to a plain test
//! that failed before its fix. Some findings only show with overflow checks,
//! so CI also runs this file in the debug profile
//! (`cargo test --test fuzz_regressions`).

use sdpa::kernels::{OnlineSoftmax, softmax};
use sdpa::{Matrix, Options, attention_rows};

/// Fuzz target `attention`: `attention_rows` with `first_row = usize::MAX`
/// (so no row to write) advanced the row counter `usize::MAX..` once and
/// panicked with "attempt to add with overflow" in builds with overflow
/// checks. It must write nothing and return 0.
#[test]
fn attention_rows_at_the_last_usize_row_writes_nothing() {
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
}

/// Fuzz target `softmax`: a NaN score in the same SIMD lane as the maximum,
/// one vector later, replaced the maximum in that lane (x86 `maxps` returns
/// its second operand when either is NaN) and the next vector then replaced
/// the NaN, so `OnlineSoftmax::max` reported a value that was neither the
/// maximum nor NaN. The lane-wise max now ignores NaN on every backend.
#[test]
fn a_nan_score_does_not_hide_the_maximum() {
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
}
