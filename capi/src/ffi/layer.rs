//! The self-attention layer: sizes, forward, KV cache, decode step.
//!
//! Every dimension is a runtime value (`SdpaLayer`), so one library serves
//! any model; see [`crate::layer`] for why this is not the const-generic
//! `sdpa::layer::SelfAttention` and how it is kept equal to it.

use super::{bools, in_place, input, non_null, optional, output, read, region};
use crate::check::{self, mul, non_zero};
use crate::layer::{Cache, Layer, Sequence, Spec};
use crate::status::status;
use crate::{SdpaCacheMode, SdpaKvCache, SdpaLayer, SdpaLayerMask, SdpaStatus};

/// The layer struct at `p`, checked: `NullPointer`, `Misaligned`, or the
/// errors of its fields.
///
/// # Safety
/// A non-NULL, aligned `p` points to an initialized `SdpaLayer`.
unsafe fn layer_spec(p: *const SdpaLayer) -> Result<(SdpaLayer, Spec), SdpaStatus> {
    // SAFETY: the caller's contract.
    let layer = unsafe { read(p) }?.ok_or(SdpaStatus::NullPointer)?;
    Ok((layer, Spec::of(&layer)?))
}

/// Writes `value` to the size output `len`, after the layer's checks and
/// then `counts`' (`ZeroDimension` for a zero token count or capacity).
///
/// # Safety
/// `layer` as for [`layer_spec`]; a non-NULL, aligned `len` is valid for one write.
unsafe fn size_query(
    layer: *const SdpaLayer,
    counts: &[usize],
    len: *mut usize,
    value: impl FnOnce(&Spec) -> Result<usize, SdpaStatus>,
) -> Result<(), SdpaStatus> {
    non_null(&[layer.cast(), len.cast_const().cast()])?;
    // SAFETY: the caller's contract.
    let (_, spec) = unsafe { layer_spec(layer) }?;
    non_zero(counts)?;
    let value = value(&spec)?;
    check::disjoint(&[region(len.cast_const(), 1)?], &[region(layer, 1)?])?;
    // SAFETY: non-NULL, aligned (`region`), valid for one write (the
    // caller's contract), and not the layer struct read above.
    unsafe { len.write(value) };
    Ok(())
}

/// `*len` = the floats of the layer's packed weights:
/// `2*d_model*d_model + 2*kv_heads*head_dim*d_model`, plus
/// `2*d_model + 2*kv_heads*head_dim` with `SDPA_FLAG_BIASES`
/// (`SDPA_LAYER_WEIGHTS_FLOATS` computes the same at compile time).
/// `layer->weights` is not read and may be NULL.
///
/// Returns `SDPA_STATUS_OK`, or (writing nothing) `NULL_POINTER`,
/// `MISALIGNED`, `INVALID_OPTION`, `ZERO_DIMENSION`, `UNSUPPORTED_SHAPE`,
/// `SIZE_OVERFLOW`, `ALIASING`.
///
/// ```c
/// size_t n;
/// if (sdpa_layer_weights_len(&layer, &n) == SDPA_STATUS_OK && fread(w, sizeof(float), n, f) == n) { ... }
/// ```
///
/// # Safety
/// `layer` points to an initialized `SdpaLayer`, `len` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sdpa_layer_weights_len(layer: *const SdpaLayer, len: *mut usize) -> SdpaStatus {
    // SAFETY: this function's contract is `size_query`'s.
    status(unsafe { size_query(layer, &[], len, Spec::packed_len) })
}

/// `*len` = the floats of `sdpa_layer_forward`'s scratch over `tokens`
/// tokens: `tokens * (2*d_model + 2*kv_heads*head_dim)`
/// (`SDPA_LAYER_SCRATCH_FLOATS`).
///
/// Returns as `sdpa_layer_weights_len` (`tokens == 0` is `ZERO_DIMENSION`).
///
/// ```c
/// size_t n;
/// sdpa_layer_scratch_len(&layer, 128, &n);
/// float *scratch = malloc(n * sizeof(float));
/// ```
///
/// # Safety
/// As `sdpa_layer_weights_len`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sdpa_layer_scratch_len(layer: *const SdpaLayer, tokens: usize, len: *mut usize) -> SdpaStatus {
    // SAFETY: this function's contract is `size_query`'s.
    status(unsafe { size_query(layer, &[tokens], len, |spec| spec.forward_scratch_len(tokens)) })
}

/// `*len` = the floats of `sdpa_layer_decode`'s scratch for a cache of
/// `capacity` tokens: `2*d_model + capacity` (`SDPA_DECODE_SCRATCH_FLOATS`).
///
/// Returns as `sdpa_layer_weights_len` (`capacity == 0` is `ZERO_DIMENSION`).
///
/// ```c
/// size_t n;
/// sdpa_decode_scratch_len(&layer, 128, &n);
/// ```
///
/// # Safety
/// As `sdpa_layer_weights_len`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sdpa_decode_scratch_len(
    layer: *const SdpaLayer,
    capacity: usize,
    len: *mut usize,
) -> SdpaStatus {
    // SAFETY: this function's contract is `size_query`'s.
    status(unsafe { size_query(layer, &[capacity], len, |spec| spec.decode_scratch_len(capacity)) })
}

/// `*len` = the floats of a KV cache's storage for `capacity` tokens:
/// `2*kv_heads*capacity*head_dim` (`SDPA_KV_CACHE_FLOATS`).
///
/// Returns as `sdpa_layer_weights_len` (`capacity == 0` is `ZERO_DIMENSION`).
///
/// ```c
/// size_t n;
/// sdpa_kv_cache_storage_len(&layer, 128, &n);
/// ```
///
/// # Safety
/// As `sdpa_layer_weights_len`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sdpa_kv_cache_storage_len(
    layer: *const SdpaLayer,
    capacity: usize,
    len: *mut usize,
) -> SdpaStatus {
    // SAFETY: this function's contract is `size_query`'s.
    status(unsafe { size_query(layer, &[capacity], len, |spec| spec.cache_len(capacity)) })
}

/// The layer over a sequence of `tokens` tokens: `x` and `out` are `tokens
/// x d_model` row-major. Projects Q, K, V per head, applies RoPE at
/// positions `0 .. tokens`, attends per head with `mask` (NULL:
/// bidirectional, no padding; see `SdpaLayerMask`) and the head's ALiBi
/// slope, merges the heads and projects out:
/// `out = concat(heads) . Wo^T + bo`.
///
/// `scratch` holds at least `sdpa_layer_scratch_len(layer, tokens)` floats
/// (`scratch_len`); it may be uninitialized and is overwritten. `out` and
/// `scratch` must not overlap each other, `x`, the weights, the padding
/// bytes or the structs. A token that sees no key gets a zero attention
/// output (its `out` row is then `bo`), and padded tokens' K and V are
/// never read. Nothing is allocated.
///
/// Returns `SDPA_STATUS_OK`, or (writing nothing) `NULL_POINTER`,
/// `MISALIGNED`, `INVALID_OPTION`, `ZERO_DIMENSION`, `UNSUPPORTED_SHAPE`,
/// `SIZE_OVERFLOW`, `BAD_LENGTH` (`weights_len` or `scratch_len`),
/// `ALIASING`, `INVALID_MASK` (a padding byte not 0 or 1).
///
/// ```c
/// static float scratch[SDPA_LAYER_SCRATCH_FLOATS(16, 64, 2, 16)];
/// float x[16 * 64], y[16 * 64];
/// SdpaLayerMask causal = { .flags = SDPA_FLAG_CAUSAL };
/// SdpaStatus s = sdpa_layer_forward(&layer, x, 16, &causal, y, scratch, sizeof scratch / sizeof scratch[0]);
/// ```
///
/// # Safety
/// `layer` (and `mask`, if not NULL) point to initialized structs whose
/// pointers are valid for the lengths they imply; `x` is valid for
/// `tokens * d_model` reads, `out` for as many writes, `scratch` for
/// `scratch_len` writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sdpa_layer_forward(
    layer: *const SdpaLayer,
    x: *const f32,
    tokens: usize,
    mask: *const SdpaLayerMask,
    out: *mut f32,
    scratch: *mut f32,
    scratch_len: usize,
) -> SdpaStatus {
    // SAFETY: this function's contract is `forward`'s.
    status(unsafe { forward(layer, x, tokens, mask, out, scratch, scratch_len) })
}

/// Checks everything, then runs `sdpa_layer_forward`.
///
/// # Safety
/// `sdpa_layer_forward`'s contract.
unsafe fn forward(
    layer: *const SdpaLayer,
    x: *const f32,
    tokens: usize,
    mask: *const SdpaLayerMask,
    out: *mut f32,
    scratch: *mut f32,
    scratch_len: usize,
) -> Result<(), SdpaStatus> {
    non_null(&[layer.cast(), x.cast(), out.cast_const().cast(), scratch.cast_const().cast()])?;
    // SAFETY: the caller's contract for both structs.
    let ((l, spec), m) = unsafe { (layer_spec(layer)?, read(mask)?) };
    let (causal, window, padding) = Sequence::settings(m.as_ref())?;
    non_null(&[l.weights.cast()])?;
    non_zero(&[tokens])?;
    let x_len = mul(tokens, spec.d)?;
    let (packed, needed) = (spec.packed_len()?, spec.forward_scratch_len(tokens)?);
    if l.weights_len != packed || scratch_len < needed {
        return Err(SdpaStatus::BadLength);
    }
    let inputs = [
        region(x, x_len)?,
        region(l.weights, packed)?,
        region(layer, 1)?,
        optional((!mask.is_null()).then_some((mask, 1)))?,
        optional(padding.map(|p| (p, tokens)))?,
    ];
    let outputs = [region(out.cast_const(), x_len)?, region(scratch.cast_const(), needed)?];
    check::disjoint(&outputs, &inputs)?;

    // SAFETY: the regions are checked; valid inputs by the caller's contract.
    let (x, weights) = unsafe { (input(x, x_len), input(l.weights, packed)) };
    let padding = match padding {
        // SAFETY: as above; `bools` checks every byte.
        Some(p) => Some(unsafe { bools(p, tokens) }?),
        None => None,
    };
    let layer = Layer::new(spec, weights)?;
    // Every check has passed: from here on the call writes.
    // SAFETY: checked regions, overlapping no input and each other.
    let (out, scratch) = unsafe { (output(out, x_len), output(scratch, needed)) };
    layer.forward(x, tokens, &Sequence { causal, window, padding }, scratch, out)
}

/// Sets up `cache` for `layer` over `storage` (at least
/// `sdpa_kv_cache_storage_len(layer, capacity)` floats, `storage_len`):
/// empty, next position 0, in `mode` (`SDPA_CACHE_MODE_FIXED` or
/// `SDPA_CACHE_MODE_SLIDING`). Zero-fills the storage, so it may start
/// uninitialized. The cache is then used by `sdpa_layer_decode` with any
/// layer of the same `kv_heads` and `head_dim`; its fields are read-only for
/// the caller.
///
/// Returns `SDPA_STATUS_OK`, or (writing nothing) `NULL_POINTER`,
/// `MISALIGNED`, `INVALID_OPTION` (also an unknown `mode`),
/// `ZERO_DIMENSION`, `UNSUPPORTED_SHAPE`, `SIZE_OVERFLOW`, `BAD_LENGTH`
/// (`storage_len`), `ALIASING`.
///
/// ```c
/// static float storage[SDPA_KV_CACHE_FLOATS(2, 128, 16)];
/// static SdpaKvCache cache;
/// SdpaStatus s = sdpa_kv_cache_init(&cache, &layer, storage, sizeof storage / sizeof storage[0],
///                                   128, SDPA_CACHE_MODE_SLIDING);
/// ```
///
/// # Safety
/// `layer` points to an initialized `SdpaLayer`, `cache` is valid for one
/// `SdpaKvCache` write, `storage` for `storage_len` float writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sdpa_kv_cache_init(
    cache: *mut SdpaKvCache,
    layer: *const SdpaLayer,
    storage: *mut f32,
    storage_len: usize,
    capacity: usize,
    mode: u32,
) -> SdpaStatus {
    status((|| {
        non_null(&[cache.cast_const().cast(), layer.cast(), storage.cast_const().cast()])?;
        // SAFETY: the caller's contract.
        let (_, spec) = unsafe { layer_spec(layer) }?;
        if Cache::consistent(1, 0, 0, mode).is_none() {
            return Err(SdpaStatus::InvalidOption);
        }
        non_zero(&[capacity])?;
        let (half, total) = (spec.cache_half_len(capacity)?, spec.cache_len(capacity)?);
        if storage_len < total {
            return Err(SdpaStatus::BadLength);
        }
        let outputs = [region(storage.cast_const(), total)?, region(cache.cast_const(), 1)?];
        check::disjoint(&outputs, &[region(layer, 1)?])?;
        // SAFETY: the storage region is checked and valid for `total` writes
        // (the caller's contract); zero-filling through the raw pointer
        // makes it initialized floats for later decode steps.
        unsafe { storage.write_bytes(0, total) };
        let values = storage.wrapping_add(half); // inside the checked storage region
        let fresh = SdpaKvCache {
            keys: storage,
            values,
            capacity,
            kv_heads: spec.kvh,
            head_dim: spec.hd,
            len: 0,
            next_position: 0,
            mode,
        };
        // SAFETY: `cache` is non-NULL, aligned (`region`), valid for one
        // write (the caller's contract) and overlaps neither the storage
        // nor the layer (checked above).
        unsafe { cache.write(fresh) };
        Ok(())
    })())
}

/// Forgets every token of `cache` (the next one gets position 0), keeping
/// its storage and mode. The stored values are not erased; they are never
/// read again.
///
/// Returns `SDPA_STATUS_OK`, or (writing nothing) `NULL_POINTER`, `MISALIGNED`.
///
/// ```c
/// sdpa_kv_cache_clear(&cache); // a new conversation
/// ```
///
/// # Safety
/// `cache` points to an initialized `SdpaKvCache`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sdpa_kv_cache_clear(cache: *mut SdpaKvCache) -> SdpaStatus {
    status((|| {
        // SAFETY: the caller's contract.
        let c = unsafe { read(cache.cast_const()) }?.ok_or(SdpaStatus::NullPointer)?;
        // SAFETY: non-NULL and aligned (read above), valid for writes.
        unsafe { cache.write(SdpaKvCache { len: 0, next_position: 0, ..c }) };
        Ok(())
    })())
}

/// One decode step: the token `x` (`d_model` floats) at position
/// `cache->next_position` is projected, its K (after RoPE) and V are
/// appended to `cache`, its query attends to every cached token (causal by
/// construction; the last `capacity` tokens in sliding mode) and the layer
/// output is written to `out` (`d_model` floats). `*position` (if not
/// NULL) gets the token's position.
///
/// Gives the row `sdpa_layer_forward` with a causal mask gives for that
/// position (with a window of `capacity` for a sliding cache): bit for bit
/// while the cache has not wrapped, up to summation order after.
///
/// `scratch` holds at least `sdpa_decode_scratch_len(layer,
/// cache->capacity)` floats (`scratch_len`). `out`, `scratch`, the cache's
/// storage and struct, and `position` must not overlap each other, `x`,
/// the weights or the layer struct.
///
/// Returns `SDPA_STATUS_OK`, or (writing nothing, the cache unchanged)
/// `NULL_POINTER`, `MISALIGNED`, `INVALID_OPTION`, `ZERO_DIMENSION`,
/// `UNSUPPORTED_SHAPE`, `SIZE_OVERFLOW`, `BAD_LENGTH`, `ALIASING`,
/// `CACHE_INVALID`, `CACHE_FULL` (a fixed cache holding `capacity` tokens).
///
/// ```c
/// for (size_t t = 0; t < n_tokens; t++) {
///     size_t pos;
///     SdpaStatus s = sdpa_layer_decode(&layer, x + t * 64, y, &cache, scratch, scratch_len, &pos);
///     if (s == SDPA_STATUS_CACHE_FULL) break;
/// }
/// ```
///
/// # Safety
/// `layer` points to an initialized `SdpaLayer` whose weights are valid for
/// `weights_len` reads; `cache` to an `SdpaKvCache` set up by
/// `sdpa_kv_cache_init` whose storage is still valid; `x` is valid for
/// `d_model` reads, `out` for `d_model` writes, `scratch` for `scratch_len`
/// writes, a non-NULL `position` for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sdpa_layer_decode(
    layer: *const SdpaLayer,
    x: *const f32,
    out: *mut f32,
    cache: *mut SdpaKvCache,
    scratch: *mut f32,
    scratch_len: usize,
    position: *mut usize,
) -> SdpaStatus {
    // SAFETY: this function's contract is `decode`'s.
    status(unsafe { decode(layer, x, out, cache, scratch, scratch_len, position) })
}

/// Checks everything, then runs `sdpa_layer_decode`.
///
/// # Safety
/// `sdpa_layer_decode`'s contract.
unsafe fn decode(
    layer: *const SdpaLayer,
    x: *const f32,
    out: *mut f32,
    cache: *mut SdpaKvCache,
    scratch: *mut f32,
    scratch_len: usize,
    position: *mut usize,
) -> Result<(), SdpaStatus> {
    let pointers =
        [layer.cast(), x.cast(), out.cast_const().cast(), cache.cast_const().cast(), scratch.cast_const().cast()];
    non_null(&pointers)?;
    // SAFETY: the caller's contract for both structs.
    let ((l, spec), c) = unsafe { (layer_spec(layer)?, read(cache.cast_const())?) };
    let c = c.ok_or(SdpaStatus::NullPointer)?;
    non_null(&[l.weights.cast()])?;
    let same_heads = c.kv_heads == spec.kvh && c.head_dim == spec.hd && c.capacity > 0;
    let mode = Cache::consistent(c.capacity, c.len, c.next_position, c.mode);
    let (true, Some(mode), false, false) = (same_heads, mode, c.keys.is_null(), c.values.is_null()) else {
        return Err(SdpaStatus::CacheInvalid);
    };
    let half = spec.cache_half_len(c.capacity)?;
    let (packed, needed) = (spec.packed_len()?, spec.decode_scratch_len(c.capacity)?);
    if l.weights_len != packed || scratch_len < needed {
        return Err(SdpaStatus::BadLength);
    }
    let inputs = [region(x, spec.d)?, region(l.weights, packed)?, region(layer, 1)?];
    let outputs = [
        region(out.cast_const(), spec.d)?,
        region(scratch.cast_const(), needed)?,
        region(c.keys.cast_const(), half)?,
        region(c.values.cast_const(), half)?,
        region(cache.cast_const(), 1)?,
        optional((!position.is_null()).then_some((position.cast_const(), 1)))?,
    ];
    check::disjoint(&outputs, &inputs)?;
    if c.mode == SdpaCacheMode::Fixed as u32 && c.len >= c.capacity {
        return Err(SdpaStatus::CacheFull);
    }

    // SAFETY: the regions are checked; valid inputs by the caller's contract.
    let (x, weights) = unsafe { (input(x, spec.d), input(l.weights, packed)) };
    let layer = Layer::new(spec, weights)?;
    // Every check has passed: from here on the call writes.
    // SAFETY: the cache's storage regions are checked, overlap nothing else,
    // and hold initialized floats (zero-filled by `sdpa_kv_cache_init`,
    // then written by decode steps).
    let (keys, values) = unsafe { (in_place(c.keys, half), in_place(c.values, half)) };
    let mut view = Cache { keys, values, capacity: c.capacity, len: c.len, next_position: c.next_position, mode };
    // SAFETY: checked regions, overlapping no input and each other.
    let (out, scratch) = unsafe { (output(out, spec.d), output(scratch, needed)) };
    let p = layer.decode(x, out, &mut view, scratch)?;
    let updated = SdpaKvCache { len: view.len, next_position: view.next_position, ..c };
    // SAFETY: `cache` is non-NULL, aligned and valid for writes, and no
    // slice alive now overlaps it (checked above).
    unsafe { cache.write(updated) };
    if !position.is_null() {
        // SAFETY: non-NULL, aligned (`region`), valid for one write, and
        // overlapping nothing else.
        unsafe { position.write(p) };
    }
    Ok(())
}
