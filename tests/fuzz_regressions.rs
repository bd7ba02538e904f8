//! Inputs the fuzz targets in `fuzz/` found, each reduced to a plain test
//! that failed before its fix. Some findings only show with overflow checks,
//! so CI also runs this file in the debug profile
//! (`cargo test --test fuzz_regressions`).

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
