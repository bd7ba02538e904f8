//! Exhaustive accuracy of `sdpa::kernels::exp` against `f64::exp`, over every
//! `f32` in the working range `[-87.3, 0]` (about 1.1·10⁹ values).
//!
//! Runs in release builds only (`cargo test --release`); a debug build would
//! take hours. Prints the measured maximum so the README figures can be
//! reproduced: `cargo test --release --test exp_exhaustive -- --nocapture`.

use sdpa::kernels::{exp, exp_in_place};

/// The bound the tests enforce, in units in the last place of the exact result.
const MAX_ULP: f64 = 2.0;

/// Error of `got` against the exact `want`, in ulps of `want` as an `f32`
/// (subnormal results are measured in units of the smallest subnormal).
fn ulp_error(got: f32, want: f64) -> f64 {
    let exponent = want.abs().log2().floor().max(-126.0);
    let ulp = 2f64.powi(exponent as i32 - 23);
    (got as f64 - want).abs() / ulp
}

/// Worst error (and its input) over the `f32` bit patterns `lo..=hi`.
fn worst_over(lo: u32, hi: u32) -> (f64, f32) {
    let mut worst = (0.0, 0.0);
    let mut buf = [0.0f32; 4096];
    let mut bits = lo;
    loop {
        let n = ((hi - bits) as usize + 1).min(buf.len());
        for (i, x) in buf[..n].iter_mut().enumerate() {
            *x = f32::from_bits(bits + i as u32);
        }
        let inputs = buf;
        exp_in_place(&mut buf[..n]);
        for (&x, &y) in inputs[..n].iter().zip(&buf[..n]) {
            let e = ulp_error(y, (x as f64).exp());
            if e > worst.0 {
                worst = (e, x);
            }
        }
        if hi - bits < n as u32 {
            return worst;
        }
        bits += n as u32;
    }
}

/// Splits the bit range over two threads (the CI machines have two cores).
fn worst_parallel(lo: u32, hi: u32) -> (f64, f32) {
    let mid = lo + (hi - lo) / 2;
    let upper = std::thread::spawn(move || worst_over(mid + 1, hi));
    let lower = worst_over(lo, mid);
    let upper = upper.join().expect("worker thread");
    if upper.0 > lower.0 { upper } else { lower }
}

#[test]
#[cfg_attr(debug_assertions, ignore = "exhaustive: run with --release")]
fn within_two_ulp_on_every_f32_in_minus_87_3_to_0() {
    // Negative floats: bits grow with magnitude, from -0.0 to -87.3.
    let (lo, hi) = ((-0.0f32).to_bits(), (-87.3f32).to_bits());
    let (worst, at) = worst_parallel(lo, hi);
    println!(
        "exp on [-87.3, 0] ({} values, backend {}): max error {worst:.3} ulp at x = {at:e}",
        hi - lo + 1,
        sdpa::backend()
    );
    assert!(worst <= MAX_ULP, "max error {worst} ulp at x = {at:e}");
}

#[test]
#[cfg_attr(debug_assertions, ignore = "exhaustive: run with --release")]
fn within_two_ulp_on_every_positive_f32_below_overflow() {
    let (lo, hi) = (0.0f32.to_bits(), 88.72f32.to_bits());
    let (worst, at) = worst_parallel(lo, hi);
    println!(
        "exp on [0, 88.72] ({} values, backend {}): max error {worst:.3} ulp at x = {at:e}",
        hi - lo + 1,
        sdpa::backend()
    );
    assert!(worst <= MAX_ULP, "max error {worst} ulp at x = {at:e}");
}

#[test]
#[cfg_attr(debug_assertions, ignore = "exhaustive: run with --release")]
fn subnormal_results_within_one_unit_of_the_smallest_subnormal() {
    let (lo, hi) = ((-87.3f32).to_bits() + 1, (-103.98f32).to_bits());
    let (worst, at) = worst_parallel(lo, hi);
    println!("exp on [-103.98, -87.3) (subnormal results): max error {worst:.3} units of 2^-149 at x = {at:e}");
    // Below 2^-126 the result's ulp is 2^-149: one rounding of an accurate
    // significand is at most 1 unit off.
    assert!(worst <= 1.0, "max error {worst} at x = {at:e}");
}

#[test]
fn special_values() {
    assert_eq!(exp(f32::NEG_INFINITY).to_bits(), 0.0f32.to_bits());
    assert_eq!(exp(0.0).to_bits(), 1.0f32.to_bits());
    assert_eq!(exp(-0.0).to_bits(), 1.0f32.to_bits());
    assert!(exp(f32::NAN).is_nan());
    assert!(exp(f32::from_bits(0xffc0_0001)).is_nan());
    assert_eq!(exp(f32::INFINITY), f32::INFINITY);
    for x in [-103.98f32, -104.0, -150.0, -1e10, -f32::MAX] {
        assert_eq!(exp(x).to_bits(), 0, "x = {x}");
    }
    for x in [88.73f32, 100.0, f32::MAX] {
        assert_eq!(exp(x), f32::INFINITY, "x = {x}");
    }
    assert_eq!(exp(-f32::from_bits(1)), 1.0);
    assert_eq!(exp(f32::from_bits(1)), 1.0);
}
