//! What this build of sdpa does, read from its public API: lane count and
//! whether multiply-adds are fused.

/// Lanes of this build's vector type, from [`sdpa::backend`] (the portable
/// scalar backend has 4).
pub fn lanes() -> usize {
    match sdpa::backend() {
        "f32x16" => 16,
        "f32x8" => 8,
        _ => 4,
    }
}

/// Whether this build's kernels fuse multiply-adds (`mul_add` rounds once):
/// the vector backends do where the target has FMA (x86 `fma`, always on
/// aarch64); the portable scalar backend never does. See `src/simd/mod.rs`.
pub fn fused() -> bool {
    sdpa::backend() != "scalar" && cfg!(any(target_feature = "fma", target_arch = "aarch64"))
}
