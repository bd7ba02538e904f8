//! f64 references (oracles) for every public kernel, with the crate's
//! documented non-finite rules, plus exact f32 emulations of the kernels
//! whose result is fully determined (axpy, scale): the fused (FMA) and the
//! unfused (`a * b + c`) rounding of each element.

/// Unit roundoff of `f32`: `2⁻²⁴`, half the distance from 1 to the next float.
pub const U: f64 = f32::EPSILON as f64 / 2.0;

/// Smallest positive subnormal `f32`, `2⁻¹⁴⁹`: the absolute rounding error of
/// any one operation whose result underflows is at most half of it.
pub const TINY: f64 = 1.401_298_464_324_817e-45;

/// `γ(k) = k·u / (1 − k·u)`, the classic bound on `k` successive roundings
/// (Higham, *Accuracy and Stability of Numerical Algorithms*, §3.1).
pub fn gamma(k: usize) -> f64 {
    let ku = k as f64 * U;
    ku / (1.0 - ku)
}

/// `Σ a[i]·b[i]` over the common length, in f64. Products of two `f32` are
/// exact in f64; the sum of up to 10⁴ of them is within 10⁻¹² relative.
pub fn dot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

/// `Σ |a[i]·b[i]|`, the condition factor of a dot product.
pub fn abs_dot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (*x as f64 * *y as f64).abs()).sum()
}

/// The documented softmax in f64: `exp(xᵢ − max)/Σ`, `−∞` weighs `0`, all
/// `−∞` (or empty) gives zeros, any NaN or `+∞` makes every weight NaN.
pub fn softmax64(xs: &[f32]) -> Vec<f64> {
    if xs.iter().any(|x| x.is_nan() || *x == f32::INFINITY) {
        return vec![f64::NAN; xs.len()];
    }
    let max = xs.iter().fold(f64::NEG_INFINITY, |m, x| m.max(*x as f64));
    if max == f64::NEG_INFINITY {
        return vec![0.0; xs.len()];
    }
    let e: Vec<f64> = xs.iter().map(|x| (*x as f64 - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|x| x / sum).collect()
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

/// Whether this build's kernels fuse multiply-adds: the vector backends do
/// where the target has FMA (x86 `fma`, always on aarch64); the portable
/// scalar backend never does. See `src/simd/mod.rs`.
pub fn fused() -> bool {
    sdpa::backend().fused_mul_add()
}

/// One element of `axpy` rounded as this build rounds it.
pub fn axpy_as_built(acc: f32, w: f32, x: f32) -> f32 {
    if fused() { axpy_fused(acc, w, x) } else { axpy_unfused(acc, w, x) }
}

/// Lanes of this build's vector type, from [`sdpa::backend`].
pub fn lanes() -> usize {
    sdpa::backend().lanes()
}

/// Same bits, treating every NaN as equal to every other NaN.
pub fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Error of `got` against the exact `want`, in ulps of `want` rounded to
/// `f32` (subnormal results in units of `2⁻¹⁴⁹`).
pub fn ulp_error(got: f32, want: f64) -> f64 {
    if want == 0.0 {
        return (got as f64).abs() / TINY;
    }
    let exponent = want.abs().log2().floor().max(-126.0);
    let ulp = 2f64.powi(exponent as i32 - 23);
    (got as f64 - want).abs() / ulp
}
