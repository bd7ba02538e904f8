//! The x86-64 backends on `core::arch`: AVX2 + FMA (`f32x8`) and AVX-512F
//! (`f32x16`), and the cpuid detection that decides whether they may run.
//!
//! This is the crate's only `unsafe` code. Calling an intrinsic, or a
//! function with `#[target_feature]`, from code compiled without those
//! features is `unsafe`: it is sound only on a CPU that has them. Each
//! backend is a zero-sized token with a private field, made only by
//! [`Avx2::new`] / [`Avx512::new`] after [`detect`] found the features (or
//! when the build enables them statically); each vector type wraps its
//! register with a private field and is made only through a token. So every
//! `unsafe` block below is reached only when the CPU supports what it
//! calls. `wide` cannot serve here: its types pick their instructions from
//! the crate-wide target features at compile time, so inside a
//! `#[target_feature]` function of a default build they stay SSE.
//!
//! Loads and stores go through references to whole `[f32; L]` arrays (or
//! `[F16; L]`, `[Bf16; L]`, `#[repr(transparent)]` over `u16`), so the
//! pointers they pass are always valid for the full vector, and the
//! unaligned intrinsics need no alignment.

mod avx2;
mod avx512;
mod detect;

pub(crate) use avx2::Avx2;
pub(crate) use avx512::Avx512;
