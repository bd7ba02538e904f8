//! `exp`, `exp_in_place` and `exp_reference` on any `f32` bit patterns:
//! special values exactly, at most 2 ulp from `e^x` (f64) for normal results
//! and one unit of `2⁻¹⁴⁹` for subnormal ones, and every vector lane
//! bit-identical to the scalar function.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdpa::kernels::{exp, exp_in_place, exp_reference};
use sdpa_fuzz::input::Input;
use sdpa_oracle::{same, ulp_f32};

fuzz_target!(init: sdpa_fuzz::announce("exp"), |data: &[u8]| {
    let mut inp = Input::new(data);
    let mut xs = vec![0.0; usize::from(inp.byte())];
    inp.fill(&mut xs);
    let mut lanes = xs.clone();
    exp_in_place(&mut lanes);
    for (&x, &y) in xs.iter().zip(&lanes) {
        let one = exp(x);
        assert!(same(one, y), "exp_in_place lane {y:e} != exp({x:e}) = {one:e}");
        check(x, one, 2.0, "exp");
        check(x, exp_reference(x), 1.0, "exp_reference");
    }
});

fn check(x: f32, got: f32, max_ulps: f64, what: &str) {
    let bits = x.to_bits();
    if x.is_nan() {
        assert!(got.is_nan(), "{what}({x:e} = {bits:#x}) must be NaN, is {got:e}");
        return;
    }
    match x {
        f32::INFINITY => assert_eq!(got, f32::INFINITY, "{what}(+inf)"),
        f32::NEG_INFINITY => assert_eq!(got.to_bits(), 0, "{what}(-inf) must be +0"),
        0.0 => assert_eq!(got.to_bits(), 1f32.to_bits(), "{what}({x:e}) must be exactly 1"),
        _ => {
            assert!(got >= 0.0 && got.is_sign_positive(), "{what}({x:e}) = {got:e} is negative");
            let exact = f64::from(x).exp();
            // +inf stands for 2^128, one ulp above f32::MAX.
            let g = if got == f32::INFINITY { 2f64.powi(128) } else { f64::from(got) };
            if exact >= 2f64.powi(128) {
                assert_eq!(got, f32::INFINITY, "{what}({x:e}) must overflow to +inf");
            } else if exact < f64::from(f32::MIN_POSITIVE) {
                let err = (g - exact).abs() / 2f64.powi(-149);
                assert!(err <= 1.0, "{what}({x:e} = {bits:#x}) = {got:e} vs {exact:e}: {err} units of 2^-149");
            } else {
                let err = (g - exact).abs() / ulp_f32(exact);
                assert!(err <= max_ulps, "{what}({x:e} = {bits:#x}) = {got:e} vs {exact:e}: {err} ulp");
            }
        }
    }
}
