//! f64 references for the public kernels, with the crate's documented
//! non-finite rules, plus exact f32 emulations of the kernels whose result
//! is fully determined (axpy): the fused (FMA) and the unfused (`w * x + a`)
//! rounding of each element.

use crate::backend::fused;

/// `Σ a[i]·b[i]` over the common length, in f64. Products of two `f32` are
/// exact in f64 (IEEE specials as in f32); the sum of up to 10⁴ of them is
/// within 10⁻¹² relative.
pub fn dot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

/// `Σ |a[i]·b[i]|`, the condition factor of a dot product (`+∞` if a
/// product is infinite, NaN if one is NaN).
pub fn abs_dot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (*x as f64 * *y as f64).abs()).sum()
}

/// `Σ |a[i]·b[i]|` over the *finite* products only: the condition factor of
/// the finite part of a dot product whose sum may still be `±∞` or NaN.
/// The fuzz target `dot` judges accuracy with this one, after deciding the
/// non-finite cases from [`dot64`] itself.
pub fn finite_abs_dot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).filter(|p| p.is_finite()).map(f64::abs).sum()
}

/// The f64 softmax of f64 scores with everything a check may need, and
/// no special cases: `−∞` weighs 0 (gap `+∞`, log-weight `−∞`), but a NaN or
/// `+∞` score, or every score `−∞`, leaves NaN in it. [`softmax64`] and
/// [`crate::Problem::weights64`] add the documented rules for those.
#[derive(Clone, Debug)]
pub struct Softmax64 {
    /// `e^{sⱼ − max} / Σ`.
    pub weights: Vec<f64>,
    /// `max − sⱼ` (`≥ 0`).
    pub gaps: Vec<f64>,
    /// `ln` of each weight, `−gapⱼ − ln Σ`: exact where the weight itself
    /// underflows f64.
    pub log_weights: Vec<f64>,
}

impl Softmax64 {
    /// The softmax of `scores` (NaN scores are ignored by the maximum).
    pub fn of(scores: &[f64]) -> Self {
        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let gaps: Vec<f64> = scores.iter().map(|s| max - s).collect();
        let mut weights: Vec<f64> = gaps.iter().map(|g| (-g).exp()).collect();
        let sum: f64 = weights.iter().sum();
        weights.iter_mut().for_each(|w| *w /= sum);
        let log_weights = gaps.iter().map(|g| -g - sum.ln()).collect();
        Softmax64 { weights, gaps, log_weights }
    }
}

/// The documented softmax in f64: `exp(xᵢ − max)/Σ`, `−∞` weighs `0`, all
/// `−∞` (or empty) gives zeros, any NaN or `+∞` makes every weight NaN.
pub fn softmax64(xs: &[f32]) -> Vec<f64> {
    if xs.iter().any(|x| x.is_nan() || *x == f32::INFINITY) {
        return vec![f64::NAN; xs.len()];
    }
    if xs.iter().all(|x| *x == f32::NEG_INFINITY) {
        return vec![0.0; xs.len()];
    }
    let scores: Vec<f64> = xs.iter().map(|x| *x as f64).collect();
    Softmax64::of(&scores).weights
}

/// `acc[i] + w·x[i]` in f64 (exact up to one f64 rounding).
pub fn axpy64(acc: &[f32], w: f32, x: &[f32]) -> Vec<f64> {
    acc.iter().zip(x).map(|(a, x)| *a as f64 + w as f64 * *x as f64).collect()
}

/// One element of `axpy` with one rounding (FMA).
pub fn axpy_fused(acc: f32, w: f32, x: f32) -> f32 {
    w.mul_add(x, acc)
}

/// One element of `axpy` with two roundings (`w * x + acc`).
pub fn axpy_unfused(acc: f32, w: f32, x: f32) -> f32 {
    w * x + acc
}

/// One element of `axpy` rounded as this build rounds it ([`fused`]).
pub fn axpy_as_built(acc: f32, w: f32, x: f32) -> f32 {
    if fused() { axpy_fused(acc, w, x) } else { axpy_unfused(acc, w, x) }
}
