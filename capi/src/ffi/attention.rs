//! `sdpa_attention`, `sdpa_attention_weights`, `sdpa_attention_rows`.

use super::{bools, input, non_null, optional, output, read, region};
use crate::check::{self, mul, non_zero};
use crate::convert::{self, Lengths};
use crate::status::status;
use crate::{SdpaOptions, SdpaShape, SdpaStatus};
use sdpa::runtime;

/// Where an attention call writes.
#[derive(Clone, Copy)]
enum Target {
    /// Every output row.
    All { out: *mut f32 },
    /// Every output row and the `queries × keys` weights.
    Weights { out: *mut f32, weights: *mut f32 },
    /// Output rows `first_row .. first_row + rows`.
    Rows { first_row: usize, rows: usize, out: *mut f32 },
}

/// Fused attention: `out = softmax(Q K^T * scale + bias) V` for `shape`.
///
/// `q` is `queries x head_dim`, `k` is `keys x head_dim`, `v` is
/// `keys x value_dim`, `out` is `queries x value_dim`, all row-major.
/// `options` may be NULL (scale `1/sqrt(head_dim)`, nothing masked); see
/// `SdpaOptions` for what each option does. `k` and `v` (and `q`) may be
/// the same buffer; `out` must not overlap any input.
///
/// Memory: no `queries x keys` matrix is formed; sdpa picks one of its
/// streaming engines per problem (online softmax over key blocks), on a
/// fixed amount of stack. A query that sees no key gets an all-zero row; masked keys'
/// K and V rows are never read.
///
/// Returns `SDPA_STATUS_OK`, or (writing nothing) `NULL_POINTER`,
/// `ZERO_DIMENSION`, `SIZE_OVERFLOW`, `MISALIGNED`, `ALIASING`,
/// `INVALID_MASK`, `INVALID_OPTION`.
///
/// ```c
/// float q[3 * 4], k[5 * 4], v[5 * 6], out[3 * 6];          // filled by the caller
/// SdpaShape shape = { .queries = 3, .keys = 5, .head_dim = 4, .value_dim = 6 };
/// SdpaStatus s = sdpa_attention(shape, q, k, v, out, NULL); // scale 1/sqrt(4)
///
/// SdpaOptions causal = { .flags = SDPA_FLAG_CAUSAL };
/// s = sdpa_attention(shape, q, k, v, out, &causal);
/// ```
///
/// # Safety
/// Each pointer is valid for the elements `shape` implies (and `options`'s
/// mask and bias for theirs), and no other thread writes them during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sdpa_attention(
    shape: SdpaShape,
    q: *const f32,
    k: *const f32,
    v: *const f32,
    out: *mut f32,
    options: *const SdpaOptions,
) -> SdpaStatus {
    // SAFETY: this function's contract is `attend`'s.
    status(unsafe { attend(shape, q, k, v, Target::All { out }, options) })
}

/// Attention that also writes the weights: `weights` (`queries x keys`,
/// row-major) gets `softmax(Q K^T * scale + bias)`, `out` (`queries x
/// value_dim`) gets `weights . V`. A query that sees no key gets a zero
/// weight row and a zero output row. `out` and `weights` must not overlap
/// each other or any input.
///
/// Returns as `sdpa_attention`.
///
/// ```c
/// float out[3 * 6], weights[3 * 5];
/// SdpaStatus s = sdpa_attention_weights(shape, q, k, v, out, weights, NULL);
/// // each row of weights sums to 1 (up to rounding)
/// ```
///
/// # Safety
/// As `sdpa_attention`, and `weights` is valid for `queries * keys` writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sdpa_attention_weights(
    shape: SdpaShape,
    q: *const f32,
    k: *const f32,
    v: *const f32,
    out: *mut f32,
    weights: *mut f32,
    options: *const SdpaOptions,
) -> SdpaStatus {
    // SAFETY: this function's contract is `attend`'s.
    status(unsafe { attend(shape, q, k, v, Target::Weights { out, weights }, options) })
}

/// Output rows `first_row .. first_row + rows` of `sdpa_attention` only,
/// into `out` (`rows x value_dim`): the same values, bit for bit, as the
/// matching rows of the full call. Splits one attention across cores or
/// RTOS tasks, each with its own `out`. `q`, `k`, `v` and `options` are
/// the whole problem's; the mask's rows are the whole problem's too.
///
/// Returns as `sdpa_attention`, plus `SDPA_STATUS_ROW_RANGE` if
/// `first_row + rows > queries` (`rows == 0` is `ZERO_DIMENSION`).
///
/// ```c
/// // Task 1 of 2 computes the second half of the rows.
/// size_t half = shape.queries / 2;
/// SdpaStatus s = sdpa_attention_rows(shape, q, k, v, half, shape.queries - half,
///                                    out + half * shape.value_dim, &options);
/// ```
///
/// # Safety
/// As `sdpa_attention`, with `out` valid for `rows * value_dim` writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sdpa_attention_rows(
    shape: SdpaShape,
    q: *const f32,
    k: *const f32,
    v: *const f32,
    first_row: usize,
    rows: usize,
    out: *mut f32,
    options: *const SdpaOptions,
) -> SdpaStatus {
    // SAFETY: this function's contract is `attend`'s.
    status(unsafe { attend(shape, q, k, v, Target::Rows { first_row, rows, out }, options) })
}

/// Checks everything, then runs the call.
///
/// # Safety
/// The module's contract for `shape`, the pointers and `options`.
unsafe fn attend(
    shape: SdpaShape,
    q: *const f32,
    k: *const f32,
    v: *const f32,
    target: Target,
    options: *const SdpaOptions,
) -> Result<(), SdpaStatus> {
    let (out, weights) = match target {
        Target::All { out } | Target::Rows { out, .. } => (out, None),
        Target::Weights { out, weights } => (out, Some(weights)),
    };
    non_null(&[q.cast(), k.cast(), v.cast(), out.cast_const().cast()])?;
    if weights.is_some_and(|w| w.is_null()) {
        return Err(SdpaStatus::NullPointer);
    }
    // SAFETY: a non-NULL `options` points to an initialized `SdpaOptions`.
    let o = unsafe { read(options) }?;
    let checked = convert::options(o.as_ref())?;
    let (mask_ptr, bias_ptr) = match o {
        Some(o) => (o.mask, o.bias),
        None => (core::ptr::null(), core::ptr::null()),
    };
    let lens = Lengths::of(shape)?;
    let out_len = match target {
        Target::Rows { first_row, rows, .. } => {
            non_zero(&[rows])?;
            match first_row.checked_add(rows) {
                Some(end) if end <= shape.queries => mul(rows, shape.value_dim)?,
                _ => return Err(SdpaStatus::RowRange),
            }
        }
        _ => lens.out,
    };

    let mask = checked.mask.map(|c| (c, lens.cover(c)));
    let bias = checked.bias.map(|c| (c, lens.cover(c)));
    let inputs = [
        region(q, lens.q)?,
        region(k, lens.k)?,
        region(v, lens.v)?,
        optional(mask.map(|(_, len)| (mask_ptr, len)))?,
        optional(bias.map(|(_, len)| (bias_ptr, len)))?,
        optional((!options.is_null()).then_some((options, 1)))?,
    ];
    let outputs = [region(out, out_len)?, optional(weights.map(|w| (w.cast_const(), lens.pairs)))?];
    check::disjoint(&outputs, &inputs)?;

    // SAFETY: every region above is a valid buffer shape (non-NULL, aligned,
    // no overflow) and the caller's contract makes the memory valid inputs.
    let (q, k, v) = unsafe { (input(q, lens.q), input(k, lens.k), input(v, lens.v)) };
    let mask = match mask {
        // SAFETY: as above for the mask's region; `bools` checks every byte.
        Some((cover, len)) => Some((cover, unsafe { bools(mask_ptr, len) }?)),
        None => None,
    };
    // SAFETY: as above for the bias's region.
    let bias = bias.map(|(cover, len)| (cover, unsafe { input(bias_ptr, len) }));
    let opts = convert::runtime_options(checked.settings, mask, bias);
    // Every check has passed: from here on the call writes.
    // SAFETY: `out` (and `weights`) were checked above and overlap no input
    // and no other output (`disjoint`), so each `&mut` is unique.
    let out = unsafe { output(out, out_len) };
    let result = match target {
        Target::All { .. } => runtime::attention(lens.shape, q, k, v, out, &opts),
        Target::Rows { first_row, .. } => runtime::attention_rows(lens.shape, q, k, v, first_row, out, &opts),
        Target::Weights { weights, .. } => {
            // SAFETY: as for `out`.
            let weights = unsafe { output(weights, lens.pairs) };
            runtime::attention_weights(lens.shape, q, k, v, out, weights, &opts)
        }
    };
    result.map_err(SdpaStatus::from)
}
