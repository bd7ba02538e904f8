//! Shared pieces of sdpa's benchmarks (`benches/benches/suite/`, `benches/benches/layer.rs`):
//! the workloads and their inputs, the peers a user would write instead of
//! `sdpa`, the machine kernels (FMA peak, L2 stream) picked at run time, a
//! persistent two-thread split, and an f64 reference of the attention layer
//! that the layer benchmarks are checked against.
//!
//! Not published; `unsafe` lives only in [`machine`] (the runtime-dispatched
//! `core::arch` kernels), each block with a `SAFETY:` comment.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod data;
pub mod layers;
pub mod machine;
pub mod peers;
pub mod pool;

/// Max |a − b| over two outputs of the same length.
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "outputs of different lengths");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}
