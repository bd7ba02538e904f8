//! # sdpa
//!
//! Scaled dot-product attention, `out = softmax(Q·Kᵀ/√D + bias)·V`, as
//! SIMD-optimized kernels for firmware, kernel authors and benchmarks:
//! `#![no_std]`, no allocator, no panics, shapes in the types, and the
//! widest vector unit of the CPU chosen at run time.
//!
//! ```
//! use sdpa::{Matrix, Options, attention};
//!
//! // 3 queries of dim 4, 5 keys, values of dim 6: the classic toy.
//! let q = Matrix::<3, 4>::from_fn(|r, c| (r as f32 - c as f32) * 0.5);
//! let k = Matrix::<5, 4>::from_fn(|r, c| ((r * 4 + c) as f32).sin());
//! let v = Matrix::<5, 6>::from_fn(|r, c| (r * 6 + c) as f32);
//! let mut out = Matrix::<3, 6>::zeros();
//! attention(&q, &k, &v, &mut out, &Options::new()); // scale 1/√4
//! // Every output element is a convex combination of its value column.
//! assert!(out.as_slice().iter().all(|x| (0.0..=29.0).contains(x)));
//! ```
//!
//! ## What a firmware user can rely on
//! - **No allocator, bounded stack.** Queries stream over blocks of keys
//!   with an online softmax: there is no `NQ × NK` score matrix, and stack
//!   use does not grow with `NK` or `NQ` (on Cortex-M: blocks of 16 keys;
//!   on SIMD hosts the tiled engine's fixed scratch holds one block of
//!   queries transposed, for D ≤ 256, and one tile of 48 scores per query).
//! - **Shapes are types.** `Matrix<R, C>` carries its dimensions; mismatched
//!   Q/K/V/out shapes and zero dimensions are compile errors. Weights can be
//!   `static` (`const fn` constructors) and sit in flash.
//! - **Specified non-finite behaviour.** A fully masked query row gives an
//!   all-zero output row, never NaN and never a uniform row. Masked keys
//!   (causal, window, boolean `false`, additive `−∞`) are skipped before their
//!   K and V rows are read, so NaN in a masked slot cannot leak. `(−∞) − (−∞)`
//!   is never formed. NaN in an unmasked input, or a `+∞` score, makes the
//!   rows it reaches NaN, touches no other row, and never panics; a `−∞`
//!   score (e.g. `+∞` in Q meeting a negative K entry) weighs 0.
//! - **No panics.** Kernels index through iterators and checked `get`; the
//!   firmware check builds the public API with a panic handler that cannot link.
//!
//! ## Layers
//! - [`Matrix`]: const-generic row-major storage.
//! - [`kernels`]: dot products, softmax (three-pass and online), accumulation,
//!   vectorized `exp`, each with its scalar reference.
//! - [`attention()`], [`attention_rows`], [`attention_weights`] with [`Options`]:
//!   the fused kernel over const shapes; [`runtime`]: the same over runtime shapes.
//! - [`multihead`]: batch × heads × queries in one call over strided tensor
//!   views (BHSD, BSHD, fused QKV), GQA/MQA, masks per head or batch, ALiBi
//!   per head; const-generic and runtime forms.
//! - [`layer`]: a multi-head self-attention layer (projections, MHA/GQA/MQA,
//!   RoPE/ALiBi, encoder and decoder masks, a key/value cache for decoding).
//!
//! ## SIMD
//! On x86-64 each call runs the widest unit the CPU has, detected at run
//! time (feature `runtime-dispatch`, on by default, `no_std`): 16 lanes with
//! AVX-512F, 8 with AVX2 + FMA, 4 with SSE2. Elsewhere the backend is fixed
//! at compile time: 4 lanes on NEON / simd128, the portable 4-lane backend
//! on Cortex-M and RISC-V (and everywhere with `force-scalar`).
//! [`backend()`] names the one the next call runs; [`set_backend`] (and
//! `with_backend` in `std` builds) force a narrower one. The only
//! `unsafe` code is the x86-64 module behind that choice.

#![no_std]
#![deny(unsafe_code)] // allowed in exactly one module, `simd::x86` (see the README's SIMD backends)
#![deny(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

mod attention;
mod element;
pub mod kernels;
pub mod layer;
mod matrix;
pub mod multihead;
mod options;
mod parallel;
pub mod runtime;
mod simd;

pub use attention::{Options, attention, attention_rows, attention_weights};
pub use element::{Bf16, F16, KvElement};
pub use matrix::Matrix;
pub use options::{Alignment, Settings, Window};
#[cfg(feature = "std")]
pub use simd::with_backend;
pub use simd::{Backend, Unsupported, backend, set_backend};

/// Test support: run an attention call on a chosen engine (`std` builds).
/// Hidden from the docs; not a tuning knob.
#[cfg(feature = "std")]
#[doc(hidden)]
pub mod __engines {
    pub use crate::attention::choose::{Engine, min_block_keys, with_engine};
    #[cfg(feature = "rayon")]
    pub use crate::parallel::with_threads;
}

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The Rust examples of `docs/`, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../docs/SEMANTICS.md")]
#[doc = include_str!("../docs/FIRMWARE.md")]
struct DocsDoctests;
