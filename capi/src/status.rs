//! The status every C function returns.

use sdpa::{multihead, runtime};

/// What a call did: `SDPA_STATUS_OK`, or why it was refused. A refused call
/// has written nothing (no output element, no cache field, no scratch).
///
/// When several problems apply, any one of them may be reported. The
/// functions' documentation names statuses without the `SDPA_STATUS_` prefix.
///
/// The type is a 32-bit integer in C (`int32_t`), whatever the compiler's
/// enum size (`-fshort-enums` included).
///
/// ```c
/// SdpaStatus s = sdpa_softmax(x, 0);
/// if (s != SDPA_STATUS_OK) printf("%s\n", sdpa_status_message(s)); // "a dimension is zero"
/// ```
/// cbindgen:prefix-with-name
/// cbindgen:rename-all=ScreamingSnakeCase
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SdpaStatus {
    /// Success: the outputs are written.
    Ok = 0,
    /// A required pointer is NULL (an input, an output, or the mask/bias
    /// pointer of a mask or bias kind other than `SDPA_MASK_NONE`).
    NullPointer = 1,
    /// A dimension or count is zero (queries, keys, head_dim, value_dim,
    /// rows, tokens, a kernel's length, a layer's sizes, a cache's capacity).
    ZeroDimension = 2,
    /// A product of dimensions overflows `size_t`, a buffer's size in bytes
    /// exceeds `PTRDIFF_MAX`, or a buffer would wrap around the address space.
    SizeOverflow = 3,
    /// A pointer is not aligned for its type (4 bytes for `float`, the
    /// struct's alignment for a struct).
    Misaligned = 4,
    /// An output buffer overlaps an input buffer or another output buffer
    /// (in-place use is only for `sdpa_softmax`).
    Aliasing = 5,
    /// A boolean mask byte is neither 0 (masked) nor 1 (attend).
    InvalidMask = 6,
    /// Unknown flag bits, an unknown mask or bias kind, positional encoding
    /// or cache mode, or a flag that the function does not take.
    InvalidOption = 7,
    /// `first_row + rows` goes past the last query.
    RowRange = 8,
    /// A layer shape the layer cannot run: `q_heads · head_dim != d_model`,
    /// or `kv_heads` does not divide `q_heads` (also for
    /// `sdpa_multihead_attention`).
    UnsupportedShape = 9,
    /// A length does not fit the shape: packed layer weights not exactly
    /// `sdpa_layer_weights_len`, or a scratch or cache storage buffer
    /// shorter than the matching `*_len` function says.
    BadLength = 10,
    /// A fixed-capacity KV cache already holds `capacity` tokens; the cache
    /// is unchanged.
    CacheFull = 11,
    /// An `SdpaKvCache` that `sdpa_kv_cache_init` did not set up for this
    /// layer, or whose fields were changed: head count or dimension unlike
    /// the layer's, unknown mode, `len` inconsistent with `next_position`
    /// and `capacity`, NULL storage, or (`SdpaKvCache16`) an unknown `kv_type`.
    CacheInvalid = 12,
    /// A tensor view's `dim` stride is not 1 (for rows of more than one
    /// float), or its `token` stride is smaller than its row width, so rows
    /// of one head overlap (for heads of more than one row).
    BadStride = 13,
    /// A tensor view reaches past the end of its buffer (`len` floats), or
    /// its extent overflows `size_t`.
    OutOfBounds = 14,
    /// Rows of the output view overlap: its axes of extent above 1, ordered
    /// by stride, do not nest (each stride at least the span of the smaller
    /// axes' rows).
    OutputOverlap = 15,
}

impl SdpaStatus {
    /// A one-line English description, as `sdpa_status_message` returns it.
    pub(crate) fn message(self) -> &'static core::ffi::CStr {
        match self {
            SdpaStatus::Ok => c"success",
            SdpaStatus::NullPointer => c"a required pointer is NULL",
            SdpaStatus::ZeroDimension => c"a dimension is zero",
            SdpaStatus::SizeOverflow => c"a buffer size overflows",
            SdpaStatus::Misaligned => c"a pointer is misaligned for its type",
            SdpaStatus::Aliasing => c"an output overlaps an input or another output",
            SdpaStatus::InvalidMask => c"a mask byte is neither 0 nor 1",
            SdpaStatus::InvalidOption => c"an unknown flag, kind or mode",
            SdpaStatus::RowRange => c"the requested rows go past the last query",
            SdpaStatus::UnsupportedShape => c"q_heads * head_dim != d_model, or kv_heads does not divide q_heads",
            SdpaStatus::BadLength => c"a buffer length does not fit the shape",
            SdpaStatus::CacheFull => c"the KV cache is full",
            SdpaStatus::CacheInvalid => c"the KV cache is not set up for this layer",
            SdpaStatus::BadStride => c"a view's dim stride is not 1, or its token stride is below its row width",
            SdpaStatus::OutOfBounds => c"a view reaches past the end of its buffer",
            SdpaStatus::OutputOverlap => c"rows of the output view overlap",
        }
    }

    /// The status with value `code`, if any.
    pub(crate) fn from_code(code: i32) -> Option<SdpaStatus> {
        ALL.iter().copied().find(|s| *s as i32 == code)
    }
}

/// Every status, in code order.
pub(crate) const ALL: [SdpaStatus; 16] = [
    SdpaStatus::Ok,
    SdpaStatus::NullPointer,
    SdpaStatus::ZeroDimension,
    SdpaStatus::SizeOverflow,
    SdpaStatus::Misaligned,
    SdpaStatus::Aliasing,
    SdpaStatus::InvalidMask,
    SdpaStatus::InvalidOption,
    SdpaStatus::RowRange,
    SdpaStatus::UnsupportedShape,
    SdpaStatus::BadLength,
    SdpaStatus::CacheFull,
    SdpaStatus::CacheInvalid,
    SdpaStatus::BadStride,
    SdpaStatus::OutOfBounds,
    SdpaStatus::OutputOverlap,
];

impl From<runtime::Error> for SdpaStatus {
    /// The C library checks everything before calling [`sdpa::runtime`], so
    /// these are not expected; they are mapped rather than trusted away.
    fn from(e: runtime::Error) -> Self {
        match e {
            runtime::Error::ZeroDimension => SdpaStatus::ZeroDimension,
            runtime::Error::SizeOverflow => SdpaStatus::SizeOverflow,
            runtime::Error::RowRange => SdpaStatus::RowRange,
            _ => SdpaStatus::BadLength,
        }
    }
}

impl From<multihead::Error> for SdpaStatus {
    /// The multi-head call's stride, bounds and overlap checks are the
    /// library's (the C layer checks pointers, buffers and lengths first).
    fn from(e: multihead::Error) -> Self {
        use multihead::ViewError;
        match e {
            multihead::Error::ZeroDimension => SdpaStatus::ZeroDimension,
            multihead::Error::HeadGroups => SdpaStatus::UnsupportedShape,
            multihead::Error::View(_, ViewError::DimStride | ViewError::TokenStride) => SdpaStatus::BadStride,
            multihead::Error::View(_, ViewError::OutOfBounds) => SdpaStatus::OutOfBounds,
            multihead::Error::View(_, ViewError::Overlap) => SdpaStatus::OutputOverlap,
            _ => SdpaStatus::BadLength,
        }
    }
}

/// `Ok(())` → `SDPA_STATUS_OK`, `Err(s)` → `s`.
pub(crate) fn status(result: Result<(), SdpaStatus>) -> SdpaStatus {
    match result {
        Ok(()) => SdpaStatus::Ok,
        Err(s) => s,
    }
}
