//! The building blocks, usable on their own: dot products, softmax (exact
//! three-pass and online), accumulation, a vectorized `exp`, and the
//! `nn.Linear` projection over tokens.
//!
//! Every kernel works on slices, allocates nothing, never panics, and keeps
//! its scalar reference beside it (`*_reference`) for differential testing.
//! Lengths: a kernel taking two slices uses their common prefix; each
//! function's docs say exactly which elements it reads and writes.
//!
//! ```
//! use sdpa::kernels::{dot_rows, softmax, axpy_rows};
//! // One query against three keys of dim 2, then the weighted sum of values.
//! let q = [1.0, 0.5];
//! let keys = [1.0, 0.0, /**/ 0.0, 1.0, /**/ -1.0, 0.0];
//! let values = [1.0, /**/ 2.0, /**/ 3.0];
//! let mut w = [0.0; 3];
//! dot_rows(&q, &keys, &mut w);
//! softmax(&mut w);
//! let mut out = [0.0];
//! axpy_rows(&mut out, &w, &values);
//! assert!(out[0] > 1.0 && out[0] < 2.0);
//! ```

mod accumulate;
mod dot;
mod exp;
mod linear;
mod online;
mod softmax;
mod tile;

pub use accumulate::{axpy, axpy_reference, axpy_rows, scale};
pub(crate) use accumulate::{axpy_with, scale_with};
pub use dot::{dot, dot_reference, dot_rows};

pub(crate) use exp::{exp_nonpositive, first_lane};

pub use exp::{exp, exp_in_place, exp_reference};
pub(crate) use linear::Projection;
pub use linear::{linear, linear_reference};
pub use online::OnlineSoftmax;
pub(crate) use softmax::softmax_with;
pub use softmax::{softmax, softmax_reference};
pub(crate) use tile::{rows_times_panel, weights_times_rows};
