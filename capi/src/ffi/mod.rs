//! The exported `extern "C"` functions, and the only `unsafe` code of the
//! crate: turning the caller's pointers into slices once every check on
//! them has passed.
//!
//! # The caller's contract (every function here)
//! Every non-NULL pointer points to memory valid for the number of elements
//! the dimensions imply (reads for inputs, writes for outputs), and no other
//! thread writes that memory during the call. Inputs are initialized; an
//! output may be uninitialized (it is zero-filled before use). Structs
//! (`SdpaOptions`, `SdpaLayer`, ...) are initialized values of their type.
//!
//! # What is checked before any slice exists
//! Null pointers, alignment, zero dimensions, every product of dimensions
//! and every buffer's byte size (at most `isize::MAX`, no wrap around the
//! address space: what `slice::from_raw_parts` requires), overlap of every
//! output with every input and other output (so no `&mut` slice ever
//! aliases another slice), and every mask byte being 0 or 1 (before it is
//! read as `bool`). A failed check returns its status and nothing is written.

pub mod attention;
pub mod kernels;
pub mod layer;
pub mod multihead;
mod panic;

use crate::SdpaStatus;
use crate::check::{self, Region};

/// The region of `len` values at the required pointer `p`: `NullPointer`,
/// `Misaligned` or `SizeOverflow` if it cannot be a buffer.
fn region<T>(p: *const T, len: usize) -> Result<Region, SdpaStatus> {
    if p.is_null() {
        return Err(SdpaStatus::NullPointer);
    }
    Region::of::<T>(p.addr(), len)
}

/// The region of an optional buffer (`None`: absent, overlaps nothing);
/// `NullPointer` if it is present with a NULL pointer.
fn optional<T>(buffer: Option<(*const T, usize)>) -> Result<Region, SdpaStatus> {
    buffer.map_or(Ok(Region::EMPTY), |(p, len)| region(p, len))
}

/// `NullPointer` if any pointer is NULL.
fn non_null(pointers: &[*const ()]) -> Result<(), SdpaStatus> {
    if pointers.iter().any(|p| p.is_null()) { Err(SdpaStatus::NullPointer) } else { Ok(()) }
}

/// A copy of the struct at `p`, `None` for NULL, `Misaligned` if `p` is.
///
/// # Safety
/// A non-NULL, aligned `p` points to an initialized `T`.
unsafe fn read<T: Copy>(p: *const T) -> Result<Option<T>, SdpaStatus> {
    if p.is_null() {
        return Ok(None);
    }
    if !p.is_aligned() {
        return Err(SdpaStatus::Misaligned);
    }
    // SAFETY: non-NULL and aligned (checked above), and points to an
    // initialized `T` (the caller's contract). `T` holds only integers,
    // floats and raw pointers, for which every initialized bit pattern is valid.
    Ok(Some(unsafe { p.read() }))
}

/// The input slice of `len` values at `p`.
///
/// # Safety
/// `region(p, len)` succeeded, and `p` is valid for reads of `len`
/// initialized values that nothing writes while the slice lives.
unsafe fn input<'a, T>(p: *const T, len: usize) -> &'a [T] {
    // SAFETY: `region` checked that `p` is non-NULL and aligned and that the
    // `len` values span at most `isize::MAX` bytes without wrapping; the
    // caller guarantees the memory is valid, initialized and not written.
    unsafe { core::slice::from_raw_parts(p, len) }
}

/// The output slice of `len` floats at `p`, zero-filled first.
///
/// # Safety
/// `region(p, len)` succeeded, `p` is valid for writes of `len` floats, and
/// the region overlaps no other slice alive at the same time (checked with
/// [`check::disjoint`] by every caller).
unsafe fn output<'a>(p: *mut f32, len: usize) -> &'a mut [f32] {
    // SAFETY: `p` is non-NULL, aligned and valid for writes of `len` floats
    // (checked by `region` and the caller's contract). Zero-filling through
    // the raw pointer makes every value initialized, so the slice below
    // holds valid `f32` even if the caller's buffer was uninitialized.
    unsafe { p.write_bytes(0, len) };
    // SAFETY: as above, and the memory is initialized now; no other slice
    // overlaps it (the caller checked disjointness), so this `&mut` is unique.
    unsafe { core::slice::from_raw_parts_mut(p, len) }
}

/// The in-place slice of `len` initialized values at `p` (read and written).
///
/// # Safety
/// `region(p, len)` succeeded, `p` is valid for reads and writes of `len`
/// initialized values, and nothing else accesses them while the slice lives.
unsafe fn in_place<'a, T>(p: *mut T, len: usize) -> &'a mut [T] {
    // SAFETY: non-NULL, aligned, at most `isize::MAX` bytes, no wrap
    // (`region`); valid, initialized and unaliased (the caller's contract).
    unsafe { core::slice::from_raw_parts_mut(p, len) }
}

/// The `len` mask bytes at `p` as booleans, `InvalidMask` if a byte is
/// neither 0 nor 1.
///
/// # Safety
/// As [`input`] for `len` bytes.
unsafe fn bools<'a>(p: *const u8, len: usize) -> Result<&'a [bool], SdpaStatus> {
    // SAFETY: the caller's contract, as for `input`.
    let bytes = unsafe { input(p, len) };
    check::mask_bytes(bytes)?;
    // SAFETY: the same memory, every byte checked to be 0 or 1 just above,
    // and `bool` has the size and alignment of `u8` with exactly the values
    // 0 (false) and 1 (true). Both slices are shared: nothing writes.
    Ok(unsafe { core::slice::from_raw_parts(p.cast::<bool>(), len) })
}

/// `sdpa_status_message`: a static, NUL-terminated English description of
/// a status code ("unknown status" for a value that is none).
///
/// ```c
/// SdpaStatus s = sdpa_attention(shape, q, k, v, out, NULL);
/// if (s != SDPA_STATUS_OK) fprintf(stderr, "sdpa: %s\n", sdpa_status_message(s));
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn sdpa_status_message(status: i32) -> *const core::ffi::c_char {
    match SdpaStatus::from_code(status) {
        Some(s) => s.message().as_ptr(),
        None => c"unknown status".as_ptr(),
    }
}

/// `sdpa_backend`: the SIMD backend the next call runs (chosen at run time
/// on x86-64), a static NUL-terminated string: "f32x16" (AVX-512F),
/// "f32x8" (AVX2 + FMA), "f32x4" (SSE2, NEON, wasm simd128) or "scalar"
/// (Cortex-M, RISC-V).
///
/// ```c
/// printf("sdpa backend: %s\n", sdpa_backend());
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn sdpa_backend() -> *const core::ffi::c_char {
    match sdpa::backend() {
        sdpa::Backend::F32x16 => c"f32x16",
        sdpa::Backend::F32x8 => c"f32x8",
        sdpa::Backend::F32x4 => c"f32x4",
        sdpa::Backend::Scalar => c"scalar",
    }
    .as_ptr()
}
