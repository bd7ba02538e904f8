//! Units of `f32` rounding, seen from f64.

/// Unit roundoff of `f32`: `2⁻²⁴`, half the distance from 1 to the next float.
pub const U: f64 = f32::EPSILON as f64 / 2.0;

/// Smallest positive subnormal `f32`, `2⁻¹⁴⁹`: the absolute rounding error of
/// any one operation whose result underflows is at most half of it.
pub const TINY: f64 = 1.401_298_464_324_817e-45;

/// Largest magnitude a checked intermediate may reach for the accuracy
/// checks of [`crate::RowRef`] to apply: far enough from `f32::MAX` that no
/// f32 sum of such terms overflows.
pub const LIMIT: f64 = f32::MAX as f64 / 4.0;

/// `γ(k) = k·u / (1 − k·u)`, the classic bound on `k` successive roundings
/// (Higham, *Accuracy and Stability of Numerical Algorithms*, §3.1).
pub fn gamma(k: usize) -> f64 {
    let ku = k as f64 * U;
    ku / (1.0 - ku)
}

/// Same bits, treating every NaN as equal to every other NaN (NaN payloads
/// are not specified).
pub fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// One ulp of `want` as an `f32`: `2^(⌊log₂|want|⌋ − 23)`, and the subnormal
/// spacing `2⁻¹⁴⁹` below `2⁻¹²⁶` (and for 0).
pub fn ulp_f32(want: f64) -> f64 {
    let exponent = want.abs().log2().floor().max(-126.0);
    2f64.powi(exponent as i32 - 23)
}

/// Error of `got` against the exact `want`, in ulps of `want` rounded to
/// `f32` (subnormal results in units of `2⁻¹⁴⁹`).
pub fn ulp_error(got: f32, want: f64) -> f64 {
    if want == 0.0 {
        return (got as f64).abs() / TINY;
    }
    (got as f64 - want).abs() / ulp_f32(want)
}
