//! `sdpa_multihead_attention`: every layout and option against the Rust
//! multi-head call and the per-head C call, bit for bit, and every refusal
//! (status, and nothing written). Small sizes, so Miri runs them too.

use super::{seed, values, zero_options};
use crate::ffi::attention::sdpa_attention;
use crate::ffi::multihead::sdpa_multihead_attention;
use crate::{
    SDPA_FLAG_ALIBI, SDPA_FLAG_CAUSAL, SdpaBroadcast, SdpaHeadOptions, SdpaHeadShape, SdpaMask, SdpaOptions, SdpaShape,
    SdpaStatus, SdpaStrides, SdpaTensor, SdpaTensorMut,
};
use core::ptr;
use sdpa::multihead::{Broadcast, Strides, runtime as mh};
use sdpa::runtime::{Bias, Mask};
use std::vec;
use std::vec::Vec;

/// What an untouched output element holds (shared with the `kv16` tests).
pub(super) const SENTINEL: f32 = -12345.0;

/// GQA: batch 2, 4 query heads on 2 kv heads, 3 queries, 5 keys, dim 4, value dim 2.
pub(super) const SHAPE: SdpaHeadShape =
    SdpaHeadShape { batch: 2, q_heads: 4, kv_heads: 2, queries: 3, keys: 5, head_dim: 4, value_dim: 2 };

/// [batch][tokens][heads][dim].
pub(super) const fn bshd(tokens: usize, heads: usize, dim: usize) -> SdpaStrides {
    SdpaStrides { batch: tokens * heads * dim, head: dim, token: heads * dim, dim: 1 }
}

/// [batch][heads][tokens][dim] with one element of padding after every row.
pub(super) const fn padded_bhsd(heads: usize, tokens: usize, dim: usize) -> SdpaStrides {
    SdpaStrides { batch: heads * tokens * (dim + 1), head: tokens * (dim + 1), token: dim + 1, dim: 1 }
}

/// sdpa's strides for the C ones.
pub(super) fn rust(s: SdpaStrides) -> Strides {
    Strides { batch: s.batch, head: s.head, token: s.token, dim: s.dim }
}

fn tensor(data: &[f32], strides: SdpaStrides) -> SdpaTensor {
    SdpaTensor { data: data.as_ptr(), len: data.len(), strides }
}

fn tensor_mut(data: &mut [f32], strides: SdpaStrides) -> SdpaTensorMut {
    SdpaTensorMut { data: data.as_mut_ptr(), len: data.len(), strides }
}

fn head_options(base: SdpaOptions) -> SdpaHeadOptions {
    SdpaHeadOptions { base, mask_broadcast: 0, bias_broadcast: 0, alibi_slopes: ptr::null() }
}

/// Inputs of `SHAPE`: Q in BSHD, K and V in padded BHSD (padding NaN).
struct Inputs {
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    s: [SdpaStrides; 4],
}

impl Inputs {
    /// Q, K and V as C tensors.
    fn tensors(&self) -> [SdpaTensor; 3] {
        [tensor(&self.q, self.s[0]), tensor(&self.k, self.s[1]), tensor(&self.v, self.s[2])]
    }

    /// `sdpa_multihead_attention` of `SHAPE` on these inputs, into `out`.
    fn attend(&self, out: &mut [f32], o: *const SdpaHeadOptions) -> SdpaStatus {
        let [q, k, v] = self.tensors();
        unsafe { sdpa_multihead_attention(SHAPE, q, k, v, tensor_mut(out, self.s[3]), o) }
    }
}

fn inputs() -> Inputs {
    let s = [bshd(3, 4, 4), padded_bhsd(2, 5, 4), padded_bhsd(2, 5, 2), bshd(3, 4, 2)];
    let mut k = values(2 * 2 * 5 * 5, 2);
    let mut v = values(2 * 2 * 5 * 3, 3);
    for (i, x) in k.iter_mut().enumerate() {
        if i % 5 == 4 {
            *x = f32::NAN;
        }
    }
    for (i, x) in v.iter_mut().enumerate() {
        if i % 3 == 2 {
            *x = f32::NAN;
        }
    }
    Inputs { q: values(2 * 3 * 4 * 4, 1), k, v, s }
}

/// Head (b, h) of a view as contiguous rows.
fn head(data: &[f32], s: SdpaStrides, b: usize, h: usize, n: usize, w: usize) -> Vec<f32> {
    (0..n).flat_map(|t| data[b * s.batch + h * s.head + t * s.token..][..w].to_vec()).collect()
}

#[test]
fn layouts_equal_the_per_head_c_call_and_the_rust_call() {
    let x = inputs();
    let mut out = vec![SENTINEL; 2 * 3 * 4 * 2];
    let st = x.attend(&mut out, ptr::null());
    assert_eq!(st, SdpaStatus::Ok);
    for b in 0..2 {
        for h in 0..4 {
            let (q, k, v) = (
                head(&x.q, x.s[0], b, h, 3, 4),
                head(&x.k, x.s[1], b, h / 2, 5, 4),
                head(&x.v, x.s[2], b, h / 2, 5, 2),
            );
            let mut want = [0.0f32; 6];
            let single = SdpaShape { queries: 3, keys: 5, head_dim: 4, value_dim: 2 };
            let st =
                unsafe { sdpa_attention(single, q.as_ptr(), k.as_ptr(), v.as_ptr(), want.as_mut_ptr(), ptr::null()) };
            assert_eq!(st, SdpaStatus::Ok);
            let got = head(&out, x.s[3], b, h, 3, 2);
            assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "head ({b}, {h})");
        }
    }
}

#[test]
fn every_option_equals_the_rust_call() {
    let x = inputs();
    let keep: Vec<u8> = (0..2 * 5).map(|i| u8::from(i % 4 != 3)).collect(); // per batch, per key
    let bias = values(4 * 3 * 5, 9); // per head, per query
    let slopes = [0.5f32, 0.25, 0.125, 0.0625];
    let base = SdpaOptions {
        flags: SDPA_FLAG_CAUSAL | SDPA_FLAG_ALIBI,
        alibi_slope: 7.0,
        mask_kind: SdpaMask::PerKey as u32,
        mask: keep.as_ptr(),
        bias_kind: SdpaMask::PerQuery as u32,
        bias: bias.as_ptr(),
        ..zero_options()
    };
    let o = SdpaHeadOptions {
        base,
        mask_broadcast: SdpaBroadcast::PerBatch as u32,
        bias_broadcast: SdpaBroadcast::PerHead as u32,
        alibi_slopes: slopes.as_ptr(),
    };
    let keep_bool: Vec<bool> = keep.iter().map(|&b| b == 1).collect();
    // The same in Rust: one slope (7) for every head, or one per head.
    let single = mh::RuntimeHeadOptions::new()
        .causal()
        .alibi(7.0)
        .mask(Mask::PerKey(&keep_bool), Broadcast::PerBatch)
        .bias(Bias::PerQuery(&bias), Broadcast::PerHead);
    for per_head in [true, false] {
        let o = SdpaHeadOptions { alibi_slopes: if per_head { slopes.as_ptr() } else { ptr::null() }, ..o };
        let ro = if per_head { single.alibi_slopes(&slopes) } else { single };
        let mut out = vec![SENTINEL; 2 * 3 * 4 * 2];
        let st = x.attend(&mut out, &o);
        assert_eq!(st, SdpaStatus::Ok);
        let mut want = vec![SENTINEL; out.len()];
        let shape = mh::Shape { batch: 2, q_heads: 4, kv_heads: 2, queries: 3, keys: 5, head_dim: 4, value_dim: 2 };
        let r = mh::attention(
            shape,
            mh::View::new(&x.q, rust(x.s[0])),
            mh::View::new(&x.k, rust(x.s[1])),
            mh::View::new(&x.v, rust(x.s[2])),
            mh::ViewMut::new(&mut want, rust(x.s[3])),
            &ro,
        );
        assert_eq!(r, Ok(()));
        assert!(out.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "per-head slopes {per_head}");
    }
}

#[test]
fn the_seed_toy_as_one_head_of_two_matches_numpy() {
    // [tokens][heads 2][dim]: head 1 is the toy, head 0 noise that must not mix in.
    let shape = SdpaHeadShape { batch: 1, q_heads: 2, kv_heads: 2, queries: 3, keys: 5, head_dim: 4, value_dim: 6 };
    let interleave = |toy: Vec<f32>, rows: usize, w: usize| -> Vec<f32> {
        (0..rows).flat_map(|r| core::iter::repeat_n(100.0, w).chain(toy[r * w..(r + 1) * w].iter().copied())).collect()
    };
    let (q, k, v) = (interleave(seed::q(), 3, 4), interleave(seed::k(), 5, 4), interleave(seed::v(), 5, 6));
    let mut out = vec![0.0f32; 3 * 2 * 6];
    let st = unsafe {
        sdpa_multihead_attention(
            shape,
            tensor(&q, bshd(3, 2, 4)),
            tensor(&k, bshd(5, 2, 4)),
            tensor(&v, bshd(5, 2, 6)),
            tensor_mut(&mut out, bshd(3, 2, 6)),
            ptr::null(),
        )
    };
    assert_eq!(st, SdpaStatus::Ok);
    let ours: Vec<f32> = (0..3).flat_map(|r| out[r * 12 + 6..r * 12 + 12].to_vec()).collect();
    let want: Vec<f64> = seed::OUT.iter().flatten().copied().collect();
    assert!(super::max_err(&ours, &want) < 1e-5);
}

/// The call with `x`'s inputs and an output buffer of `out_len` sentinels;
/// the status, after checking a refusal wrote nothing.
fn call(
    shape: SdpaHeadShape,
    t: [SdpaTensor; 3],
    out_len: usize,
    s: SdpaStrides,
    o: *const SdpaHeadOptions,
) -> SdpaStatus {
    let mut out = vec![SENTINEL; out_len];
    let st = unsafe { sdpa_multihead_attention(shape, t[0], t[1], t[2], tensor_mut(&mut out, s), o) };
    if st != SdpaStatus::Ok {
        assert!(out.iter().all(|&x| x == SENTINEL), "{st:?} wrote to the output");
    }
    st
}

#[test]
fn every_refusal_has_its_status_and_writes_nothing() {
    let x = inputs();
    let t = x.tensors();
    let (n, so) = (2 * 3 * 4 * 2, x.s[3]);
    assert_eq!(call(SHAPE, t, n, so, ptr::null()), SdpaStatus::Ok);

    for i in 0..3 {
        let mut bad = t;
        bad[i].data = ptr::null();
        assert_eq!(call(SHAPE, bad, n, so, ptr::null()), SdpaStatus::NullPointer);
    }
    let st = unsafe {
        sdpa_multihead_attention(
            SHAPE,
            t[0],
            t[1],
            t[2],
            SdpaTensorMut { data: ptr::null_mut(), len: 0, strides: so },
            ptr::null(),
        )
    };
    assert_eq!(st, SdpaStatus::NullPointer);
    let no_mask = head_options(SdpaOptions { mask_kind: SdpaMask::PerKey as u32, ..zero_options() });
    assert_eq!(call(SHAPE, t, n, so, &no_mask), SdpaStatus::NullPointer);

    let keep = [1u8; 64];
    let masked =
        head_options(SdpaOptions { mask_kind: SdpaMask::PerKey as u32, mask: keep.as_ptr(), ..zero_options() });
    for bad in [SdpaHeadOptions { mask_broadcast: 4, ..masked }, SdpaHeadOptions { bias_broadcast: 9, ..masked }] {
        assert_eq!(call(SHAPE, t, n, so, &bad), SdpaStatus::InvalidOption);
    }
    assert_eq!(
        call(SHAPE, t, n, so, &head_options(SdpaOptions { flags: 1 << 9, ..zero_options() })),
        SdpaStatus::InvalidOption
    );

    assert_eq!(call(SdpaHeadShape { keys: 0, ..SHAPE }, t, n, so, ptr::null()), SdpaStatus::ZeroDimension);
    assert_eq!(call(SdpaHeadShape { batch: 0, ..SHAPE }, t, n, so, ptr::null()), SdpaStatus::ZeroDimension);
    assert_eq!(call(SdpaHeadShape { kv_heads: 3, ..SHAPE }, t, n, so, ptr::null()), SdpaStatus::UnsupportedShape);

    // A mask whose entries overflow size_t; a misaligned buffer.
    let huge = SdpaHeadShape { batch: usize::MAX / 2, ..SHAPE };
    let per_batch = SdpaHeadOptions { mask_broadcast: SdpaBroadcast::PerBatch as u32, ..masked };
    assert_eq!(call(huge, t, n, so, &per_batch), SdpaStatus::SizeOverflow);
    let mut odd = t;
    odd[1].data = unsafe { x.k.as_ptr().cast::<u8>().add(1).cast() };
    odd[1].len -= 1;
    assert_eq!(call(SHAPE, odd, n, so, ptr::null()), SdpaStatus::Misaligned);

    // The output buffer inside an input buffer.
    let mut shared = x.q.clone();
    let (q_in, out_in) = (shared.as_ptr(), unsafe { shared.as_mut_ptr().add(8) });
    let st = unsafe {
        sdpa_multihead_attention(
            SHAPE,
            SdpaTensor { data: q_in, len: x.q.len(), strides: x.s[0] },
            t[1],
            t[2],
            SdpaTensorMut { data: out_in, len: n, strides: so },
            ptr::null(),
        )
    };
    assert_eq!(st, SdpaStatus::Aliasing);
    assert!(shared == x.q);

    let mut bad_byte = keep;
    bad_byte[3] = 2;
    let bad_mask =
        head_options(SdpaOptions { mask_kind: SdpaMask::PerKey as u32, mask: bad_byte.as_ptr(), ..zero_options() });
    assert_eq!(call(SHAPE, t, n, so, &bad_mask), SdpaStatus::InvalidMask);

    // The library's view checks.
    let mut bad = t;
    bad[0].strides.dim = 2;
    assert_eq!(call(SHAPE, bad, n, so, ptr::null()), SdpaStatus::BadStride);
    let mut bad = t;
    bad[2].strides.token = 1;
    assert_eq!(call(SHAPE, bad, n, so, ptr::null()), SdpaStatus::BadStride);
    let mut bad = t;
    bad[1].len -= 2; // the last row ends one float before the end (the padding)
    assert_eq!(call(SHAPE, bad, n, so, ptr::null()), SdpaStatus::OutOfBounds);
    let mut bad = t;
    bad[0].strides.batch = usize::MAX;
    assert_eq!(call(SHAPE, bad, n, so, ptr::null()), SdpaStatus::OutOfBounds);
    assert_eq!(call(SHAPE, t, n - 1, so, ptr::null()), SdpaStatus::OutOfBounds);
    assert_eq!(call(SHAPE, t, n, SdpaStrides { head: 1, ..so }, ptr::null()), SdpaStatus::OutputOverlap);
    assert_eq!(call(SHAPE, t, n, SdpaStrides { batch: 0, ..so }, ptr::null()), SdpaStatus::OutputOverlap);
}
