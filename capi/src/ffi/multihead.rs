//! `sdpa_multihead_attention` and `sdpa_multihead_attention_kv16`.

use super::{bools, in_place, input, non_null, optional, read, region};
use crate::check::{self, mul, non_zero};
use crate::convert::{self, Cover};
use crate::status::status;
use crate::{
    SdpaHeadOptions, SdpaHeadShape, SdpaKvType, SdpaStatus, SdpaStrides, SdpaTensor, SdpaTensor16, SdpaTensorMut,
};
use sdpa::multihead::{Broadcast, runtime as mh};
use sdpa::{Bf16, F16, KvElement};

/// Multi-head attention over strided tensors, PyTorch's
/// `scaled_dot_product_attention` with `enable_gqa`: for every batch entry
/// `b` and query head `h`, `out[b][h] = attention(q[b][h], k[b][g],
/// v[b][g])` with kv head `g = h / (q_heads / kv_heads)`. Each tensor is a
/// buffer and the strides of its view, so [batch][heads][tokens][dim]
/// (PyTorch), [batch][tokens][heads][dim] (a projection's output), Q, K and
/// V inside one fused QKV buffer, and padded layouts are all read and
/// written in place. Each head gives the same bits as `sdpa_attention` on
/// its rows.
///
/// `options` may be NULL (scale `1/sqrt(head_dim)`, nothing masked); its
/// `base` is applied to every head, its mask and bias hold one block per
/// `mask_broadcast` / `bias_broadcast` (`queries x keys` or `keys` entries
/// each), and `alibi_slopes` (with `SDPA_FLAG_ALIBI`) gives each query head
/// its own slope. Only the output view's rows are written: the rest of
/// `out`'s buffer (padding) is left as it is, so it must be initialized.
///
/// Returns `SDPA_STATUS_OK`, or (writing nothing) `NULL_POINTER`,
/// `INVALID_OPTION`, `ZERO_DIMENSION`, `UNSUPPORTED_SHAPE` (`kv_heads` does
/// not divide `q_heads`), `SIZE_OVERFLOW`, `MISALIGNED`, `ALIASING` (the
/// output buffer overlaps an input buffer), `INVALID_MASK`, `BAD_STRIDE`,
/// `OUT_OF_BOUNDS`, `OUTPUT_OVERLAP`.
///
/// ```c
/// // GQA self-attention on a fused projection [tokens 16][q 8 + k 2 + v 2 heads][dim 64].
/// enum { T = 16, H = 8, KVH = 2, D = 64, W = (H + 2 * KVH) * D };
/// static float qkv[T * W], out[T * H * D];                    // out: [tokens][heads][dim]
/// SdpaHeadShape shape = { 1, H, KVH, T, T, D, D };
/// SdpaStrides fused = { .head = D, .token = W, .dim = 1 };
/// SdpaTensor q = { qkv, T * W, fused }, k = { qkv + H * D, T * W - H * D, fused },
///            v = { qkv + (H + KVH) * D, T * W - (H + KVH) * D, fused };
/// SdpaTensorMut o = { out, T * H * D, { .head = D, .token = H * D, .dim = 1 } };
/// SdpaHeadOptions causal = { .base = { .flags = SDPA_FLAG_CAUSAL } };
/// SdpaStatus s = sdpa_multihead_attention(shape, q, k, v, o, &causal);
/// ```
///
/// # Safety
/// Each tensor's `data` is valid for `len` floats (reads; `out`: reads and
/// writes, initialized), `options`'s mask, bias and slopes for the entries
/// the shape implies, and no other thread writes them during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sdpa_multihead_attention(
    shape: SdpaHeadShape,
    q: SdpaTensor,
    k: SdpaTensor,
    v: SdpaTensor,
    out: SdpaTensorMut,
    options: *const SdpaHeadOptions,
) -> SdpaStatus {
    // SAFETY: this function's contract is `attend`'s.
    status(unsafe { attend(shape, q, Tensor::f32(k), Tensor::f32(v), out, options) })
}

/// `sdpa_multihead_attention` with K and V stored in 16 bits, binary16 or
/// bfloat16 as `kv_type` says (an `SdpaKvType` value; any other is
/// `INVALID_OPTION`): half the bytes of a `float` KV cache. Each value is
/// widened to `float` exactly; the result is that of the `float` call on
/// the widened values, within its error bound (16-bit K/V run on the
/// per-row engine, whose bits it gives there). The statuses are those of
/// `sdpa_multihead_attention`, with lengths, strides and alignment of K and
/// V counted in 16-bit elements.
///
/// ```c
/// // One decode step of 8 query heads on a binary16 cache of 2 kv heads, [kv head][token][dim 64].
/// SdpaHeadShape shape = { 1, 8, 2, 1, len, 64, 64 };
/// SdpaTensor q = { q_row, 8 * 64, { .head = 64, .token = 8 * 64, .dim = 1 } };
/// SdpaTensor16 k = { k_cache, 2 * CAP * 64, { .head = CAP * 64, .token = 64, .dim = 1 } },
///              v = { v_cache, 2 * CAP * 64, { .head = CAP * 64, .token = 64, .dim = 1 } };
/// SdpaTensorMut o = { out, 8 * 64, { .head = 64, .token = 8 * 64, .dim = 1 } };
/// SdpaStatus s = sdpa_multihead_attention_kv16(shape, q, k, v, SDPA_KV_TYPE_F16, o, NULL);
/// ```
///
/// # Safety
/// As `sdpa_multihead_attention`, with `k` and `v` valid for `len` 16-bit
/// elements each.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sdpa_multihead_attention_kv16(
    shape: SdpaHeadShape,
    q: SdpaTensor,
    k: SdpaTensor16,
    v: SdpaTensor16,
    kv_type: u32,
    out: SdpaTensorMut,
    options: *const SdpaHeadOptions,
) -> SdpaStatus {
    status(match kv_type {
        // SAFETY: this function's contract is `attend`'s.
        t if t == SdpaKvType::F16 as u32 => unsafe {
            attend(shape, q, Tensor::<F16>::half(k), Tensor::half(v), out, options)
        },
        // SAFETY: as above.
        t if t == SdpaKvType::Bf16 as u32 => unsafe {
            attend(shape, q, Tensor::<Bf16>::half(k), Tensor::half(v), out, options)
        },
        _ => Err(SdpaStatus::InvalidOption),
    })
}

/// An input tensor of element type `E`: its buffer and the view's strides.
#[derive(Clone, Copy)]
struct Tensor<E> {
    data: *const E,
    len: usize,
    strides: SdpaStrides,
}

impl Tensor<f32> {
    /// The `float` tensor.
    fn f32(t: SdpaTensor) -> Self {
        Tensor { data: t.data, len: t.len, strides: t.strides }
    }
}

impl<E: KvElement> Tensor<E> {
    /// The 16-bit tensor read as `E` ([`F16`] or [`Bf16`]: each a
    /// `#[repr(transparent)]` `u16`, so every bit pattern is a valid value
    /// and the pointer's size and alignment are a `u16`'s).
    fn half(t: SdpaTensor16) -> Self {
        const { assert!(size_of::<E>() == 2 && align_of::<E>() == 2) };
        Tensor { data: t.data.cast(), len: t.len, strides: t.strides }
    }
}

/// Checks everything the pointers need, then runs the call (whose own
/// checks cover the strides, bounds and overlap of the views).
///
/// # Safety
/// The module's contract for the tensors and `options`.
unsafe fn attend<E: KvElement>(
    shape: SdpaHeadShape,
    q: SdpaTensor,
    k: Tensor<E>,
    v: Tensor<E>,
    out: SdpaTensorMut,
    options: *const SdpaHeadOptions,
) -> Result<(), SdpaStatus> {
    non_null(&[q.data.cast(), k.data.cast(), v.data.cast(), out.data.cast_const().cast()])?;
    // SAFETY: a non-NULL `options` points to an initialized `SdpaHeadOptions`.
    let o = unsafe { read(options) }?;
    let checked = convert::options(o.as_ref().map(|o| &o.base))?;
    let (mask_spread, bias_spread) = match o {
        Some(o) => (convert::broadcast(o.mask_broadcast)?, convert::broadcast(o.bias_broadcast)?),
        None => (Broadcast::Shared, Broadcast::Shared),
    };
    let (mask_ptr, bias_ptr, slopes_ptr) = match o {
        Some(o) => (o.base.mask, o.base.bias, o.alibi_slopes),
        None => (core::ptr::null(), core::ptr::null(), core::ptr::null()),
    };
    let SdpaHeadShape { batch, q_heads, kv_heads, queries, keys, head_dim, value_dim } = shape;
    non_zero(&[batch, q_heads, kv_heads, queries, keys, head_dim, value_dim])?;
    if !q_heads.is_multiple_of(kv_heads) {
        return Err(SdpaStatus::UnsupportedShape);
    }
    let entries = |cover: Cover, spread: Broadcast| {
        let block = match cover {
            Cover::PerQuery => mul(queries, keys)?,
            Cover::PerKey => keys,
        };
        mul(block, spread.blocks(batch, q_heads))
    };
    let mask = match checked.mask {
        Some(c) => Some((c, entries(c, mask_spread)?)),
        None => None,
    };
    let bias = match checked.bias {
        Some(c) => Some((c, entries(c, bias_spread)?)),
        None => None,
    };
    // `SDPA_FLAG_ALIBI` set: the settings carry a slope (convert::options).
    let per_head = checked.settings.alibi_slope.is_some() && !slopes_ptr.is_null();
    let slopes = per_head.then_some((slopes_ptr, q_heads));
    let inputs = [
        region(q.data, q.len)?,
        region(k.data, k.len)?,
        region(v.data, v.len)?,
        optional(mask.map(|(_, len)| (mask_ptr, len)))?,
        optional(bias.map(|(_, len)| (bias_ptr, len)))?,
        optional(slopes)?,
        optional((!options.is_null()).then_some((options, 1)))?,
    ];
    check::disjoint(&[region(out.data, out.len)?], &inputs)?;

    // SAFETY: every region above is a valid buffer shape (non-NULL, aligned,
    // no overflow) and the caller's contract makes the memory valid inputs.
    let (qs, ks, vs) = unsafe { (input(q.data, q.len), input(k.data, k.len), input(v.data, v.len)) };
    let mask = match mask {
        // SAFETY: as above for the mask's region; `bools` checks every byte.
        Some((cover, len)) => Some((cover, mask_spread, unsafe { bools(mask_ptr, len) }?)),
        None => None,
    };
    // SAFETY: as above for the bias's and the slopes' regions.
    let bias = bias.map(|(cover, len)| (cover, bias_spread, unsafe { input(bias_ptr, len) }));
    // SAFETY: as above.
    let slopes = slopes.map(|(p, len)| unsafe { input(p, len) });
    let opts = convert::head_options(checked.settings, mask, bias, slopes);
    let shape = mh::Shape { batch, q_heads, kv_heads, queries, keys, head_dim, value_dim };
    // SAFETY: `out`'s region was checked above and overlaps no input
    // (`disjoint`), so this `&mut` is unique; its floats are initialized
    // (the caller's contract: padding between its rows is kept, not zeroed).
    let outs = unsafe { in_place(out.data, out.len) };
    let result = mh::attention(
        shape,
        mh::View::new(qs, convert::strides(q.strides)),
        mh::View::new(ks, convert::strides(k.strides)),
        mh::View::new(vs, convert::strides(v.strides)),
        mh::ViewMut::new(outs, convert::strides(out.strides)),
        &opts,
    );
    result.map_err(SdpaStatus::from)
}
