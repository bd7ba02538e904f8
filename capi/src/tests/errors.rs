//! Every refusal: the status it returns, and that nothing was written.
//! Under Miri these also show that no refused call touches memory it may
//! not (the bad pointers here point nowhere valid, or at too little).

use super::layer::{c_layer, vectors};
use super::{shape, values, zero_options};
use crate::ffi::attention::{sdpa_attention, sdpa_attention_rows, sdpa_attention_weights};
use crate::ffi::kernels::{sdpa_dot, sdpa_dot_rows, sdpa_softmax};
use crate::ffi::layer::{
    sdpa_decode_scratch_len, sdpa_kv_cache_clear, sdpa_kv_cache_init, sdpa_kv_cache_storage_len, sdpa_layer_decode,
    sdpa_layer_forward, sdpa_layer_scratch_len, sdpa_layer_weights_len,
};
use crate::{
    SDPA_FLAG_BOTTOM_RIGHT, SDPA_FLAG_CAUSAL, SdpaCacheMode, SdpaKvCache, SdpaLayer, SdpaLayerMask, SdpaMask,
    SdpaOptions, SdpaPositions, SdpaShape, SdpaStatus,
};
use core::ptr;
use std::vec;
use std::vec::Vec;

const SENTINEL: f32 = -12345.0;

/// Q, K, V of the 3 × 5, D 4, DV 6 toy, and a mask and bias of every cover.
struct Toy {
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    mask: Vec<u8>,
    bias: Vec<f32>,
}

fn toy() -> Toy {
    Toy { q: values(12, 1), k: values(20, 2), v: values(30, 3), mask: vec![1; 15], bias: values(15, 4) }
}

const TOY: SdpaShape = SdpaShape { queries: 3, keys: 5, head_dim: 4, value_dim: 6 };

/// `sdpa_attention` into a sentinel-filled output; the status and whether
/// the output is untouched.
fn attend(s: SdpaShape, t: &Toy, o: Option<&SdpaOptions>) -> SdpaStatus {
    let mut out = [SENTINEL; 64];
    let o = o.map_or(ptr::null(), |o| o as *const _);
    let status = unsafe { sdpa_attention(s, t.q.as_ptr(), t.k.as_ptr(), t.v.as_ptr(), out.as_mut_ptr(), o) };
    if status != SdpaStatus::Ok {
        assert!(out.iter().all(|&x| x == SENTINEL), "{status:?} wrote to the output");
    }
    status
}

#[test]
fn attention_refuses_null_pointers() {
    let t = toy();
    let mut out = [SENTINEL; 18];
    let mut w = [SENTINEL; 15];
    let (q, k, v, o) = (t.q.as_ptr(), t.k.as_ptr(), t.v.as_ptr(), out.as_mut_ptr());
    let null = ptr::null::<f32>();
    for (q, k, v) in [(null, k, v), (q, null, v), (q, k, null)] {
        assert_eq!(unsafe { sdpa_attention(TOY, q, k, v, o, ptr::null()) }, SdpaStatus::NullPointer);
    }
    assert_eq!(unsafe { sdpa_attention(TOY, q, k, v, ptr::null_mut(), ptr::null()) }, SdpaStatus::NullPointer);
    let w_null = unsafe { sdpa_attention_weights(TOY, q, k, v, o, ptr::null_mut(), ptr::null()) };
    assert_eq!(w_null, SdpaStatus::NullPointer);
    let out_null = unsafe { sdpa_attention_weights(TOY, q, k, v, ptr::null_mut(), w.as_mut_ptr(), ptr::null()) };
    assert_eq!(out_null, SdpaStatus::NullPointer);
    // A mask or bias kind without its pointer.
    let no_mask = SdpaOptions { mask_kind: SdpaMask::PerKey as u32, ..zero_options() };
    assert_eq!(attend(TOY, &t, Some(&no_mask)), SdpaStatus::NullPointer);
    let no_bias = SdpaOptions { bias_kind: SdpaMask::PerQuery as u32, ..zero_options() };
    assert_eq!(attend(TOY, &t, Some(&no_bias)), SdpaStatus::NullPointer);
    assert!(out.iter().chain(&w).all(|&x| x == SENTINEL));
}

#[test]
fn attention_refuses_zero_and_overflowing_dimensions() {
    let t = toy();
    for s in [shape(0, 5, 4, 6), shape(3, 0, 4, 6), shape(3, 5, 0, 6), shape(3, 5, 4, 0)] {
        assert_eq!(attend(s, &t, None), SdpaStatus::ZeroDimension, "{s:?}");
    }
    let huge = usize::MAX / 2 + 1;
    for s in [
        shape(huge, 5, 4, 6),
        shape(3, huge, 4, 6),
        shape(3, 5, huge, 6),
        shape(3, 5, 4, huge),
        shape(huge, huge, 1, 1),
    ] {
        assert_eq!(attend(s, &t, None), SdpaStatus::SizeOverflow, "{s:?}");
    }
    // queries · head_dim fits in size_t, but not its size in bytes (> PTRDIFF_MAX).
    let s = shape((1 << 61) + 1, 1, 1, 1);
    assert_eq!(attend(s, &t, None), SdpaStatus::SizeOverflow);
    // The per-query mask's queries · keys overflows while every other product fits.
    let (q_big, k_big) = (usize::MAX / 64, 128);
    assert_eq!(attend(shape(q_big, k_big, 1, 1), &t, None), SdpaStatus::SizeOverflow);
}

#[test]
fn attention_refuses_unknown_flags_and_kinds() {
    let t = toy();
    for o in [
        SdpaOptions { flags: 1 << 5, ..zero_options() }, // SDPA_FLAG_BIASES is a layer flag
        SdpaOptions { flags: 1 << 31, ..zero_options() },
        SdpaOptions { mask_kind: 3, mask: t.mask.as_ptr(), ..zero_options() },
        SdpaOptions { bias_kind: u32::MAX, bias: t.bias.as_ptr(), ..zero_options() },
    ] {
        assert_eq!(attend(TOY, &t, Some(&o)), SdpaStatus::InvalidOption, "{o:?}");
    }
}

#[test]
fn attention_refuses_misaligned_pointers() {
    let t = toy();
    let mut out = [SENTINEL; 19];
    let (q, k, v) = (t.q.as_ptr(), t.k.as_ptr(), t.v.as_ptr());
    let skew = |p: *const f32| p.cast::<u8>().wrapping_add(1).cast::<f32>();
    let o = out.as_mut_ptr();
    assert_eq!(unsafe { sdpa_attention(TOY, skew(q), k, v, o, ptr::null()) }, SdpaStatus::Misaligned);
    assert_eq!(unsafe { sdpa_attention(TOY, q, k, skew(v), o, ptr::null()) }, SdpaStatus::Misaligned);
    assert_eq!(unsafe { sdpa_attention(TOY, q, k, v, skew(o).cast_mut(), ptr::null()) }, SdpaStatus::Misaligned);
    let bias = SdpaOptions { bias_kind: SdpaMask::PerKey as u32, bias: skew(t.bias.as_ptr()), ..zero_options() };
    assert_eq!(unsafe { sdpa_attention(TOY, q, k, v, o, &bias) }, SdpaStatus::Misaligned);
    // The options struct itself, misaligned (never read).
    let raw = [zero_options(); 2];
    let skewed = raw.as_ptr().cast::<u8>().wrapping_add(4).cast::<SdpaOptions>();
    assert_eq!(unsafe { sdpa_attention(TOY, q, k, v, o, skewed) }, SdpaStatus::Misaligned);
    assert!(out.iter().all(|&x| x == SENTINEL));
}

#[test]
fn attention_refuses_outputs_overlapping_inputs() {
    // One buffer holding Q, K, V, mask-as-floats region and room for outputs.
    let mut buf = vec![0.5f32; 200];
    let base = buf.as_mut_ptr();
    let at = |i: usize| base.wrapping_add(i);
    let (q, k, v) = (at(0).cast_const(), at(12).cast_const(), at(32).cast_const());
    let o = |i: usize| at(i);
    // The output over Q, over the end of K, over the start of V.
    for start in [0, 8, 31] {
        assert_eq!(
            unsafe { sdpa_attention(TOY, q, k, v, o(start), ptr::null()) },
            SdpaStatus::Aliasing,
            "out at {start}"
        );
    }
    // The output right after V: fine.
    assert_eq!(unsafe { sdpa_attention(TOY, q, k, v, o(62), ptr::null()) }, SdpaStatus::Ok);
    // The weights over the output, or over an input.
    let w = |i: usize| at(i);
    assert_eq!(unsafe { sdpa_attention_weights(TOY, q, k, v, o(100), w(110), ptr::null()) }, SdpaStatus::Aliasing);
    assert_eq!(unsafe { sdpa_attention_weights(TOY, q, k, v, o(100), w(20), ptr::null()) }, SdpaStatus::Aliasing);
    assert_eq!(unsafe { sdpa_attention_weights(TOY, q, k, v, o(100), w(118), ptr::null()) }, SdpaStatus::Ok);
    // The output over the bias, the mask bytes, or the options struct.
    let bias = SdpaOptions { bias_kind: SdpaMask::PerQuery as u32, bias: at(150).cast_const(), ..zero_options() };
    assert_eq!(unsafe { sdpa_attention(TOY, q, k, v, o(140), &bias) }, SdpaStatus::Aliasing);
    let mask = SdpaOptions { mask_kind: SdpaMask::PerKey as u32, mask: at(180).cast_const().cast(), ..zero_options() };
    unsafe { at(180).cast::<u8>().write_bytes(1, 5) };
    assert_eq!(unsafe { sdpa_attention(TOY, q, k, v, o(170), &mask) }, SdpaStatus::Aliasing);
    let mut opts = [zero_options(); 2];
    let inside = opts.as_mut_ptr().cast::<f32>();
    assert_eq!(unsafe { sdpa_attention(shape(1, 5, 4, 2), q, k, v, inside, opts.as_ptr()) }, SdpaStatus::Aliasing);
}

#[test]
fn attention_refuses_mask_bytes_other_than_zero_and_one() {
    let t = toy();
    for (at, byte) in [(0, 2u8), (14, 255), (7, 0x10)] {
        let mut mask = [1u8; 15];
        mask[at] = byte;
        let o = SdpaOptions { mask_kind: SdpaMask::PerQuery as u32, mask: mask.as_ptr(), ..zero_options() };
        assert_eq!(attend(TOY, &t, Some(&o)), SdpaStatus::InvalidMask, "byte {byte} at {at}");
    }
    let mut keep = [1u8; 5];
    keep[4] = 2;
    let o = SdpaOptions { mask_kind: SdpaMask::PerKey as u32, mask: keep.as_ptr(), ..zero_options() };
    assert_eq!(attend(TOY, &t, Some(&o)), SdpaStatus::InvalidMask);
    keep[4] = 0;
    let o = SdpaOptions { mask: keep.as_ptr(), ..o };
    assert_eq!(attend(TOY, &t, Some(&o)), SdpaStatus::Ok);
}

#[test]
fn attention_rows_refuses_bad_ranges() {
    let t = toy();
    let mut out = [SENTINEL; 18];
    let (q, k, v, o) = (t.q.as_ptr(), t.k.as_ptr(), t.v.as_ptr(), out.as_mut_ptr());
    let rows = |first: usize, n: usize| unsafe { sdpa_attention_rows(TOY, q, k, v, first, n, o, ptr::null()) };
    assert_eq!(rows(0, 4), SdpaStatus::RowRange);
    assert_eq!(rows(3, 1), SdpaStatus::RowRange);
    assert_eq!(rows(usize::MAX, 2), SdpaStatus::RowRange); // first_row + rows overflows
    assert_eq!(rows(1, 0), SdpaStatus::ZeroDimension);
    assert!(out.iter().all(|&x| x == SENTINEL));
    assert_eq!(rows(2, 1), SdpaStatus::Ok);
}

#[test]
fn kernels_refuse_bad_input() {
    let (a, b) = (values(8, 1), values(8, 2));
    let mut r = SENTINEL;
    let null = ptr::null::<f32>();
    assert_eq!(unsafe { sdpa_dot(null, b.as_ptr(), 8, &mut r) }, SdpaStatus::NullPointer);
    assert_eq!(unsafe { sdpa_dot(a.as_ptr(), b.as_ptr(), 8, ptr::null_mut()) }, SdpaStatus::NullPointer);
    assert_eq!(unsafe { sdpa_dot(a.as_ptr(), b.as_ptr(), 0, &mut r) }, SdpaStatus::ZeroDimension);
    assert_eq!(unsafe { sdpa_dot(a.as_ptr(), b.as_ptr(), usize::MAX / 2, &mut r) }, SdpaStatus::SizeOverflow);
    let skewed = a.as_ptr().cast::<u8>().wrapping_add(2).cast::<f32>();
    assert_eq!(unsafe { sdpa_dot(skewed, b.as_ptr(), 4, &mut r) }, SdpaStatus::Misaligned);
    assert_eq!(r, SENTINEL);
    let mut ab = a.clone();
    let inside = ab.as_mut_ptr().wrapping_add(3);
    assert_eq!(unsafe { sdpa_dot(ab.as_ptr(), b.as_ptr(), 8, inside) }, SdpaStatus::Aliasing);
    assert_eq!(ab, a);

    let mut scores = [SENTINEL; 4];
    let (q, rows) = (a.as_ptr(), b.as_ptr());
    assert_eq!(unsafe { sdpa_dot_rows(q, 2, rows, 4, ptr::null_mut()) }, SdpaStatus::NullPointer);
    assert_eq!(unsafe { sdpa_dot_rows(q, 0, rows, 4, scores.as_mut_ptr()) }, SdpaStatus::ZeroDimension);
    assert_eq!(unsafe { sdpa_dot_rows(q, 2, rows, 0, scores.as_mut_ptr()) }, SdpaStatus::ZeroDimension);
    assert_eq!(unsafe { sdpa_dot_rows(q, usize::MAX / 2, rows, 3, scores.as_mut_ptr()) }, SdpaStatus::SizeOverflow);
    assert_eq!(scores, [SENTINEL; 4]);
    let mut rows_and_out = b.clone();
    let over = rows_and_out.as_mut_ptr().wrapping_add(6);
    assert_eq!(unsafe { sdpa_dot_rows(q, 2, rows_and_out.as_ptr(), 4, over) }, SdpaStatus::Aliasing);
    assert_eq!(rows_and_out, b);

    let mut x = a.clone();
    assert_eq!(unsafe { sdpa_softmax(ptr::null_mut(), 3) }, SdpaStatus::NullPointer);
    assert_eq!(unsafe { sdpa_softmax(x.as_mut_ptr(), 0) }, SdpaStatus::ZeroDimension);
    assert_eq!(unsafe { sdpa_softmax(x.as_mut_ptr(), usize::MAX / 4 + 1) }, SdpaStatus::SizeOverflow);
    let skewed = x.as_mut_ptr().cast::<u8>().wrapping_add(1).cast::<f32>();
    assert_eq!(unsafe { sdpa_softmax(skewed, 3) }, SdpaStatus::Misaligned);
    assert_eq!(x, a);
}

/// The bert layer (D 16, 4 heads of 4, biases) over its packed weights.
fn bert() -> (Vec<f32>, SdpaLayer) {
    use vectors::bert as c;
    let packed = [&c::WQ[..], &c::BQ, &c::WK, &c::BK, &c::WV, &c::BV, &c::WO, &c::BO].concat();
    let layer = c_layer([c::D, c::QH, c::KVH, c::HD], &packed, true, SdpaPositions::None, 0.0);
    (packed, layer)
}

#[test]
fn layer_shapes_refused() {
    let (packed, good) = bert();
    let mut len: usize;
    let query = |l: &SdpaLayer, len: &mut usize| unsafe { sdpa_layer_weights_len(l, len) };
    let bad = [
        (SdpaLayer { flags: 1 << 1, ..good }, SdpaStatus::InvalidOption), // SDPA_FLAG_CAUSAL is not a layer flag
        (SdpaLayer { positions: 4, ..good }, SdpaStatus::InvalidOption),
        (SdpaLayer { d_model: 0, ..good }, SdpaStatus::ZeroDimension),
        (SdpaLayer { kv_heads: 0, ..good }, SdpaStatus::ZeroDimension),
        (SdpaLayer { head_dim: 5, ..good }, SdpaStatus::UnsupportedShape), // 4 · 5 ≠ 16
        (SdpaLayer { kv_heads: 3, ..good }, SdpaStatus::UnsupportedShape), // 3 does not divide 4
        (SdpaLayer { q_heads: 16, kv_heads: 16, head_dim: 1, d_model: 16, ..good }, SdpaStatus::Ok),
        (
            SdpaLayer { q_heads: 1, kv_heads: 1, head_dim: usize::MAX / 2, d_model: usize::MAX / 2, ..good },
            SdpaStatus::SizeOverflow,
        ),
        (SdpaLayer { q_heads: 2, kv_heads: 1, head_dim: 1 << 31, d_model: 1 << 32, ..good }, SdpaStatus::SizeOverflow),
    ];
    for (layer, want) in bad {
        len = usize::MAX;
        assert_eq!(query(&layer, &mut len), want, "{layer:?}");
        assert!(want == SdpaStatus::Ok || len == usize::MAX, "a refused size query wrote its output");
    }
    len = usize::MAX;
    assert_eq!(unsafe { sdpa_layer_weights_len(ptr::null(), &mut len) }, SdpaStatus::NullPointer);
    assert_eq!(unsafe { sdpa_layer_weights_len(&good, ptr::null_mut()) }, SdpaStatus::NullPointer);
    assert_eq!(unsafe { sdpa_layer_scratch_len(&good, 0, &mut len) }, SdpaStatus::ZeroDimension);
    assert_eq!(unsafe { sdpa_decode_scratch_len(&good, 0, &mut len) }, SdpaStatus::ZeroDimension);
    assert_eq!(unsafe { sdpa_kv_cache_storage_len(&good, 0, &mut len) }, SdpaStatus::ZeroDimension);
    assert_eq!(unsafe { sdpa_layer_scratch_len(&good, usize::MAX / 8, &mut len) }, SdpaStatus::SizeOverflow);
    assert_eq!(unsafe { sdpa_kv_cache_storage_len(&good, usize::MAX / 16, &mut len) }, SdpaStatus::SizeOverflow);
    // The size output over the layer struct itself.
    let mut inside = [good];
    let over = ptr::addr_of_mut!(inside[0].d_model);
    assert_eq!(unsafe { sdpa_layer_weights_len(inside.as_ptr(), over) }, SdpaStatus::Aliasing);
    assert_eq!(len, usize::MAX, "a refused size query wrote its output");
    assert_eq!(query(&good, &mut len), SdpaStatus::Ok);
    assert_eq!(len, packed.len());
}

#[test]
fn layer_forward_refuses_bad_input() {
    let (packed, layer) = bert();
    let tokens = 6;
    let x = values(tokens * 16, 5);
    let mut need = 0;
    assert_eq!(unsafe { sdpa_layer_scratch_len(&layer, tokens, &mut need) }, SdpaStatus::Ok);
    let mut scratch = vec![SENTINEL; need + 16];
    let mut out = vec![SENTINEL; tokens * 16];
    let call = |l: &SdpaLayer,
                x: *const f32,
                n: usize,
                m: *const SdpaLayerMask,
                o: *mut f32,
                s: *mut f32,
                len: usize| unsafe { sdpa_layer_forward(l, x, n, m, o, s, len) };
    let (xp, o, s) = (x.as_ptr(), out.as_mut_ptr(), scratch.as_mut_ptr());
    let null = ptr::null::<SdpaLayerMask>();
    let no_weights = SdpaLayer { weights: ptr::null(), ..layer };
    let short = SdpaLayer { weights_len: packed.len() - 1, ..layer };
    let no_biases = SdpaLayer { flags: 0, ..layer }; // expects a shorter file
    let bad_flags =
        SdpaLayerMask { flags: SDPA_FLAG_BOTTOM_RIGHT, window_left: 0, window_right: 0, padding: ptr::null() };
    let keep = [1u8, 1, 7, 1, 0, 0];
    let padding = SdpaLayerMask { flags: SDPA_FLAG_CAUSAL, window_left: 0, window_right: 0, padding: keep.as_ptr() };
    let refusals = [
        (call(&layer, ptr::null(), tokens, null, o, s, need), SdpaStatus::NullPointer),
        (call(&layer, xp, tokens, null, o, ptr::null_mut(), need), SdpaStatus::NullPointer),
        (call(&no_weights, xp, tokens, null, o, s, need), SdpaStatus::NullPointer),
        (call(&layer, xp, 0, null, o, s, need), SdpaStatus::ZeroDimension),
        (call(&layer, xp, usize::MAX / 4, null, o, s, need), SdpaStatus::SizeOverflow),
        (call(&short, xp, tokens, null, o, s, need), SdpaStatus::BadLength),
        (call(&no_biases, xp, tokens, null, o, s, need), SdpaStatus::BadLength),
        (call(&layer, xp, tokens, null, o, s, need - 1), SdpaStatus::BadLength),
        (call(&layer, xp, tokens, &bad_flags, o, s, need), SdpaStatus::InvalidOption),
        (call(&layer, xp, tokens, &padding, o, s, need), SdpaStatus::InvalidMask),
        (call(&layer, xp, tokens, null, o, o.wrapping_add(8), need), SdpaStatus::Aliasing), // scratch over out
    ];
    for (i, (got, want)) in refusals.into_iter().enumerate() {
        assert_eq!(got, want, "case {i}");
    }
    assert!(out.iter().all(|&v| v == SENTINEL), "a refused forward wrote to the output");
    assert!(scratch.iter().all(|&v| v == SENTINEL), "a refused forward wrote to the scratch");

    // The output over the last weight, or over the last token of x.
    let mut weights_and_out = packed.clone();
    weights_and_out.resize(packed.len() + 96, 0.0);
    let over_weights = SdpaLayer { weights: weights_and_out.as_ptr(), ..layer };
    let end = weights_and_out.as_mut_ptr().wrapping_add(packed.len() - 1);
    let s = scratch.as_mut_ptr();
    assert_eq!(call(&over_weights, xp, tokens, null, end, s, need), SdpaStatus::Aliasing);
    assert_eq!(weights_and_out[..packed.len()], packed[..]);
    let mut x_and_out = x.clone();
    x_and_out.resize(x.len() * 2, 0.0);
    let xo = x_and_out.as_mut_ptr();
    assert_eq!(call(&layer, xo, tokens, null, xo.wrapping_add(x.len() - 16), s, need), SdpaStatus::Aliasing);
    assert_eq!(x_and_out[..x.len()], x[..]);
    assert_eq!(call(&layer, xp, tokens, null, out.as_mut_ptr(), s, need), SdpaStatus::Ok);
}

/// A fresh cache for the llama_gqa layer (D 16, 4 query heads, 2 kv heads of 4).
fn llama() -> (Vec<f32>, SdpaLayer) {
    use vectors::llama_gqa as c;
    let packed = [&c::WQ[..], &c::WK, &c::WV, &c::WO].concat();
    let layer = c_layer([c::D, c::QH, c::KVH, c::HD], &packed, false, SdpaPositions::RopeHalfSplit, 0.0);
    (packed, layer)
}

fn fresh(layer: &SdpaLayer, storage: &mut [f32], capacity: usize, mode: SdpaCacheMode) -> SdpaKvCache {
    let mut cache = core::mem::MaybeUninit::uninit();
    let status = unsafe {
        sdpa_kv_cache_init(cache.as_mut_ptr(), layer, storage.as_mut_ptr(), storage.len(), capacity, mode as u32)
    };
    assert_eq!(status, SdpaStatus::Ok);
    unsafe { cache.assume_init() }
}

#[test]
fn kv_cache_init_refuses_bad_input() {
    let (_packed, layer) = llama(); // `_packed` keeps the weights alive
    let mut storage = vec![SENTINEL; 2 * 2 * 3 * 4 + 8];
    let mut cache = fresh(&layer, &mut storage, 3, SdpaCacheMode::Fixed);
    assert_eq!((cache.len, cache.next_position, cache.capacity, cache.kv_heads, cache.head_dim), (0, 0, 3, 2, 4));
    assert!(storage[..48].iter().all(|&v| v == 0.0) && storage[48..].iter().all(|&v| v == SENTINEL));
    let before = cache;
    let s = storage.as_mut_ptr();
    let init = |c: *mut SdpaKvCache, l: &SdpaLayer, s: *mut f32, len: usize, cap: usize, mode: u32| unsafe {
        sdpa_kv_cache_init(c, l, s, len, cap, mode)
    };
    assert_eq!(init(ptr::null_mut(), &layer, s, 48, 3, 0), SdpaStatus::NullPointer);
    assert_eq!(init(&mut cache, &layer, ptr::null_mut(), 48, 3, 0), SdpaStatus::NullPointer);
    assert_eq!(init(&mut cache, &layer, s, 48, 3, 2), SdpaStatus::InvalidOption);
    assert_eq!(init(&mut cache, &layer, s, 48, 0, 0), SdpaStatus::ZeroDimension);
    assert_eq!(init(&mut cache, &layer, s, 47, 3, 0), SdpaStatus::BadLength);
    assert_eq!(init(&mut cache, &layer, s, 48, usize::MAX / 8, 0), SdpaStatus::SizeOverflow);
    assert_eq!(init(&mut cache, &SdpaLayer { kv_heads: 3, ..layer }, s, 48, 3, 0), SdpaStatus::UnsupportedShape);
    assert_eq!(init(&mut cache, &layer, s.cast::<u8>().wrapping_add(2).cast(), 48, 3, 0), SdpaStatus::Misaligned);
    // The cache struct inside its own storage (64 floats on an 8-byte
    // aligned buffer, so the struct at float 40 is aligned for its usizes).
    let mut both = vec![0u64; 32];
    let floats = both.as_mut_ptr().cast::<f32>();
    let struct_inside = floats.wrapping_add(40).cast::<SdpaKvCache>();
    assert_eq!(init(struct_inside, &layer, floats, 48, 3, 0), SdpaStatus::Aliasing);
    assert_eq!((cache.keys, cache.len, cache.capacity), (before.keys, before.len, before.capacity));
    assert!(both.iter().all(|&v| v == 0));
}

#[test]
fn decode_refuses_bad_caches_and_a_full_one() {
    let (packed, layer) = llama();
    let cap = 2;
    let mut storage = vec![0.0f32; 2 * 2 * cap * 4];
    let mut cache = fresh(&layer, &mut storage, cap, SdpaCacheMode::Fixed);
    let mut need = 0;
    assert_eq!(unsafe { sdpa_decode_scratch_len(&layer, cap, &mut need) }, SdpaStatus::Ok);
    let mut scratch = vec![0.0f32; need];
    let x = values(16, 6);
    let mut out = [SENTINEL; 16];
    let mut pos = usize::MAX;
    let (s, xp) = (scratch.as_mut_ptr(), x.as_ptr());
    let step = |l: &SdpaLayer, c: *mut SdpaKvCache, len: usize, out: &mut [f32; 16], pos: &mut usize| unsafe {
        sdpa_layer_decode(l, xp, out.as_mut_ptr(), c, s, len, pos)
    };

    // Refusals before the cache fills: the cache, the output and the position untouched.
    let mut bad = |edit: &dyn Fn(&mut SdpaKvCache), want: SdpaStatus| {
        let mut c = cache;
        edit(&mut c);
        let before = c;
        assert_eq!(step(&layer, &mut c, need, &mut out, &mut pos), want);
        assert_eq!((c.len, c.next_position), (before.len, before.next_position));
    };
    bad(&|c| c.kv_heads = 1, SdpaStatus::CacheInvalid);
    bad(&|c| c.head_dim = 2, SdpaStatus::CacheInvalid);
    bad(&|c| c.mode = 7, SdpaStatus::CacheInvalid);
    bad(&|c| c.len = 3, SdpaStatus::CacheInvalid);
    bad(&|c| c.next_position = 1, SdpaStatus::CacheInvalid); // fixed: len must equal next_position
    bad(&|c| c.keys = ptr::null_mut(), SdpaStatus::CacheInvalid);
    bad(&|c| c.capacity = 0, SdpaStatus::CacheInvalid);
    bad(&|c| c.values = c.keys, SdpaStatus::Aliasing);
    assert_eq!(step(&layer, &mut cache, need - 1, &mut out, &mut pos), SdpaStatus::BadLength);
    assert_eq!(
        step(&SdpaLayer { weights_len: packed.len() + 1, ..layer }, &mut cache, need, &mut out, &mut pos),
        SdpaStatus::BadLength
    );
    assert_eq!(step(&layer, ptr::null_mut(), need, &mut out, &mut pos), SdpaStatus::NullPointer);
    assert_eq!(
        step(&SdpaLayer { positions: 9, ..layer }, &mut cache, need, &mut out, &mut pos),
        SdpaStatus::InvalidOption
    );
    assert_eq!((out, pos), ([SENTINEL; 16], usize::MAX));

    // Two tokens fill a fixed cache of 2; the third is refused and changes nothing.
    for t in 0..cap {
        assert_eq!(step(&layer, &mut cache, need, &mut out, &mut pos), SdpaStatus::Ok);
        assert_eq!(pos, t);
    }
    let (full, kept, out_before) = (cache, storage.clone(), out);
    assert_eq!(step(&layer, &mut cache, need, &mut out, &mut pos), SdpaStatus::CacheFull);
    assert_eq!((cache.len, cache.next_position, pos), (full.len, full.next_position, cap - 1));
    assert_eq!((storage.clone(), out), (kept, out_before));

    // Cleared, it takes tokens again from position 0.
    assert_eq!(unsafe { sdpa_kv_cache_clear(&mut cache) }, SdpaStatus::Ok);
    assert_eq!(unsafe { sdpa_kv_cache_clear(ptr::null_mut()) }, SdpaStatus::NullPointer);
    let mut step = |c: &mut SdpaKvCache, out: &mut [f32; 16], pos: &mut usize| unsafe {
        sdpa_layer_decode(&layer, xp, out.as_mut_ptr(), c, scratch.as_mut_ptr(), need, pos)
    };
    assert_eq!((step(&mut cache, &mut out, &mut pos), pos), (SdpaStatus::Ok, 0));
}

#[test]
fn a_sliding_cache_never_fills() {
    let (_packed, layer) = llama(); // `_packed` keeps the weights alive
    let mut storage = vec![0.0f32; 2 * 2 * 2 * 4];
    let mut cache = fresh(&layer, &mut storage, 2, SdpaCacheMode::Sliding);
    let mut scratch = vec![0.0f32; 2 * 16 + 2];
    let x = values(16, 7);
    let mut out = [0.0f32; 16];
    for t in 0..5 {
        let status = unsafe {
            sdpa_layer_decode(
                &layer,
                x.as_ptr(),
                out.as_mut_ptr(),
                &mut cache,
                scratch.as_mut_ptr(),
                34,
                ptr::null_mut(),
            )
        };
        assert_eq!((status, cache.len, cache.next_position), (SdpaStatus::Ok, (t + 1).min(2), t + 1));
    }
    // Sliding: len = min(next_position, capacity), anything else is refused.
    let mut wrong = SdpaKvCache { len: 1, ..cache };
    let status = unsafe {
        sdpa_layer_decode(&layer, x.as_ptr(), out.as_mut_ptr(), &mut wrong, scratch.as_mut_ptr(), 34, ptr::null_mut())
    };
    assert_eq!(status, SdpaStatus::CacheInvalid);
}
