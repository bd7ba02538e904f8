//! The self-attention layer: sizes, forward, KV cache, decode step.
//!
//! Every dimension is a runtime value (`SdpaLayer`), so one library serves
//! any model; see the crate's `layer` module for why this is not the const-generic
//! `sdpa::layer::SelfAttention` and how it is kept equal to it.

use super::{bools, in_place, input, non_null, optional, output, read, region};
use crate::check::{self, mul, non_zero};
use crate::layer::{Cache, Layer, Sequence, Spec, cache_mode};
use crate::status::status;
use crate::{SdpaCacheMode, SdpaKvCache, SdpaKvCache16, SdpaKvType, SdpaLayer, SdpaLayerMask, SdpaStatus};
use sdpa::{Bf16, F16, KvElement};

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

/// `*len` = the elements of a KV cache's storage for `capacity` tokens:
/// `2*kv_heads*capacity*head_dim` (`SDPA_KV_CACHE_FLOATS`), floats for an
/// `SdpaKvCache`, 16-bit values for an `SdpaKvCache16`.
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
    status((|| {
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
    })())
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
    let fresh = |f: Fields<f32>| {
        let Fields { keys, values, capacity, kv_heads, head_dim, len, next_position, mode } = f;
        SdpaKvCache { keys, values, capacity, kv_heads, head_dim, len, next_position, mode }
    };
    // SAFETY: this function's contract is `init`'s.
    status(unsafe { init(cache, layer, storage, storage_len, (capacity, mode), fresh) })
}

/// `sdpa_kv_cache_init` for a cache whose K and V are stored in 16 bits,
/// binary16 or bfloat16 as `kv_type` says (an `SdpaKvType` value; any other
/// is `INVALID_OPTION`). `storage` holds at least
/// `sdpa_kv_cache_storage_len(layer, capacity)` 16-bit elements. Returns as
/// `sdpa_kv_cache_init`.
///
/// ```c
/// static uint16_t storage[SDPA_KV_CACHE_FLOATS(2, 128, 16)];
/// static SdpaKvCache16 cache;
/// SdpaStatus s = sdpa_kv_cache16_init(&cache, &layer, storage, sizeof storage / sizeof storage[0],
///                                     128, SDPA_CACHE_MODE_SLIDING, SDPA_KV_TYPE_BF16);
/// ```
///
/// # Safety
/// As `sdpa_kv_cache_init`, with `storage` valid for `storage_len` 16-bit
/// writes and `cache` for one `SdpaKvCache16` write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sdpa_kv_cache16_init(
    cache: *mut SdpaKvCache16,
    layer: *const SdpaLayer,
    storage: *mut u16,
    storage_len: usize,
    capacity: usize,
    mode: u32,
    kv_type: u32,
) -> SdpaStatus {
    if kv_element(kv_type).is_none() {
        return SdpaStatus::InvalidOption;
    }
    let fresh = |f: Fields<u16>| {
        let Fields { keys, values, capacity, kv_heads, head_dim, len, next_position, mode } = f;
        SdpaKvCache16 { keys, values, capacity, kv_heads, head_dim, len, next_position, mode, kv_type }
    };
    // SAFETY: this function's contract is `init`'s.
    status(unsafe { init(cache, layer, storage, storage_len, (capacity, mode), fresh) })
}

/// The fields the two cache structs share, K and V stored as `T`.
#[derive(Clone, Copy)]
struct Fields<T> {
    keys: *mut T,
    values: *mut T,
    capacity: usize,
    kv_heads: usize,
    head_dim: usize,
    len: usize,
    next_position: usize,
    mode: u32,
}

/// The storage types of `SdpaKvType`.
#[derive(Clone, Copy)]
enum Kv16 {
    F16,
    Bf16,
}

/// The storage type `kv_type` names, if any.
fn kv_element(kv_type: u32) -> Option<Kv16> {
    match kv_type {
        t if t == SdpaKvType::F16 as u32 => Some(Kv16::F16),
        t if t == SdpaKvType::Bf16 as u32 => Some(Kv16::Bf16),
        _ => None,
    }
}

/// Checks, zero-fills `storage` and writes the empty cache `fresh(fields)`
/// to `cache`: `sdpa_kv_cache_init` for storage of `T`.
///
/// # Safety
/// `sdpa_kv_cache_init`'s contract, with `storage` of `T` and `cache` of `C`.
unsafe fn init<T, C>(
    cache: *mut C,
    layer: *const SdpaLayer,
    storage: *mut T,
    storage_len: usize,
    (capacity, mode): (usize, u32),
    fresh: impl FnOnce(Fields<T>) -> C,
) -> Result<(), SdpaStatus> {
    non_null(&[cache.cast_const().cast(), layer.cast(), storage.cast_const().cast()])?;
    // SAFETY: the caller's contract.
    let (_, spec) = unsafe { layer_spec(layer) }?;
    if cache_mode(1, 0, 0, mode).is_none() {
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
    // (the caller's contract); zero-filling through the raw pointer makes it
    // initialized values (+0 in every storage type) for later decode steps.
    unsafe { storage.write_bytes(0, total) };
    let values = storage.wrapping_add(half); // inside the checked storage region
    let (kv_heads, head_dim) = (spec.kvh, spec.hd);
    let fields = Fields { keys: storage, values, capacity, kv_heads, head_dim, len: 0, next_position: 0, mode };
    // SAFETY: `cache` is non-NULL, aligned (`region`), valid for one write
    // (the caller's contract) and overlaps neither the storage nor the
    // layer (checked above).
    unsafe { cache.write(fresh(fields)) };
    Ok(())
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
    // SAFETY: the caller's contract.
    status(unsafe { clear(cache) })
}

/// `sdpa_kv_cache_clear` for an `SdpaKvCache16`.
///
/// ```c
/// sdpa_kv_cache16_clear(&cache);
/// ```
///
/// # Safety
/// `cache` points to an initialized `SdpaKvCache16`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sdpa_kv_cache16_clear(cache: *mut SdpaKvCache16) -> SdpaStatus {
    // SAFETY: the caller's contract.
    status(unsafe { clear(cache) })
}

/// Empties the cache struct at `cache`.
///
/// # Safety
/// A non-NULL `cache` points to an initialized `C`.
unsafe fn clear<C: CacheStruct>(cache: *mut C) -> Result<(), SdpaStatus> {
    // SAFETY: the caller's contract.
    let c = unsafe { read(cache.cast_const()) }?.ok_or(SdpaStatus::NullPointer)?;
    // SAFETY: non-NULL and aligned (read above), valid for writes.
    unsafe { cache.write(c.advanced(0, 0)) };
    Ok(())
}

/// The two cache structs, as `decode` and `clear` use them.
trait CacheStruct: Copy {
    /// Its storage and state, `None` for an unknown storage type.
    fn storage(&self) -> Option<Storage>;
    /// The struct with `len` and `next_position` replaced.
    fn advanced(self, len: usize, next_position: usize) -> Self;
}

/// A cache's fields with its storage type.
enum Storage {
    F32(Fields<f32>),
    F16(Fields<F16>),
    Bf16(Fields<Bf16>),
}

impl CacheStruct for SdpaKvCache {
    fn storage(&self) -> Option<Storage> {
        let SdpaKvCache { keys, values, capacity, kv_heads, head_dim, len, next_position, mode } = *self;
        Some(Storage::F32(Fields { keys, values, capacity, kv_heads, head_dim, len, next_position, mode }))
    }
    fn advanced(self, len: usize, next_position: usize) -> Self {
        SdpaKvCache { len, next_position, ..self }
    }
}

impl CacheStruct for SdpaKvCache16 {
    fn storage(&self) -> Option<Storage> {
        let SdpaKvCache16 { keys, values, capacity, kv_heads, head_dim, len, next_position, mode, kv_type } = *self;
        let fields = Fields { keys, values, capacity, kv_heads, head_dim, len, next_position, mode };
        // F16 and Bf16 are `#[repr(transparent)]` u16s: the same pointers.
        Some(match kv_element(kv_type)? {
            Kv16::F16 => Storage::F16(fields.cast()),
            Kv16::Bf16 => Storage::Bf16(fields.cast()),
        })
    }
    fn advanced(self, len: usize, next_position: usize) -> Self {
        SdpaKvCache16 { len, next_position, ..self }
    }
}

impl Fields<u16> {
    /// The same storage read as `E`, a 16-bit element.
    fn cast<E>(self) -> Fields<E> {
        let Fields { keys, values, capacity, kv_heads, head_dim, len, next_position, mode } = self;
        Fields { keys: keys.cast(), values: values.cast(), capacity, kv_heads, head_dim, len, next_position, mode }
    }
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

/// `sdpa_layer_decode` on a cache whose K and V are stored in 16 bits
/// (`SdpaKvCache16`, set up by `sdpa_kv_cache16_init`): the new token's K
/// (after RoPE) and V are rounded to the storage type as they are stored;
/// the attention widens each cached value to `float` exactly. Compared with
/// the `float` cache the output differs by the storage rounding only (the
/// error bound of 16-bit K/V); the bytes read per step are halved.
/// Returns as `sdpa_layer_decode` (`CACHE_INVALID` also for an unknown
/// `kv_type`).
///
/// ```c
/// SdpaStatus s = sdpa_layer_decode_kv16(&layer, x, y, &cache16, scratch, scratch_len, NULL);
/// ```
///
/// # Safety
/// As `sdpa_layer_decode`, with `cache` an `SdpaKvCache16` set up by
/// `sdpa_kv_cache16_init` whose storage is still valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sdpa_layer_decode_kv16(
    layer: *const SdpaLayer,
    x: *const f32,
    out: *mut f32,
    cache: *mut SdpaKvCache16,
    scratch: *mut f32,
    scratch_len: usize,
    position: *mut usize,
) -> SdpaStatus {
    // SAFETY: this function's contract is `decode`'s.
    status(unsafe { decode(layer, x, out, cache, scratch, scratch_len, position) })
}

/// Checks everything, then runs `sdpa_layer_decode` on the cache struct
/// `cache` (either kind).
///
/// # Safety
/// `sdpa_layer_decode`'s contract, with `cache` of `C`.
unsafe fn decode<C: CacheStruct>(
    layer: *const SdpaLayer,
    x: *const f32,
    out: *mut f32,
    cache: *mut C,
    scratch: *mut f32,
    scratch_len: usize,
    position: *mut usize,
) -> Result<(), SdpaStatus> {
    let pointers =
        [layer.cast(), x.cast(), out.cast_const().cast(), cache.cast_const().cast(), scratch.cast_const().cast()];
    non_null(&pointers)?;
    // SAFETY: the caller's contract for both structs.
    let (layer_and_spec, c) = unsafe { (layer_spec(layer)?, read(cache.cast_const())?) };
    let c = c.ok_or(SdpaStatus::NullPointer)?;
    let step = Step { layer, layer_and_spec, x, out, cache: cache.cast_const().cast(), scratch, scratch_len, position };
    // SAFETY: the caller's contract, for the storage the struct describes.
    let (len, next_position, p) = unsafe {
        match c.storage().ok_or(SdpaStatus::CacheInvalid)? {
            Storage::F32(f) => step.run(f),
            Storage::F16(f) => step.run(f),
            Storage::Bf16(f) => step.run(f),
        }
    }?;
    // SAFETY: `cache` is non-NULL, aligned and valid for writes, and no
    // slice alive now overlaps it (checked by `run`).
    unsafe { cache.write(c.advanced(len, next_position)) };
    if !position.is_null() {
        // SAFETY: non-NULL, aligned (`region`), valid for one write, and
        // overlapping nothing else (checked by `run`).
        unsafe { position.write(p) };
    }
    Ok(())
}

/// The arguments of one decode step, the layer struct read and checked.
struct Step {
    layer: *const SdpaLayer,
    layer_and_spec: (SdpaLayer, Spec),
    x: *const f32,
    out: *mut f32,
    /// The cache struct (for the overlap checks).
    cache: *const u8,
    scratch: *mut f32,
    scratch_len: usize,
    position: *mut usize,
}

impl Step {
    /// Checks the cache `c` and every buffer against the layer, then runs
    /// the step; returns the cache's new `len` and `next_position` and the
    /// token's position.
    ///
    /// # Safety
    /// `sdpa_layer_decode`'s contract, with the cache's storage of `E`.
    unsafe fn run<E: KvElement>(self, c: Fields<E>) -> Result<(usize, usize, usize), SdpaStatus> {
        let Step { layer, layer_and_spec: (l, spec), x, out, cache, scratch, scratch_len, position } = self;
        non_null(&[l.weights.cast()])?;
        let same_heads = c.kv_heads == spec.kvh && c.head_dim == spec.hd && c.capacity > 0;
        let mode = cache_mode(c.capacity, c.len, c.next_position, c.mode);
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
            region(cache, 1)?,
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
        // SAFETY: the cache's storage regions are checked, overlap nothing
        // else, and hold initialized values (zero-filled by the init, then
        // written by decode steps).
        let (keys, values) = unsafe { (in_place(c.keys, half), in_place(c.values, half)) };
        let mut view = Cache { keys, values, capacity: c.capacity, len: c.len, next_position: c.next_position, mode };
        // SAFETY: checked regions, overlapping no input and each other.
        let (out, scratch) = unsafe { (output(out, spec.d), output(scratch, needed)) };
        let p = layer.decode(x, out, &mut view, scratch)?;
        Ok((view.len, view.next_position, p))
    }
}
