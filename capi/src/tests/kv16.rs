//! `sdpa_multihead_attention_kv16`: both 16-bit types against the Rust
//! multi-head call on the same bits, and every refusal of its own (type,
//! and K/V lengths, alignment and overlap counted in 16-bit elements).

use super::multihead::{SENTINEL, SHAPE, bshd, padded_bhsd, rust};
use super::values;
use crate::ffi::multihead::sdpa_multihead_attention_kv16;
use crate::{SdpaHeadShape, SdpaKvType, SdpaStatus, SdpaStrides, SdpaTensor, SdpaTensor16, SdpaTensorMut};
use core::ptr;
use sdpa::multihead::runtime as mh;
use sdpa::{Bf16, F16, KvElement};
use std::vec;
use std::vec::Vec;

/// K (dim 4) and V (dim 2) of `SHAPE` in padded BHSD as `E`, the padding NaN.
fn kv<E: KvElement>() -> (Vec<E>, Vec<E>) {
    let pad = |x: Vec<f32>, w: usize| -> Vec<E> {
        x.iter().enumerate().map(|(i, &x)| E::from_f32(if i % (w + 1) == w { f32::NAN } else { x * 8.0 })).collect()
    };
    (pad(values(2 * 2 * 5 * 5, 2), 4), pad(values(2 * 2 * 5 * 3, 3), 2))
}

/// The C call on 16-bit buffers of bits `k` and `v` (strides of `SHAPE`'s
/// K and V), into `out_len` sentinels; the status and the output, after
/// checking that a refusal wrote nothing.
fn call(q: &[f32], k: SdpaTensor16, v: SdpaTensor16, kv_type: u32, out_len: usize) -> (SdpaStatus, Vec<f32>) {
    let mut out = vec![SENTINEL; out_len];
    let q = SdpaTensor { data: q.as_ptr(), len: q.len(), strides: bshd(3, 4, 4) };
    let o = SdpaTensorMut { data: out.as_mut_ptr(), len: out.len(), strides: bshd(3, 4, 2) };
    let st = unsafe { sdpa_multihead_attention_kv16(SHAPE, q, k, v, kv_type, o, ptr::null()) };
    if st != SdpaStatus::Ok {
        assert!(out.iter().all(|&x| x == SENTINEL), "{st:?} wrote to the output");
    }
    (st, out)
}

fn tensor16(bits: &[u16], strides: SdpaStrides) -> SdpaTensor16 {
    SdpaTensor16 { data: bits.as_ptr(), len: bits.len(), strides }
}

/// The C call with type `kv_type` equals the Rust call on `E` bit for bit.
fn equals_rust<E: KvElement>(kv_type: SdpaKvType, bits: fn(E) -> u16) {
    let q = values(2 * 3 * 4 * 4, 1);
    let (k, v) = kv::<E>();
    let (kb, vb): (Vec<u16>, Vec<u16>) = (k.iter().map(|&x| bits(x)).collect(), v.iter().map(|&x| bits(x)).collect());
    let (sk, sv) = (padded_bhsd(2, 5, 4), padded_bhsd(2, 5, 2));
    let (st, out) = call(&q, tensor16(&kb, sk), tensor16(&vb, sv), kv_type as u32, 2 * 3 * 4 * 2);
    assert_eq!(st, SdpaStatus::Ok);
    let mut want = vec![SENTINEL; out.len()];
    let shape = mh::Shape { batch: 2, q_heads: 4, kv_heads: 2, queries: 3, keys: 5, head_dim: 4, value_dim: 2 };
    let r = mh::attention(
        shape,
        mh::View::new(&q, rust(bshd(3, 4, 4))),
        mh::View::new(&k, rust(sk)),
        mh::View::new(&v, rust(sv)),
        mh::ViewMut::new(&mut want, rust(bshd(3, 4, 2))),
        &mh::RuntimeHeadOptions::new(),
    );
    assert_eq!(r, Ok(()));
    assert!(out.iter().all(|x| x.is_finite()), "the NaN padding was read: {out:?}");
    assert!(out.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "{kv_type:?}: {out:?} vs {want:?}");
}

#[test]
fn binary16_and_bfloat16_equal_the_rust_call() {
    equals_rust::<F16>(SdpaKvType::F16, F16::to_bits);
    equals_rust::<Bf16>(SdpaKvType::Bf16, Bf16::to_bits);
}

#[test]
fn the_two_types_read_the_same_bits_differently() {
    // 0x3C00 is 1.0 in binary16 and 0.0078125 in bfloat16: a value row of
    // those bits comes out as that value (one key, weight 1).
    let one = SdpaHeadShape { batch: 1, q_heads: 1, kv_heads: 1, queries: 1, keys: 1, head_dim: 1, value_dim: 1 };
    let s = SdpaStrides { batch: 1, head: 1, token: 1, dim: 1 };
    let (q, bits) = ([0.5f32], [0x3C00u16]);
    for (kv_type, want) in [(SdpaKvType::F16, 1.0f32), (SdpaKvType::Bf16, 0.007_812_5)] {
        let mut out = [SENTINEL];
        let o = SdpaTensorMut { data: out.as_mut_ptr(), len: 1, strides: s };
        let qt = SdpaTensor { data: q.as_ptr(), len: 1, strides: s };
        let t = tensor16(&bits, s);
        let st = unsafe { sdpa_multihead_attention_kv16(one, qt, t, t, kv_type as u32, o, ptr::null()) };
        assert_eq!((st, out[0]), (SdpaStatus::Ok, want), "{kv_type:?}");
    }
}

#[test]
fn every_refusal_of_its_own_has_its_status_and_writes_nothing() {
    let q = values(2 * 3 * 4 * 4, 1);
    let (k, v) = kv::<F16>();
    let (kb, vb): (Vec<u16>, Vec<u16>) =
        (k.iter().map(|x| x.to_bits()).collect(), v.iter().map(|x| x.to_bits()).collect());
    let (sk, sv) = (padded_bhsd(2, 5, 4), padded_bhsd(2, 5, 2));
    let (kt, vt, f16) = (tensor16(&kb, sk), tensor16(&vb, sv), SdpaKvType::F16 as u32);
    let n = 2 * 3 * 4 * 2;
    assert_eq!(call(&q, kt, vt, f16, n).0, SdpaStatus::Ok);
    for kv_type in [0, 3, u32::MAX] {
        assert_eq!(call(&q, kt, vt, kv_type, n).0, SdpaStatus::InvalidOption, "type {kv_type}");
    }
    let null = SdpaTensor16 { data: ptr::null(), ..kt };
    assert_eq!(call(&q, null, vt, f16, n).0, SdpaStatus::NullPointer);
    assert_eq!(call(&q, kt, null, f16, n).0, SdpaStatus::NullPointer);
    // One byte in: no longer aligned for a 16-bit element.
    let odd = SdpaTensor16 { data: kb.as_ptr().cast::<u8>().wrapping_add(1).cast(), len: kb.len() - 1, ..kt };
    assert_eq!(call(&q, odd, vt, f16, n).0, SdpaStatus::Misaligned);
    // The view ends exactly at the buffer's end: one element short.
    let short = SdpaTensor16 { len: vb.len() - 2, ..vt };
    assert_eq!(call(&q, kt, short, f16, n).0, SdpaStatus::OutOfBounds);
    let bad_stride = SdpaTensor16 { strides: SdpaStrides { token: 3, ..sk }, ..kt };
    assert_eq!(call(&q, bad_stride, vt, f16, n).0, SdpaStatus::BadStride);

    // An output inside V's buffer, which overlaps V's last two elements.
    // The buffer is `f32` (aligned for the output: a `u16` allocation
    // need not be, and Miri's is not); V's bits are packed into its first
    // floats, little-endian.
    let mut shared: Vec<f32> = vb.chunks(2).map(|p| f32::from_bits(u32::from(p[0]) | u32::from(p[1]) << 16)).collect();
    shared.resize(vb.len() / 2 + n, 0.0);
    let inside = SdpaTensor16 { data: shared.as_ptr().cast(), len: vb.len(), strides: sv };
    let o = SdpaTensorMut { data: shared.as_mut_ptr().wrapping_add(vb.len() / 2 - 1), len: n, strides: bshd(3, 4, 2) };
    let qt = SdpaTensor { data: q.as_ptr(), len: q.len(), strides: bshd(3, 4, 4) };
    let st = unsafe { sdpa_multihead_attention_kv16(SHAPE, qt, kt, inside, f16, o, ptr::null()) };
    assert_eq!(st, SdpaStatus::Aliasing);
}
