//! Shared support for the sdpa fuzz targets: decoding fuzzer bytes
//! ([`input`]), a small f64 reference for attention ([`reference`]) and the
//! assertions made on every output ([`check`]).
//!
//! This crate is its own workspace (cargo-fuzz layout) and cannot use the
//! main crate's `tests/common`, so it carries its own reference.

pub mod check;
pub mod input;
pub mod reference;

/// Value written into output buffers before a call, to see what the call
/// wrote (a quiet NaN with a payload no kernel produces).
pub const SENTINEL: f32 = f32::from_bits(0x7fc5_a5a5);

/// Values a "poisoned" (masked, never-read) K or V slot is filled with.
pub const POISON: [f32; 6] =
    [f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, f32::from_bits(0x7f80_0001)];

/// Lanes of the SIMD backend this build runs (the scalar backend has 4).
pub fn lanes() -> usize {
    sdpa::backend().lanes()
}

/// Whether `mul_add` rounds once on the backend this build runs (chosen at
/// run time on x86-64: AVX-512 and AVX2 fuse, the scalar backend never does).
pub fn fused() -> bool {
    sdpa::backend().fused_mul_add()
}

/// `Σ aᵢ·bᵢ` in f64 (products exact, IEEE specials as in f32) and `Σ|aᵢ·bᵢ|`
/// over the finite products.
pub fn dot64(a: &[f32], b: &[f32]) -> (f64, f64) {
    let products = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y));
    let sum = products.clone().sum();
    let abs = products.filter(|p| p.is_finite()).map(f64::abs).sum();
    (sum, abs)
}

/// Printed once when a target starts, so every log names the backend it checked.
pub fn announce(target: &str) {
    eprintln!("sdpa fuzz target {target}: backend {}, fused mul_add {}", sdpa::backend(), fused());
}
