//! `axpy`, `axpy_rows` and `scale`: each element must be exactly the
//! documented rounding of its exact value (one rounding of `a + w·x` where
//! the backend fuses, else `w·x` then the add; `a·s` for `scale`), compared
//! bit for bit with a scalar computation, and elements past the common
//! length must be left alone.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdpa::kernels::{axpy, axpy_reference, axpy_rows, scale};
use sdpa_fuzz::check::assert_same;
use sdpa_fuzz::input::Input;
use sdpa_oracle::kernels::axpy_as_built;
use sdpa_oracle::{fused, same};

fuzz_target!(init: sdpa_fuzz::announce("accumulate"), |data: &[u8]| {
    let mut inp = Input::new(data);
    let mut acc = vec![0.0; inp.below(70)];
    inp.fill(&mut acc);
    let w = inp.scalar();
    let mut x = vec![0.0; inp.below(70)];
    inp.fill(&mut x);
    check_axpy(&acc, w, &x);

    let n = inp.below(40);
    let mut acc = vec![0.0; n];
    inp.fill(&mut acc);
    let mut weights = vec![0.0; inp.below(12)];
    inp.fill(&mut weights);
    let mut rows = vec![0.0; inp.below(12) * n + inp.below(n + 1)];
    inp.fill(&mut rows);
    check_axpy_rows(&acc, &weights, &rows);

    let mut acc = vec![0.0; inp.below(70)];
    inp.fill(&mut acc);
    let s = inp.scalar();
    let mut got = acc.clone();
    scale(&mut got, s);
    let want: Vec<f32> = acc.iter().map(|a| a * s).collect();
    assert_same(&got, &want, &format!("scale by {s:e}"));
});

fn check_axpy(acc: &[f32], w: f32, x: &[f32]) {
    let mut got = acc.to_vec();
    axpy(&mut got, w, x);
    let mut want = acc.to_vec();
    for (a, x) in want.iter_mut().zip(x) {
        *a = axpy_as_built(*a, w, *x);
    }
    assert_same(&got, &want, &format!("axpy, w = {w:e}, {} acc, {} x", acc.len(), x.len()));
    let mut reference = acc.to_vec();
    axpy_reference(&mut reference, w, x);
    for (i, (g, r)) in got.iter().zip(&reference).enumerate() {
        // The reference rounds twice; without FMA the two must agree exactly.
        assert!(fused() || same(*g, *r), "axpy vs axpy_reference at {i}: {g:e} vs {r:e}");
    }
}

fn check_axpy_rows(acc: &[f32], weights: &[f32], rows: &[f32]) {
    let n = acc.len();
    let mut got = acc.to_vec();
    axpy_rows(&mut got, weights, rows);
    let used = rows.len().checked_div(n).map_or(0, |r| weights.len().min(r));
    let mut by_axpy = acc.to_vec();
    let mut by_hand = acc.to_vec();
    for (j, &w) in weights.iter().enumerate().take(used) {
        let row = &rows[j * n..(j + 1) * n];
        axpy(&mut by_axpy, w, row);
        for (a, x) in by_hand.iter_mut().zip(row) {
            *a = axpy_as_built(*a, w, *x);
        }
    }
    let what = format!("axpy_rows, {n} wide, {} weights, {} row values", weights.len(), rows.len());
    assert_same(&got, &by_axpy, &format!("{what}: vs repeated axpy"));
    assert_same(&got, &by_hand, &format!("{what}: vs scalar mul_add"));
}
