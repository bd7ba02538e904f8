//! Tests of the C functions, called from Rust through their raw-pointer
//! signatures (so `cargo +nightly miri test` checks the unsafe code on every
//! path they take): results against numpy and against the Rust API they
//! wrap, and every refusal.
//!
//! The tests sit inside the library (not in `tests/`) because the library
//! is only a `staticlib`; `cfg(test)` builds it with `std` and without its
//! own panic handler.

#![allow(unsafe_code)] // calling the exported `unsafe extern "C"` functions
#![allow(clippy::undocumented_unsafe_blocks)] // every call below passes buffers of the documented sizes

mod attention;
mod decode16;
mod errors;
mod kernels;
mod kv16;
mod layer;
mod multihead;

use crate::{SdpaOptions, SdpaShape};
use core::ptr;
use std::vec::Vec;

/// Deterministic values in `[-1, 1)` (SplitMix64).
pub(crate) fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// A shape.
pub(crate) fn shape(queries: usize, keys: usize, head_dim: usize, value_dim: usize) -> SdpaShape {
    SdpaShape { queries, keys, head_dim, value_dim }
}

/// All-default options (what C's `SdpaOptions o = {0};` gives).
pub(crate) fn zero_options() -> SdpaOptions {
    SdpaOptions {
        flags: 0,
        scale: 0.0,
        alibi_slope: 0.0,
        mask_kind: 0,
        bias_kind: 0,
        window_left: 0,
        window_right: 0,
        mask: ptr::null(),
        bias: ptr::null(),
    }
}

/// Largest absolute difference to an f64 reference.
pub(crate) fn max_err(ours: &[f32], want: &[f64]) -> f64 {
    assert_eq!(ours.len(), want.len());
    ours.iter().zip(want).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max)
}

/// The seed notebook's toy: numpy's values, flattened to f32.
pub(crate) mod seed {
    mod data {
        include!("../../../tests/data/seed_toy.rs");
    }
    pub(crate) use data::{OUT, WEIGHTS};
    use std::vec::Vec;

    /// A row-major f64 matrix as f32.
    fn flat<const C: usize>(m: &[[f64; C]]) -> Vec<f32> {
        m.iter().flatten().map(|&x| x as f32).collect()
    }
    pub(crate) fn q() -> Vec<f32> {
        flat(&data::Q)
    }
    pub(crate) fn k() -> Vec<f32> {
        flat(&data::K)
    }
    pub(crate) fn v() -> Vec<f32> {
        flat(&data::V)
    }
}
