//! `sdpa_multihead_attention`.

use super::{bools, in_place, input, non_null, optional, read, region};
use crate::check::{self, mul, non_zero};
use crate::convert::{self, Cover};
use crate::status::status;
use crate::{SdpaHeadOptions, SdpaHeadShape, SdpaStatus, SdpaTensor, SdpaTensorMut};
use sdpa::multihead::{Broadcast, runtime as mh};

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
    status(unsafe { attend(shape, q, k, v, out, options) })
}

/// Checks everything the pointers need, then runs the call (whose own
/// checks cover the strides, bounds and overlap of the views).
///
/// # Safety
/// The module's contract for the tensors and `options`.
unsafe fn attend(
    shape: SdpaHeadShape,
    q: SdpaTensor,
    k: SdpaTensor,
    v: SdpaTensor,
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
