//! Shared support for the sdpa fuzz targets: decoding fuzzer bytes
//! ([`input`]) and the assertions made on every attention output
//! ([`check`]). The f64 reference they assert against, its error bounds and
//! the build facts (lanes, FMA) are the `sdpa-oracle` crate (`../oracle`),
//! which the integration tests use too.

pub mod check;
pub mod input;

/// Value written into output buffers before a call, to see what the call
/// wrote (a quiet NaN with a payload no kernel produces).
pub const SENTINEL: f32 = f32::from_bits(0x7fc5_a5a5);

/// Values a "poisoned" (masked, never-read) K or V slot is filled with.
pub const POISON: [f32; 6] =
    [f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, f32::from_bits(0x7f80_0001)];

/// Printed once when a target starts, so every log names the backend it checked.
pub fn announce(target: &str) {
    eprintln!("sdpa fuzz target {target}: backend {}, fused mul_add {}", sdpa::backend(), sdpa_oracle::fused());
}
