//! The const-generic multi-head call against the loop over heads of
//! `sdpa::attention`, bit for bit: BHSD and BSHD nested arrays, padded
//! strided views over NaN-filled buffers, GQA and MQA, every mask and bias
//! method of `multihead::HeadOptions`, and ALiBi per head. Also: borrowed
//! arrays and `Matrix` give the same bits in the single-head calls, and
//! the const form equals the runtime form. Each comparison runs on every
//! backend the build and CPU support.

use sdpa::multihead::{self, HeadOptions, Heads, HeadsMut, Strides, ViewError, runtime as mh};
use sdpa::{Matrix, attention, attention_rows, attention_weights};
use sdpa_oracle::backend::each_backend;

/// A deterministic value in `[-2, 2)` for each index tuple and salt.
fn value(salt: u64, idx: [usize; 4]) -> f32 {
    let mut z = salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for i in idx {
        z = (z ^ i as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z ^= z >> 29;
    }
    (z >> 40) as f32 / (1u64 << 22) as f32 - 2.0
}

fn bhsd<const B: usize, const H: usize, const N: usize, const D: usize>(salt: u64) -> Box<[[[[f32; D]; N]; H]; B]> {
    Box::new(core::array::from_fn(|b| {
        core::array::from_fn(|h| core::array::from_fn(|t| core::array::from_fn(|i| value(salt, [b, h, t, i]))))
    }))
}

fn to_bshd<const B: usize, const H: usize, const N: usize, const D: usize>(
    x: &[[[[f32; D]; N]; H]; B],
) -> Box<[[[[f32; D]; H]; N]; B]> {
    Box::new(core::array::from_fn(|b| core::array::from_fn(|t| core::array::from_fn(|h| x[b][h][t]))))
}

/// The tensor in a NaN-filled buffer, tokens outermost within a batch
/// entry, with padding after every row, head and batch entry.
fn padded<const B: usize, const H: usize, const N: usize, const D: usize>(
    x: &[[[[f32; D]; N]; H]; B],
) -> (Vec<f32>, Strides) {
    let head = D + 1;
    let token = H * head + 3;
    let batch = N * token + 2;
    let s = Strides { batch, head, token, dim: 1 };
    let mut buf = vec![f32::NAN; B * batch + 5];
    for (b, heads) in x.iter().enumerate() {
        for (h, rows) in heads.iter().enumerate() {
            for (t, row) in rows.iter().enumerate() {
                let at = b * batch + h * head + t * token;
                buf[at..at + D].copy_from_slice(row);
            }
        }
    }
    (buf, s)
}

fn bits<const R: usize, const C: usize>(x: &[[f32; C]; R]) -> Vec<u32> {
    x.as_flattened().iter().map(|v| v.to_bits()).collect()
}

/// Checks every layout of the const form, and the runtime form, against
/// the head loop with `per_head(b, h)` as each head's options.
fn check<
    const B: usize,
    const H: usize,
    const KVH: usize,
    const NQ: usize,
    const NK: usize,
    const D: usize,
    const DV: usize,
>(
    options: &HeadOptions<'_, B, H, NQ, NK>,
    per_head: impl Fn(usize, usize) -> sdpa::Options<'static, NQ, NK>,
    what: &str,
) {
    each_backend(|b| check_on::<B, H, KVH, NQ, NK, D, DV>(options, &per_head, &format!("{b}: {what}")));
}

fn check_on<
    const B: usize,
    const H: usize,
    const KVH: usize,
    const NQ: usize,
    const NK: usize,
    const D: usize,
    const DV: usize,
>(
    options: &HeadOptions<'_, B, H, NQ, NK>,
    per_head: impl Fn(usize, usize) -> sdpa::Options<'static, NQ, NK>,
    what: &str,
) {
    let (q, k, v) = (bhsd::<B, H, NQ, D>(1), bhsd::<B, KVH, NK, D>(2), bhsd::<B, KVH, NK, DV>(3));
    let mut want = bhsd::<B, H, NQ, DV>(0);
    for b in 0..B {
        for h in 0..H {
            let g = h / (H / KVH);
            attention(&q[b][h], &k[b][g], &v[b][g], &mut want[b][h], &per_head(b, h));
        }
    }
    let want_bits: Vec<Vec<u32>> = want.iter().flat_map(|heads| heads.iter().map(bits)).collect();
    let compare = |got: &[[[[f32; DV]; NQ]; H]; B], layout: &str| {
        let got_bits: Vec<Vec<u32>> = got.iter().flat_map(|heads| heads.iter().map(bits)).collect();
        assert!(got_bits == want_bits, "{what}, {layout}: differs from the head loop");
    };

    let mut out = bhsd::<B, H, NQ, DV>(0);
    multihead::attention(Heads::bhsd(&q), Heads::bhsd(&k), Heads::bhsd(&v), HeadsMut::bhsd(&mut out), options);
    compare(&out, "BHSD");

    let (qs, ks, vs) = (to_bshd(&q), to_bshd(&k), to_bshd(&v));
    let mut out_s = to_bshd(&bhsd::<B, H, NQ, DV>(0));
    multihead::attention(Heads::bshd(&qs), Heads::bshd(&ks), Heads::bshd(&vs), HeadsMut::bshd(&mut out_s), options);
    let back: Box<[[[[f32; DV]; NQ]; H]; B]> =
        Box::new(core::array::from_fn(|b| core::array::from_fn(|h| core::array::from_fn(|t| out_s[b][t][h]))));
    compare(&back, "BSHD");

    let ((qp, qst), (kp, kst), (vp, vst)) = (padded(&q), padded(&k), padded(&v));
    let (mut op, ost) = padded(&bhsd::<B, H, NQ, DV>(0));
    let sentinel = f32::from_bits(0x7fc5_a5a5);
    let row_starts: Vec<usize> = (0..B)
        .flat_map(|b| (0..H).flat_map(move |h| (0..NQ).map(move |t| b * ost.batch + h * ost.head + t * ost.token)))
        .collect();
    let inside = |i: usize| row_starts.iter().any(|&s| (s..s + DV).contains(&i));
    op.iter_mut().enumerate().filter(|(i, _)| !inside(*i)).for_each(|(_, x)| *x = sentinel);
    multihead::attention(
        Heads::<B, H, NQ, D>::strided(&qp, qst).unwrap(),
        Heads::<B, KVH, NK, D>::strided(&kp, kst).unwrap(),
        Heads::<B, KVH, NK, DV>::strided(&vp, vst).unwrap(),
        HeadsMut::strided(&mut op, ost).unwrap(),
        options,
    );
    let got: Box<[[[[f32; DV]; NQ]; H]; B]> = Box::new(core::array::from_fn(|b| {
        core::array::from_fn(|h| {
            core::array::from_fn(|t| {
                let at = b * ost.batch + h * ost.head + t * ost.token;
                op[at..at + DV].try_into().unwrap()
            })
        })
    }));
    compare(&got, "padded strided");
    assert!(
        op.iter().enumerate().all(|(i, x)| inside(i) || x.to_bits() == sentinel.to_bits()),
        "{what}: padding written"
    );

    // The runtime form: the same bits.
    let shape = mh::Shape { batch: B, q_heads: H, kv_heads: KVH, queries: NQ, keys: NK, head_dim: D, value_dim: DV };
    let flat = |x: &[[[[f32; D]; NK]; KVH]; B]| x.as_flattened().as_flattened().as_flattened().to_vec();
    let (kf, qf) = (flat(&k), q.as_flattened().as_flattened().as_flattened().to_vec());
    let vf = v.as_flattened().as_flattened().as_flattened().to_vec();
    let mut of = vec![0.0; B * H * NQ * DV];
    let r = mh::attention(
        shape,
        mh::View::new(&qf, Strides::bhsd(H, NQ, D)),
        mh::View::new(&kf, Strides::bhsd(KVH, NK, D)),
        mh::View::new(&vf, Strides::bhsd(KVH, NK, DV)),
        mh::ViewMut::new(&mut of, Strides::bhsd(H, NQ, DV)),
        &options.to_runtime(),
    );
    assert_eq!(r, Ok(()));
    assert!(of.iter().map(|x| x.to_bits()).eq(want_bits.iter().flatten().copied()), "{what}: runtime form differs");
}

fn plain<const NQ: usize, const NK: usize>() -> impl Fn(usize, usize) -> sdpa::Options<'static, NQ, NK> {
    |_, _| sdpa::Options::new()
}

#[test]
fn every_layout_equals_the_head_loop() {
    // MHA, GQA, MQA; tiny, tiled and row engines.
    check::<2, 4, 2, 3, 5, 4, 6>(&HeadOptions::new(), plain(), "GQA toy");
    check::<1, 3, 1, 9, 17, 8, 5>(&HeadOptions::new(), plain(), "MQA");
    check::<2, 2, 2, 33, 20, 16, 16>(&HeadOptions::new(), plain(), "MHA, tiled");
    check::<1, 2, 1, 1, 40, 8, 8>(&HeadOptions::new(), plain(), "decode");
    check::<1, 1, 1, 1, 1, 1, 1>(&HeadOptions::new(), plain(), "1x1");
    let causal = HeadOptions::new().causal().window(4, 1).scale(0.3);
    check::<2, 2, 1, 33, 20, 16, 16>(&causal, |_, _| sdpa::Options::new().causal().window(4, 1).scale(0.3), "causal");
    let bottom = HeadOptions::new().causal().alignment(sdpa::Alignment::BottomRight).alibi(0.25);
    check::<1, 4, 2, 3, 7, 5, 2>(
        &bottom,
        |_, _| sdpa::Options::new().causal().alignment(sdpa::Alignment::BottomRight).alibi(0.25),
        "bottom-right ALiBi",
    );
}

/// Leaks a value so per-head options can borrow it for `'static`.
fn leak<T>(x: T) -> &'static T {
    Box::leak(Box::new(x))
}

#[test]
fn every_mask_and_bias_method_and_alibi_per_head() {
    const B: usize = 2;
    const H: usize = 4;
    const NQ: usize = 3;
    const NK: usize = 5;
    type O = HeadOptions<'static, B, H, NQ, NK>;
    let m = |b: usize, h: usize, i: usize, j: usize| value(9, [b, h, i, j]) > -1.2;
    let x = |b: usize, h: usize, i: usize, j: usize| {
        let x = value(10, [b, h, i, j]);
        if x < -1.6 { f32::NEG_INFINITY } else { x }
    };
    let full = leak::<[[[[bool; NK]; NQ]; H]; B]>(core::array::from_fn(|b| {
        core::array::from_fn(|h| core::array::from_fn(|i| core::array::from_fn(|j| m(b, h, i, j))))
    }));
    let keys = leak::<[[[bool; NK]; H]; B]>(core::array::from_fn(|b| {
        core::array::from_fn(|h| core::array::from_fn(|j| m(b, h, 7, j)))
    }));
    let fbias = leak::<[[[[f32; NK]; NQ]; H]; B]>(core::array::from_fn(|b| {
        core::array::from_fn(|h| core::array::from_fn(|i| core::array::from_fn(|j| x(b, h, i, j))))
    }));
    let kbias = leak::<[[[f32; NK]; H]; B]>(core::array::from_fn(|b| {
        core::array::from_fn(|h| core::array::from_fn(|j| x(b, h, 7, j)))
    }));
    let mat = |b: usize, h: usize| leak(Matrix::from_rows(fbias[b][h]));
    type Single = sdpa::Options<'static, NQ, NK>;
    let s = Single::new;
    type PerHead = Box<dyn Fn(usize, usize) -> Single>;
    let cases: Vec<(&str, O, PerHead)> = vec![
        ("mask", O::new().mask(&full[0][0]), Box::new(move |_, _| s().mask(&full[0][0]))),
        ("key_mask", O::new().key_mask(&keys[0][0]), Box::new(move |_, _| s().key_mask(&keys[0][0]))),
        ("head_mask", O::new().head_mask(&full[0]), Box::new(move |_, h| s().mask(&full[0][h]))),
        ("head_key_mask", O::new().head_key_mask(&keys[0]), Box::new(move |_, h| s().key_mask(&keys[0][h]))),
        (
            "batch_mask",
            O::new().batch_mask(leak(core::array::from_fn(|b| full[b][0]))),
            Box::new(move |b, _| s().mask(&full[b][0])),
        ),
        (
            "batch_key_mask",
            O::new().batch_key_mask(leak(core::array::from_fn(|b| keys[b][0]))),
            Box::new(move |b, _| s().key_mask(&keys[b][0])),
        ),
        ("batch_head_mask", O::new().batch_head_mask(full), Box::new(move |b, h| s().mask(&full[b][h]))),
        ("batch_head_key_mask", O::new().batch_head_key_mask(keys), Box::new(move |b, h| s().key_mask(&keys[b][h]))),
        ("bias", O::new().bias(&fbias[0][0]), Box::new(move |_, _| s().bias(mat(0, 0)))),
        ("key_bias", O::new().key_bias(&kbias[0][0]), Box::new(move |_, _| s().key_bias(&kbias[0][0]))),
        ("head_bias", O::new().head_bias(&fbias[1]), Box::new(move |_, h| s().bias(mat(1, h)))),
        ("head_key_bias", O::new().head_key_bias(&kbias[1]), Box::new(move |_, h| s().key_bias(&kbias[1][h]))),
        (
            "batch_bias",
            O::new().batch_bias(leak(core::array::from_fn(|b| fbias[b][2]))),
            Box::new(move |b, _| s().bias(mat(b, 2))),
        ),
        (
            "batch_key_bias",
            O::new().batch_key_bias(leak(core::array::from_fn(|b| kbias[b][2]))),
            Box::new(move |b, _| s().key_bias(&kbias[b][2])),
        ),
        ("batch_head_bias", O::new().batch_head_bias(fbias), Box::new(move |b, h| s().bias(mat(b, h)))),
        ("batch_head_key_bias", O::new().batch_head_key_bias(kbias), Box::new(move |b, h| s().key_bias(&kbias[b][h]))),
    ];
    for (what, o, per_head) in cases {
        check::<B, H, 2, NQ, NK, 4, 6>(&o, &per_head, what);
        // Combined with causal and a later mask replacing nothing of the bias.
        let causal = o.causal();
        check::<B, H, 2, NQ, NK, 4, 6>(&causal, |b, h| per_head(b, h).causal(), what);
    }
    let slopes = leak(sdpa::layer::alibi_slopes::<H>());
    let o = O::new().causal().alibi(9.0).alibi_slopes(slopes);
    check::<B, H, 1, NQ, NK, 4, 6>(&o, |_, h| s().causal().alibi(slopes[h]), "ALiBi per head");
    // Masks and ALiBi together, on the row engine with many keys.
    let big_keep = leak(
        [[
            true, false, true, true, false, true, true, true, true, true, true, false, true, true, true, true, true,
            false, true, true,
        ]; 2],
    );
    let o = HeadOptions::<2, 2, 2, 20>::new().batch_key_mask(big_keep).alibi_slopes(leak([0.5, 0.125]));
    check::<2, 2, 2, 2, 20, 8, 8>(
        &o,
        |b, h| sdpa::Options::new().key_mask(&big_keep[b]).alibi([0.5, 0.125][h]),
        "padding + ALiBi",
    );
}

#[test]
fn strided_views_are_checked_when_made() {
    let data = [0.0f32; 40];
    // 1 batch entry, 2 heads of 3 rows of 4: needs 24 elements as BHSD.
    assert!(Heads::<1, 2, 3, 4>::strided(&data[..24], Strides::bhsd(2, 3, 4)).is_ok());
    assert_eq!(Heads::<1, 2, 3, 4>::strided(&data[..23], Strides::bhsd(2, 3, 4)).unwrap_err(), ViewError::OutOfBounds);
    let s = Strides { dim: 2, ..Strides::bhsd(2, 3, 4) };
    assert_eq!(Heads::<1, 2, 3, 4>::strided(&data, s).unwrap_err(), ViewError::DimStride);
    let s = Strides { token: 3, ..Strides::bhsd(2, 3, 4) };
    assert_eq!(Heads::<1, 2, 3, 4>::strided(&data, s).unwrap_err(), ViewError::TokenStride);
    // Inputs may repeat a head; outputs may not.
    let s = Strides { head: 0, ..Strides::bhsd(2, 3, 4) };
    assert!(Heads::<1, 2, 3, 4>::strided(&data, s).is_ok());
    let mut out = [0.0f32; 40];
    assert_eq!(HeadsMut::<1, 2, 3, 4>::strided(&mut out, s).unwrap_err(), ViewError::Overlap);
    let s = Strides { batch: usize::MAX, ..Strides::bhsd(2, 3, 4) };
    assert!(HeadsMut::<1, 2, 3, 4>::strided(&mut out, s).is_ok(), "a stride of an axis of extent 1 is ignored");
    assert_eq!(HeadsMut::<2, 2, 3, 4>::strided(&mut out, s).unwrap_err(), ViewError::OutOfBounds);
}

#[test]
fn borrowed_arrays_and_matrices_give_the_same_bits() {
    each_backend(|_| borrowed_on_this_backend());
}

fn borrowed_on_this_backend() {
    let q: [[f32; 5]; 3] = core::array::from_fn(|r| core::array::from_fn(|c| value(1, [r, c, 0, 0])));
    let k: [[f32; 5]; 7] = core::array::from_fn(|r| core::array::from_fn(|c| value(2, [r, c, 0, 0])));
    let v: [[f32; 2]; 7] = core::array::from_fn(|r| core::array::from_fn(|c| value(3, [r, c, 0, 0])));
    let o = sdpa::Options::new().causal().alibi(0.1);
    let (qm, km, vm) = (Matrix::from_rows(q), Box::new(Matrix::from_rows(k)), Matrix::from_rows(v));
    let (mut out_m, mut out_a) = (Matrix::zeros(), [[0.0f32; 2]; 3]);
    attention(&qm, &km, &vm, &mut out_m, &o);
    attention(&q, &k, &v, &mut out_a, &o);
    assert_eq!(bits(&out_a), bits(&out_m));
    // Rows misaligned for AVX-512 (offset by one float) give the same bits too.
    let mut shifted = [[0.0f32; 5]; 8];
    shifted[1..].copy_from_slice(&k);
    let k_off: &[[f32; 5]; 7] = shifted[1..].try_into().unwrap();
    let mut out_off = [[0.0f32; 2]; 3];
    attention(&q, k_off, &v, &mut out_off, &o);
    assert_eq!(bits(&out_off), bits(&out_m));

    let (mut w_out, mut w) = ([[0.0f32; 2]; 3], [[0.0f32; 7]; 3]);
    let (mut wm_out, mut wm) = (Matrix::zeros(), Box::new(Matrix::<3, 7>::zeros()));
    attention_weights(&q, &k, &v, &mut w_out, &mut w, &o);
    attention_weights(&qm, &km, &vm, &mut wm_out, &mut wm, &o);
    assert_eq!((bits(&w_out), bits(&w)), (bits(&wm_out), bits(&wm)));
    let mut rows = [[0.0f32; 2]; 2];
    assert_eq!(attention_rows(&q, &k, &v, 1, &mut rows, &o), 2);
    assert_eq!(bits(&rows), bits(&[out_m[1], out_m[2]]));
}
