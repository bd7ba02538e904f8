//! The same attention with shapes known only at run time (FFI, model files):
//! flat row-major slices, every length checked, errors as values.
//!
//! Runs the same engine as the const-generic API, without copying. The
//! three entry points need the default feature `runtime-shapes`; the types
//! (shapes, errors, options) are always there.
//!
//! ```
//! use sdpa::runtime::{self, RuntimeOptions, Shape};
//! let shape = Shape { queries: 1, keys: 2, head_dim: 2, value_dim: 1 };
//! let (q, k, v) = ([1.0, 0.0], [1.0, 0.0, -1.0, 0.0], [1.0, 0.0]);
//! let mut out = [0.0];
//! runtime::attention(shape, &q, &k, &v, &mut out, &RuntimeOptions::new().scale(1.0)).unwrap();
//! assert!((out[0] - 0.880_797).abs() < 1e-6);
//!
//! assert_eq!(
//!     runtime::attention(shape, &q, &k[..3], &v, &mut out, &RuntimeOptions::new()),
//!     Err(runtime::Error::KeyLength)
//! );
//! ```

#[cfg(feature = "runtime-shapes")]
use crate::attention::{OutRows, Problem, Rows, RuntimeDims, attend_with_weights, choose};
pub use crate::options::{Bias, Mask, RuntimeOptions};
#[cfg(feature = "runtime-shapes")]
use crate::simd::dispatch;

/// Problem dimensions: `Q` is `queries × head_dim`, `K` is
/// `keys × head_dim`, `V` is `keys × value_dim`, the output
/// `queries × value_dim`.
///
/// ```
/// let s = sdpa::runtime::Shape { queries: 3, keys: 5, head_dim: 4, value_dim: 6 };
/// assert_eq!(s.keys, 5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    /// Rows of `Q` and of the output (`NQ`).
    pub queries: usize,
    /// Rows of `K` and `V` (`NK`).
    pub keys: usize,
    /// Columns of `Q` and `K` (`D`).
    pub head_dim: usize,
    /// Columns of `V` and of the output (`DV`).
    pub value_dim: usize,
}

/// Why a runtime call was refused. Nothing is written when an error is returned.
///
/// ```
/// use sdpa::runtime::Error;
/// assert_eq!(Error::ZeroDimension.to_string(), "a dimension is zero");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// A dimension of [`Shape`] is zero.
    ZeroDimension,
    /// A product of dimensions does not fit in `usize`.
    SizeOverflow,
    /// `q.len() != queries · head_dim`.
    QueryLength,
    /// `k.len() != keys · head_dim`.
    KeyLength,
    /// `v.len() != keys · value_dim`.
    ValueLength,
    /// The output length is not `queries · value_dim` (or, for row ranges,
    /// not a whole number of rows).
    OutputLength,
    /// `weights.len() != queries · keys`.
    WeightsLength,
    /// The mask has neither `queries · keys` (per query) nor `keys` (per key) entries.
    MaskLength,
    /// The bias has neither `queries · keys` (per query) nor `keys` (per key) entries.
    BiasLength,
    /// The requested rows go past the last query.
    RowRange,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::ZeroDimension => "a dimension is zero",
            Error::SizeOverflow => "a buffer size overflows usize",
            Error::QueryLength => "q does not hold queries x head_dim values",
            Error::KeyLength => "k does not hold keys x head_dim values",
            Error::ValueLength => "v does not hold keys x value_dim values",
            Error::OutputLength => "the output does not hold the expected rows x value_dim values",
            Error::WeightsLength => "weights does not hold queries x keys values",
            Error::MaskLength => "the mask does not hold queries x keys or keys values",
            Error::BiasLength => "the bias does not hold queries x keys or keys values",
            Error::RowRange => "the requested rows go past the last query",
        })
    }
}

impl core::error::Error for Error {}

/// Fused attention on flat row-major slices; see [`crate::attention`].
///
/// ```
/// use sdpa::runtime::{self, Mask, RuntimeOptions, Shape};
/// let shape = Shape { queries: 1, keys: 2, head_dim: 1, value_dim: 1 };
/// let keep = [false, true];
/// let mut out = [0.0];
/// let o = RuntimeOptions::new().mask(Mask::PerKey(&keep));
/// runtime::attention(shape, &[1.0], &[5.0, 1.0], &[f32::NAN, 7.0], &mut out, &o).unwrap();
/// assert_eq!(out, [7.0]); // the masked NaN value is never read
/// ```
#[cfg(feature = "runtime-shapes")]
pub fn attention(
    shape: Shape,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &mut [f32],
    options: &RuntimeOptions<'_>,
) -> Result<(), Error> {
    let problem = validate(shape, q, k, v, options)?;
    if Some(out.len()) != shape.queries.checked_mul(shape.value_dim) {
        return Err(Error::OutputLength);
    }
    let out = OutRows::contiguous(out, shape.value_dim);
    dispatch!(|s| choose::attend_rows(s, RuntimeDims, &problem, 0, out));
    Ok(())
}

/// Output rows `first_row .. first_row + out.len() / value_dim`; see
/// [`crate::attention_rows`].
///
/// ```
/// use sdpa::runtime::{self, Error, RuntimeOptions, Shape};
/// let shape = Shape { queries: 2, keys: 1, head_dim: 1, value_dim: 2 };
/// let mut second = [0.0; 2];
/// runtime::attention_rows(shape, &[1.0, 2.0], &[1.0], &[3.0, 4.0], 1, &mut second, &RuntimeOptions::new()).unwrap();
/// assert_eq!(second, [3.0, 4.0]);
/// let mut too_many = [0.0; 4];
/// let r = runtime::attention_rows(shape, &[1.0, 2.0], &[1.0], &[3.0, 4.0], 1, &mut too_many, &RuntimeOptions::new());
/// assert_eq!(r, Err(Error::RowRange));
/// ```
#[cfg(feature = "runtime-shapes")]
pub fn attention_rows(
    shape: Shape,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    first_row: usize,
    out: &mut [f32],
    options: &RuntimeOptions<'_>,
) -> Result<(), Error> {
    let problem = validate(shape, q, k, v, options)?;
    if !out.len().is_multiple_of(shape.value_dim) {
        return Err(Error::OutputLength);
    }
    // `validate` rejected a zero `value_dim`; `checked_div` says so to the
    // optimizer too (at opt-level "s" a plain `/` kept its panic path).
    let rows = out.len().checked_div(shape.value_dim).ok_or(Error::ZeroDimension)?;
    if first_row.checked_add(rows).is_none_or(|end| end > shape.queries) {
        return Err(Error::RowRange);
    }
    let out = OutRows::contiguous(out, shape.value_dim);
    dispatch!(|s| choose::attend_rows(s, RuntimeDims, &problem, first_row, out));
    Ok(())
}

/// Attention that also writes the `queries × keys` weights; see
/// [`crate::attention_weights`].
///
/// ```
/// use sdpa::runtime::{self, RuntimeOptions, Shape};
/// let shape = Shape { queries: 1, keys: 2, head_dim: 1, value_dim: 1 };
/// let (mut out, mut w) = ([0.0], [0.0; 2]);
/// runtime::attention_weights(shape, &[0.0], &[1.0, 2.0], &[2.0, 4.0], &mut out, &mut w, &RuntimeOptions::new()).unwrap();
/// assert_eq!((out, w), ([3.0], [0.5, 0.5]));
/// ```
#[cfg(feature = "runtime-shapes")]
pub fn attention_weights(
    shape: Shape,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &mut [f32],
    weights: &mut [f32],
    options: &RuntimeOptions<'_>,
) -> Result<(), Error> {
    let problem = validate(shape, q, k, v, options)?;
    if Some(out.len()) != shape.queries.checked_mul(shape.value_dim) {
        return Err(Error::OutputLength);
    }
    if Some(weights.len()) != shape.queries.checked_mul(shape.keys) {
        return Err(Error::WeightsLength);
    }
    dispatch!(|s| attend_with_weights(s, &problem, out, weights));
    Ok(())
}

/// Checks every dimension and length, in the order the errors are listed.
#[cfg(feature = "runtime-shapes")]
fn validate<'a>(
    shape: Shape,
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
    options: &RuntimeOptions<'a>,
) -> Result<Problem<'a>, Error> {
    let Shape { queries, keys, head_dim, value_dim } = shape;
    if queries == 0 || keys == 0 || head_dim == 0 || value_dim == 0 {
        return Err(Error::ZeroDimension);
    }
    let size = |a: usize, b: usize| a.checked_mul(b).ok_or(Error::SizeOverflow);
    let (q_len, k_len, v_len) = (size(queries, head_dim)?, size(keys, head_dim)?, size(keys, value_dim)?);
    size(queries, value_dim)?;
    size(queries, keys)?;
    let checks = [
        (q.len() == q_len, Error::QueryLength),
        (k.len() == k_len, Error::KeyLength),
        (v.len() == v_len, Error::ValueLength),
    ];
    if let Some(&(_, e)) = checks.iter().find(|(ok, _)| !ok) {
        return Err(e);
    }
    if options.mask.is_some_and(|m| !m.fits(queries, keys, 1)) {
        return Err(Error::MaskLength);
    }
    if options.bias.is_some_and(|b| !b.fits(queries, keys, 1)) {
        return Err(Error::BiasLength);
    }
    Ok(Problem {
        nq: queries,
        nk: keys,
        d: head_dim,
        dv: value_dim,
        q: Rows::contiguous(q, head_dim),
        k: Rows::contiguous(k, head_dim),
        v: Rows::contiguous(v, value_dim),
        settings: options.settings,
        mask: options.mask,
        bias: options.bias,
    })
}
