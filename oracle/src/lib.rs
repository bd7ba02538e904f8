//! The one f64 reference ("oracle") of sdpa's kernels and attention, the
//! error bounds derived for them, and a seeded generator: test support for
//! the integration tests (`tests/`, a dev-dependency of sdpa), the fuzz
//! targets (`fuzz/`, a path dependency) and the benchmarks.
//!
//! Written from the semantics docs/SEMANTICS.md documents, not from the crate's
//! code: the rules for masks, alignment, windows, ALiBi and non-finite
//! inputs are restated here in f64 and the library is checked against them.
//! It uses std (vectors, `f64` maths) and sdpa's public API only.
//!
//! # Layout
//!
//! - [`Rng`]: SplitMix64, so every test input is reproducible from a seed.
//! - [`float`]: `u`, `2⁻¹⁴⁹`, `γ(k)`, ulps, bit-equality modulo NaN.
//! - [`backend`]: the lanes of this build and whether it fuses multiply-adds.
//! - [`kernels`]: `dot`, softmax and `axpy` in f64, and the exact f32
//!   emulation of `axpy` as built.
//! - [`Problem`] (borrowed slices, per-query or per-key masks and biases)
//!   and [`Case`] (owned, full masks, [`Case::view`]): one attention problem
//!   with every option (scale, causal in both alignments, window, ALiBi,
//!   boolean masks and additive biases per query or per key); its visibility
//!   rule, f64 scores, weights and output ([`Problem::attention64`]).
//! - [`bounds`]: the error bounds, each derived in its doc comment.
//! - [`order`]: the two documented score orders and what each makes of
//!   scores near `f32::MAX`.
//! - [`RowRef`] ([`Problem::row_reference`]): everything the fuzz targets
//!   assert about one row with arbitrary inputs.
//!
//! # Where the tests' and the fuzz targets' oracles differed
//!
//! This crate merges `tests/common` and `fuzz/src/reference.rs`. Their f64
//! references were the same computation (same dot product, same score
//! `(q·k)·scale − ALiBi + bias`, same max-subtracted softmax, same weighted
//! sum) and are now one ([`Problem::score64`], [`kernels::Softmax64`],
//! [`Problem::mix64`]); the visibility rule is the fuzz form, which computes
//! positions in `i128` so windows up to `usize::MAX` cannot wrap. What
//! differed is kept, under its own name:
//!
//! - **Row tolerances.** The tests' [`Problem::first_order_tolerance`] is
//!   `max|v|·(2Δs + (2·NK + 8)·u)` with `Δs` counting `D + 2` roundings and
//!   `max|v|` over every value; the fuzz [`RowRef::tolerance`] is
//!   `max|v|·min(expm1(2Δs) + (2·NK + 8)·u, 2)` with `D + 4` roundings (the
//!   pre-scaled order's `scale·log₂e` too) and `max|v|` over the visible
//!   rows, valid for any `Δs`. The property tests use the tighter per-column
//!   [`RowBounds`] (`γ(D + 3)`, the score range, the online blocks). None
//!   is uniformly tighter than another, so each test keeps its own.
//! - **Weight tolerances.** The tests bound a weight linearly
//!   ([`bounds::softmax_weight_bound`]); the fuzz targets in the log domain
//!   ([`bounds::log_weight_tolerance`], shared by the `softmax` target and
//!   [`RowRef::weight_tolerance`]), which stays meaningful where a weight
//!   underflows f64.
//! - **Dot bounds.** [`bounds::dot_documented_bound`] (`γ(⌈n/L⌉ + …)`, tests)
//!   and [`bounds::dot_depth_bound`] (`(n/L + …)·u·(1 + 10⁻⁶)`, fuzz).
//!   [`kernels::abs_dot64`] sums every product's magnitude, the fuzz
//!   target's [`kernels::finite_abs_dot64`] only the finite ones.
//! - **Score orders and classification.** Only the fuzz oracle predicted
//!   NaN and zero rows ([`RowRef`]: `nan_row`, `fused_nan`, `all_neg_inf`,
//!   `values_safe`, `finite`, …), classifying each score over every
//!   summation order ([`Problem::score_class`], [`order::ScoreClass`];
//!   either outcome accepted where the order decides: it once replayed one
//!   order in f32, which the engines' own orders need not follow near
//!   `f32::MAX`). `tests/edge_cases.rs` models the documented orders more
//!   simply, one rounding of the exact intermediate per order
//!   ([`order::ScoreOrder`]), and accepts a row right under either. Both
//!   are here.
//! - **Masked keys.** [`Problem::weights64`] and [`Problem::attention64`]
//!   give zeros for a row that sees nothing; [`RowRef`] computes its
//!   reference only where every input is finite ([`RowRef::finite`]) and
//!   reports `+∞` gaps and `−∞` log-weights for masked keys (the fuzz
//!   reference used to leave a gap of 0 there; no check reads it).
//! - **Slices of the wrong length** read as empty rows, masked keys and no
//!   bias ([`Problem`]), as the fuzz oracle did; the tests' indexing would
//!   have panicked. Only the runtime fuzz target builds such problems, and
//!   it asks the oracle only once the call has accepted the lengths.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backend;
pub mod bounds;
pub mod float;
pub mod kernels;
pub mod order;
mod problem;
mod rng;
mod row;

pub use backend::{fused, lanes};
pub use bounds::RowBounds;
pub use float::{LIMIT, TINY, U, gamma, same, ulp_error, ulp_f32};
pub use kernels::{Softmax64, abs_dot64, dot64, finite_abs_dot64, softmax64};
pub use order::{ScoreClass, ScoreOrder};
pub use problem::{Case, Problem, Spread, ValueRange};
pub use rng::Rng;
pub use row::RowRef;
