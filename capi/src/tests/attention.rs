//! Attention through the C functions: numpy's seed toy, and every option
//! against the Rust runtime API bit for bit.

use super::{max_err, seed, shape, values, zero_options};
use crate::ffi::attention::{sdpa_attention, sdpa_attention_rows, sdpa_attention_weights};
use crate::{
    SDPA_FLAG_ALIBI, SDPA_FLAG_BOTTOM_RIGHT, SDPA_FLAG_CAUSAL, SDPA_FLAG_SCALE, SDPA_FLAG_WINDOW, SdpaMask,
    SdpaOptions, SdpaShape, SdpaStatus,
};
use core::mem::MaybeUninit;
use core::ptr;
use sdpa::runtime::{self, Bias, Mask, RuntimeOptions, Shape};
use std::vec;
use std::vec::Vec;

fn runtime_shape(s: SdpaShape) -> Shape {
    Shape { queries: s.queries, keys: s.keys, head_dim: s.head_dim, value_dim: s.value_dim }
}

#[test]
fn seed_toy_matches_numpy() {
    let (q, k, v) = (seed::q(), seed::k(), seed::v());
    let s = shape(3, 5, 4, 6);
    let (mut out, mut weights) = ([f32::NAN; 18], [f32::NAN; 15]);
    let status = unsafe {
        sdpa_attention_weights(
            s,
            q.as_ptr(),
            k.as_ptr(),
            v.as_ptr(),
            out.as_mut_ptr(),
            weights.as_mut_ptr(),
            ptr::null(),
        )
    };
    assert_eq!(status, SdpaStatus::Ok);
    let want_out: Vec<f64> = seed::OUT.iter().flatten().copied().collect();
    let want_w: Vec<f64> = seed::WEIGHTS.iter().flatten().copied().collect();
    assert!(max_err(&out, &want_out) < 1e-5, "{}", max_err(&out, &want_out));
    assert!(max_err(&weights, &want_w) < 1e-5, "{}", max_err(&weights, &want_w));

    // The fused call (online softmax; the weights call normalises first, so
    // the last bits may differ), with an explicit all-zero options struct.
    let mut fused = [f32::NAN; 18];
    let o = zero_options();
    assert_eq!(
        unsafe { sdpa_attention(s, q.as_ptr(), k.as_ptr(), v.as_ptr(), fused.as_mut_ptr(), &o) },
        SdpaStatus::Ok
    );
    assert!(max_err(&fused, &want_out) < 1e-5, "{}", max_err(&fused, &want_out));
}

#[test]
fn an_uninitialized_output_is_fine() {
    // C callers often pass uninitialized output buffers; the library
    // zero-fills before making a slice of them (Miri checks this).
    let (q, k, v) = (seed::q(), seed::k(), seed::v());
    let mut out = [MaybeUninit::<f32>::uninit(); 18];
    let status = unsafe {
        sdpa_attention(shape(3, 5, 4, 6), q.as_ptr(), k.as_ptr(), v.as_ptr(), out.as_mut_ptr().cast(), ptr::null())
    };
    assert_eq!(status, SdpaStatus::Ok);
    let out: Vec<f32> = out.iter().map(|x| unsafe { x.assume_init() }).collect();
    let want: Vec<f64> = seed::OUT.iter().flatten().copied().collect();
    assert!(max_err(&out, &want) < 1e-5);
}

/// One option mix: the C options and the same as Rust runtime options.
struct Case {
    name: &'static str,
    shape: SdpaShape,
    flags: u32,
    window: (usize, usize),
    mask: Option<SdpaMask>,
    bias: Option<SdpaMask>,
}

fn cases() -> Vec<Case> {
    let all = SDPA_FLAG_SCALE | SDPA_FLAG_CAUSAL | SDPA_FLAG_BOTTOM_RIGHT | SDPA_FLAG_WINDOW | SDPA_FLAG_ALIBI;
    vec![
        Case { name: "defaults", shape: shape(4, 9, 5, 3), flags: 0, window: (0, 0), mask: None, bias: None },
        Case {
            name: "causal bottom-right, key mask",
            shape: shape(5, 37, 8, 4),
            flags: SDPA_FLAG_CAUSAL | SDPA_FLAG_BOTTOM_RIGHT,
            window: (0, 0),
            mask: Some(SdpaMask::PerKey),
            bias: None,
        },
        Case {
            name: "every flag, per-query mask, per-key bias",
            shape: shape(6, 40, 3, 7),
            flags: all,
            window: (9, 2),
            mask: Some(SdpaMask::PerQuery),
            bias: Some(SdpaMask::PerKey),
        },
        Case {
            name: "window and ALiBi, per-query bias",
            shape: shape(7, 7, 4, 4),
            flags: SDPA_FLAG_WINDOW | SDPA_FLAG_ALIBI,
            window: (2, 1),
            mask: None,
            bias: Some(SdpaMask::PerQuery),
        },
    ]
}

/// Mask bytes (about one in four 0) and a bias with some `-inf`.
fn mask_and_bias(case: &Case) -> (Vec<u8>, Vec<f32>) {
    let n = |kind: Option<SdpaMask>| match kind {
        Some(SdpaMask::PerQuery) => case.shape.queries * case.shape.keys,
        Some(SdpaMask::PerKey) => case.shape.keys,
        _ => 0,
    };
    let mask = values(n(case.mask), 7).iter().map(|&x| u8::from(x > -0.5)).collect();
    let bias = values(n(case.bias), 8).iter().map(|&x| if x < -0.8 { f32::NEG_INFINITY } else { x }).collect();
    (mask, bias)
}

fn c_options(case: &Case, mask: &[u8], bias: &[f32]) -> SdpaOptions {
    SdpaOptions {
        flags: case.flags,
        scale: 0.3,
        alibi_slope: 0.25,
        mask_kind: case.mask.map_or(0, |m| m as u32),
        bias_kind: case.bias.map_or(0, |b| b as u32),
        window_left: case.window.0,
        window_right: case.window.1,
        mask: mask.as_ptr(),
        bias: bias.as_ptr(),
    }
}

fn rust_options<'a>(case: &Case, keep: &'a [bool], bias: &'a [f32]) -> RuntimeOptions<'a> {
    let mut o = RuntimeOptions::new();
    if case.flags & SDPA_FLAG_SCALE != 0 {
        o = o.scale(0.3);
    }
    if case.flags & SDPA_FLAG_CAUSAL != 0 {
        o = o.causal();
    }
    if case.flags & SDPA_FLAG_BOTTOM_RIGHT != 0 {
        o = o.alignment(sdpa::Alignment::BottomRight);
    }
    if case.flags & SDPA_FLAG_WINDOW != 0 {
        o = o.window(case.window.0, case.window.1);
    }
    if case.flags & SDPA_FLAG_ALIBI != 0 {
        o = o.alibi(0.25);
    }
    match case.mask {
        Some(SdpaMask::PerQuery) => o = o.mask(Mask::PerQuery(keep)),
        Some(SdpaMask::PerKey) => o = o.mask(Mask::PerKey(keep)),
        _ => {}
    }
    match case.bias {
        Some(SdpaMask::PerQuery) => o = o.bias(Bias::PerQuery(bias)),
        Some(SdpaMask::PerKey) => o = o.bias(Bias::PerKey(bias)),
        _ => {}
    }
    o
}

#[test]
fn every_option_gives_the_runtime_apis_bits() {
    for case in cases() {
        let s = case.shape;
        let q = values(s.queries * s.head_dim, 1);
        let k = values(s.keys * s.head_dim, 2);
        let v = values(s.keys * s.value_dim, 3);
        let (mask, bias) = mask_and_bias(&case);
        let keep: Vec<bool> = mask.iter().map(|&b| b == 1).collect();
        let c = c_options(&case, &mask, &bias);
        let r = rust_options(&case, &keep, &bias);

        let mut want = vec![0.0; s.queries * s.value_dim];
        runtime::attention(runtime_shape(s), &q, &k, &v, &mut want, &r).unwrap();
        let (mut want_wo, mut want_w) = (want.clone(), vec![0.0; s.queries * s.keys]);
        runtime::attention_weights(runtime_shape(s), &q, &k, &v, &mut want_wo, &mut want_w, &r).unwrap();

        let mut out = vec![f32::NAN; want.len()];
        let status = unsafe { sdpa_attention(s, q.as_ptr(), k.as_ptr(), v.as_ptr(), out.as_mut_ptr(), &c) };
        assert_eq!((status, &out), (SdpaStatus::Ok, &want), "{}", case.name);

        let (mut out_w, mut w) = (vec![f32::NAN; want.len()], vec![f32::NAN; want_w.len()]);
        let status = unsafe {
            sdpa_attention_weights(s, q.as_ptr(), k.as_ptr(), v.as_ptr(), out_w.as_mut_ptr(), w.as_mut_ptr(), &c)
        };
        assert_eq!((status, &out_w, &w), (SdpaStatus::Ok, &want_wo, &want_w), "{}", case.name);

        // Every split into two row ranges gives the same rows.
        for split in 1..s.queries {
            let mut top = vec![f32::NAN; split * s.value_dim];
            let mut bottom = vec![f32::NAN; (s.queries - split) * s.value_dim];
            let (qp, kp, vp) = (q.as_ptr(), k.as_ptr(), v.as_ptr());
            assert_eq!(unsafe { sdpa_attention_rows(s, qp, kp, vp, 0, split, top.as_mut_ptr(), &c) }, SdpaStatus::Ok);
            let rest = s.queries - split;
            assert_eq!(
                unsafe { sdpa_attention_rows(s, qp, kp, vp, split, rest, bottom.as_mut_ptr(), &c) },
                SdpaStatus::Ok
            );
            top.extend_from_slice(&bottom);
            assert_eq!(top, want, "{} split at {split}", case.name);
        }
    }
}

#[test]
fn k_and_v_may_be_one_buffer() {
    let s = shape(3, 6, 4, 4);
    let (q, kv) = (values(12, 4), values(24, 5));
    let mut out = [0.0f32; 12];
    let mut want = [0.0f32; 12];
    runtime::attention(runtime_shape(s), &q, &kv, &kv, &mut want, &RuntimeOptions::new()).unwrap();
    assert_eq!(
        unsafe { sdpa_attention(s, q.as_ptr(), kv.as_ptr(), kv.as_ptr(), out.as_mut_ptr(), ptr::null()) },
        SdpaStatus::Ok
    );
    assert_eq!(out, want);
}

#[test]
fn a_fully_masked_query_gets_zeros() {
    let s = shape(2, 3, 2, 2);
    let (q, k, v) = (values(4, 9), values(6, 10), values(6, 11));
    let mask = [0u8, 0, 0, 1, 0, 1];
    let o = SdpaOptions { mask_kind: SdpaMask::PerQuery as u32, mask: mask.as_ptr(), ..zero_options() };
    let (mut out, mut w) = ([f32::NAN; 4], [f32::NAN; 6]);
    let status =
        unsafe { sdpa_attention_weights(s, q.as_ptr(), k.as_ptr(), v.as_ptr(), out.as_mut_ptr(), w.as_mut_ptr(), &o) };
    assert_eq!(status, SdpaStatus::Ok);
    assert_eq!(&out[..2], &[0.0, 0.0]);
    assert_eq!(&w[..3], &[0.0, 0.0, 0.0]);
    assert!(out[2..].iter().all(|x| x.is_finite()));
}
