//! Decides, once, which SIMD backends this build compiles: the one `cfg`
//! ladder of the crate. It reads the target and its enabled features (what
//! `RUSTFLAGS="-C target-cpu=…"` turns on) and the crate's features, and
//! sets:
//!
//! - `sdpa_wide4`: `wide::f32x4` (SSE2 on x86-64, NEON on aarch64, simd128 on wasm32);
//! - `sdpa_avx2`: the AVX2 + FMA backend (`core::arch`, x86-64);
//! - `sdpa_avx512`: the AVX-512F backend (`core::arch`, x86-64);
//! - `sdpa_dispatch`: the x86-64 backends are chosen at run time (cpuid),
//!   rather than fixed by the build's target features.
//!
//! The portable backend is always compiled. Under the `force-scalar` feature
//! it is the only one, as on Cortex-M and RISC-V.

use std::env;

fn main() {
    for cfg in ["sdpa_wide4", "sdpa_avx2", "sdpa_avx512", "sdpa_dispatch"] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    println!("cargo::rerun-if-changed=build.rs");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let features = env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let has = |f: &str| features.split(',').any(|x| x == f);
    let enabled = |f: &str| env::var_os(format!("CARGO_FEATURE_{}", f.to_uppercase().replace('-', "_"))).is_some();
    if enabled("force-scalar") {
        return;
    }
    let wide4 = match arch.as_str() {
        "x86_64" | "x86" => has("sse2"),
        "aarch64" => has("neon"),
        "wasm32" => has("simd128"),
        _ => false,
    };
    if wide4 {
        println!("cargo::rustc-cfg=sdpa_wide4");
    }
    if arch == "x86_64" {
        let dispatch = enabled("runtime-dispatch");
        if dispatch {
            println!("cargo::rustc-cfg=sdpa_dispatch");
        }
        if dispatch || (has("avx2") && has("fma") && has("f16c")) {
            println!("cargo::rustc-cfg=sdpa_avx2");
        }
        if dispatch || has("avx512f") {
            println!("cargo::rustc-cfg=sdpa_avx512");
        }
    }
}
