//! `sdpa_dot`, `sdpa_dot_rows`, `sdpa_softmax`: sdpa's kernels on their own.

use super::{in_place, input, non_null, output, region};
use crate::SdpaStatus;
use crate::check::{self, mul, non_zero};
use crate::status::status;
use sdpa::kernels;

/// Dot product `*result = sum(a[i] * b[i])` over `n` floats, vectorized
/// (several accumulators; the order of the additions differs from a plain
/// loop, so the last bits may too). NaN or infinity follow IEEE arithmetic.
///
/// Returns `SDPA_STATUS_OK`, or (writing nothing) `NULL_POINTER`,
/// `ZERO_DIMENSION` (`n == 0`), `SIZE_OVERFLOW`, `MISALIGNED`, `ALIASING`
/// (`result` inside `a` or `b`).
///
/// ```c
/// float a[3] = { 1, 2, 3 }, b[3] = { 4, 5, 6 }, r;
/// sdpa_dot(a, b, 3, &r); // r == 32
/// ```
///
/// # Safety
/// `a` and `b` are valid for `n` reads, `result` for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sdpa_dot(a: *const f32, b: *const f32, n: usize, result: *mut f32) -> SdpaStatus {
    status((|| {
        non_null(&[a.cast(), b.cast(), result.cast_const().cast()])?;
        non_zero(&[n])?;
        check::disjoint(&[region(result, 1)?], &[region(a, n)?, region(b, n)?])?;
        // SAFETY: both regions checked; valid inputs by the caller's contract.
        let (a, b) = unsafe { (input(a, n), input(b, n)) };
        let dot = kernels::dot(a, b);
        // SAFETY: `result` is non-NULL, aligned and valid for one write, and
        // overlaps neither input (checked above), which are no longer used.
        unsafe { result.write(dot) };
        Ok(())
    })())
}

/// Scores of one query against `count` consecutive rows:
/// `out[j] = query . rows[j * dim .. (j + 1) * dim]` (the score kernel of
/// attention: four rows per pass over the query, so each query load feeds
/// four multiply-adds). `rows` is `count x dim` row-major; `out` holds
/// `count` floats and must not overlap `query` or `rows`.
///
/// Returns as `sdpa_dot` (`dim == 0` or `count == 0` is `ZERO_DIMENSION`).
///
/// ```c
/// float q[2] = { 1, 0 }, keys[3 * 2] = { 3, 4,  5, 6,  -1, 0.5f }, scores[3];
/// sdpa_dot_rows(q, 2, keys, 3, scores); // { 3, 5, -1 }
/// ```
///
/// # Safety
/// `query` is valid for `dim` reads, `rows` for `count * dim`, `out` for `count` writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sdpa_dot_rows(
    query: *const f32,
    dim: usize,
    rows: *const f32,
    count: usize,
    out: *mut f32,
) -> SdpaStatus {
    status((|| {
        non_null(&[query.cast(), rows.cast(), out.cast_const().cast()])?;
        non_zero(&[dim, count])?;
        let rows_len = mul(count, dim)?;
        check::disjoint(&[region(out, count)?], &[region(query, dim)?, region(rows, rows_len)?])?;
        // SAFETY: the regions are checked; valid inputs by the caller's contract.
        let (query, rows) = unsafe { (input(query, dim), input(rows, rows_len)) };
        // SAFETY: checked, and overlapping no input.
        let out = unsafe { output(out, count) };
        kernels::dot_rows(query, rows, out);
        Ok(())
    })())
}

/// In-place softmax over `n` floats, the exact three-pass form: `x[i] =
/// exp(x[i] - max) / sum_j exp(x[j] - max)`. Every element `-INFINITY` (a
/// fully masked row) gives all zeros, never NaN; `-INFINITY` elements get
/// weight exactly 0; any NaN or `+INFINITY` makes every element NaN.
/// Finite inputs never overflow, however large. `exp` is accurate to 2 ulp.
///
/// Returns `SDPA_STATUS_OK`, or (writing nothing) `NULL_POINTER`,
/// `ZERO_DIMENSION` (`n == 0`), `SIZE_OVERFLOW`, `MISALIGNED`.
///
/// ```c
/// float x[4] = { 1, 2, 3, -INFINITY };
/// sdpa_softmax(x, 4); // { 0.0900, 0.2447, 0.6652, 0 }
/// ```
///
/// # Safety
/// `x` is valid for `n` reads and writes of initialized floats.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sdpa_softmax(x: *mut f32, n: usize) -> SdpaStatus {
    status((|| {
        non_null(&[x.cast_const().cast()])?;
        non_zero(&[n])?;
        region(x.cast_const(), n)?;
        // SAFETY: the region is checked; `x` holds `n` initialized floats
        // that nothing else accesses during the call (the caller's contract).
        let x = unsafe { in_place(x, n) };
        kernels::softmax(x);
        Ok(())
    })())
}
