//! Keys and values stored as binary16 or bfloat16, on every backend:
//!
//! - the same bits as the `f32` call on the widened K/V, on the same engine
//!   (the row engine, which every 16-bit call runs on), through the runtime
//!   and const-generic multi-head forms;
//! - within the attention bound of the f64 reference of the *rounded*
//!   inputs, and within that bound plus the documented rounding term of
//!   the f64 reference of the unrounded ones;
//! - NaN in masked 16-bit K/V rows does not leak;
//! - the layer's decode step with a 16-bit cache: the bits of the `f32`
//!   cache when every key and value is exact in 16 bits.

use sdpa::layer::{DecodeScratch, KvCache, Positions, SelfAttention, Weights};
use sdpa::multihead::runtime::{self as mh, RuntimeHeadOptions, Shape, View, ViewMut};
use sdpa::multihead::{self, Broadcast, Heads, HeadsMut, Strides};
use sdpa::runtime::{Bias, Mask};
use sdpa::{Alignment, Bf16, F16, KvElement, Settings, Window};
use sdpa_oracle::backend::{Engine, each_backend, with_engine};
use sdpa_oracle::{Case, Rng};

/// `(relative, absolute)` rounding of an element type on finite values
/// inside its range: half an ulp of 11 (binary16) or 8 (bfloat16)
/// significant bits, and half the smallest subnormal.
fn rounding<E: KvElement>() -> (f64, f64) {
    match size_of::<E>() {
        4 => (0.0, 0.0),
        _ if E::from_f32(1.0 + 1.0 / 1024.0).to_f32() != 1.0 => (2f64.powi(-11), 2f64.powi(-25)),
        _ => (2f64.powi(-8), 2f64.powi(-134)),
    }
}

/// Settings, a per-key mask and a per-key bias.
type Mix = (Settings, Option<Vec<bool>>, Option<Vec<f32>>);

/// The option mixes every shape runs with.
fn mixes(rng: &mut Rng, nk: usize) -> Vec<Mix> {
    let base = Settings::default();
    let causal = Settings { causal: true, alignment: Alignment::BottomRight, ..base };
    let keep: Vec<bool> = (0..nk).map(|_| rng.bool(0.7)).collect();
    let bias: Vec<f32> =
        (0..nk).map(|_| if rng.bool(0.2) { f32::NEG_INFINITY } else { rng.uniform(-2.0, 2.0) }).collect();
    vec![
        (base, None, None),
        (causal, None, None),
        (Settings { window: Some(Window { left: 9, right: 0 }), ..causal }, None, None),
        (Settings { alibi_slope: Some(0.25), scale: Some(0.3), ..causal }, None, None),
        (base, Some(keep.clone()), None),
        (causal, Some(keep), Some(bias)),
    ]
}

/// Multi-head options of one mix, for `heads` heads sharing one mask and bias.
fn options<'a>(settings: Settings, keep: &'a Option<Vec<bool>>, bias: &'a Option<Vec<f32>>) -> RuntimeHeadOptions<'a> {
    let mut o = RuntimeHeadOptions::new().with_settings(settings);
    if let Some(m) = keep {
        o = o.mask(Mask::PerKey(m), Broadcast::Shared);
    }
    if let Some(b) = bias {
        o = o.bias(Bias::PerKey(b), Broadcast::Shared);
    }
    o
}

/// One head's f32 problem for the oracle, its mask and bias repeated per query.
fn case(
    nq: usize,
    nk: usize,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    mix: &(Settings, Option<Vec<bool>>, Option<Vec<f32>>),
) -> Case {
    let (d, dv) = (q.len() / nq, v.len() / nk);
    fn repeat<T: Copy>(x: &[T], n: usize) -> Vec<T> {
        x.iter().cycle().take(n).copied().collect()
    }
    Case {
        nq,
        nk,
        d,
        dv,
        q: q.to_vec(),
        k: k.to_vec(),
        v: v.to_vec(),
        settings: mix.0,
        mask: mix.1.as_ref().map(|m| repeat(m, nq * nk)),
        bias: mix.2.as_ref().map(|b| repeat(b, nq * nk)),
    }
}

/// Shapes `(heads, kv heads, queries, keys, head dim, value dim)`: W8's
/// decode, GQA decode, and prefill-like shapes off the lane and block sizes.
const SHAPES: [(usize, usize, usize, usize, usize, usize); 5] = [
    (1, 1, 1, 1024, 64, 64),
    (4, 2, 1, 77, 64, 64),
    (2, 1, 3, 100, 20, 13),
    (2, 2, 17, 65, 32, 48),
    (1, 1, 8, 33, 7, 9),
];

/// Every shape and mix, on every backend, with `E` K/V in BSHD layout:
/// bit-equal to the f32 call on the widened K/V (row engine), within the
/// oracle bound of the rounded inputs, and within that plus the rounding
/// term of the unrounded inputs.
fn check<E: KvElement>(seed: u64) {
    let (eps, eta) = rounding::<E>();
    let mut worst = [0.0f64; 2];
    each_backend(|backend| {
        let mut rng = Rng::new(seed);
        for (h, kvh, nq, nk, d, dv) in SHAPES {
            let shape =
                Shape { batch: 1, q_heads: h, kv_heads: kvh, queries: nq, keys: nk, head_dim: d, value_dim: dv };
            for mix in mixes(&mut rng, nk) {
                let mut draw = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.uniform(-2.0, 2.0)).collect() };
                let (q, k, v) = (draw(nq * h * d), draw(nk * kvh * d), draw(nk * kvh * dv));
                let (k16, v16): (Vec<E>, Vec<E>) =
                    (k.iter().map(|&x| E::from_f32(x)).collect(), v.iter().map(|&x| E::from_f32(x)).collect());
                let (kw, vw): (Vec<f32>, Vec<f32>) =
                    (k16.iter().map(|x| x.to_f32()).collect(), v16.iter().map(|x| x.to_f32()).collect());
                let (qs, ks, vs, os) = (
                    Strides::bshd(nq, h, d),
                    Strides::bshd(nk, kvh, d),
                    Strides::bshd(nk, kvh, dv),
                    Strides::bshd(nq, h, dv),
                );
                let o = options(mix.0, &mix.1, &mix.2);
                let mut got = vec![0.0f32; nq * h * dv];
                mh::attention(
                    shape,
                    View::new(&q, qs),
                    View::new(&k16, ks),
                    View::new(&v16, vs),
                    ViewMut::new(&mut got, os),
                    &o,
                )
                .unwrap();
                let mut wide = vec![0.0f32; nq * h * dv];
                with_engine(Engine::Rows, || {
                    mh::attention(
                        shape,
                        View::new(&q, qs),
                        View::new(&kw, ks),
                        View::new(&vw, vs),
                        ViewMut::new(&mut wide, os),
                        &o,
                    )
                })
                .unwrap();
                let what = format!("{backend} {} K/V, shape {shape:?}, {:?}", core::any::type_name::<E>(), mix.0);
                assert!(
                    got.iter().zip(&wide).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{what}: not the bits of the widened f32 call"
                );

                for head in 0..h {
                    let g = head / (h / kvh);
                    let rows = |x: &[f32], n: usize, heads: usize, hh: usize, w: usize| -> Vec<f32> {
                        (0..n).flat_map(|t| x[(t * heads + hh) * w..][..w].to_vec()).collect()
                    };
                    let qh = rows(&q, nq, h, head, d);
                    let rounded = case(nq, nk, &qh, &rows(&kw, nk, kvh, g, d), &rows(&vw, nk, kvh, g, dv), &mix);
                    let exact = case(nq, nk, &qh, &rows(&k, nk, kvh, g, d), &rows(&v, nk, kvh, g, dv), &mix);
                    let (want_rounded, want_exact) = (rounded.view().attention64(), exact.view().attention64());
                    let scale = rounded.view().scale() as f64;
                    for i in 0..nq {
                        let bounds = rounded.view().row_bounds(i);
                        // What rounding K and V adds (README, Accuracy): the score change
                        // Δₖ = |scale|·maxⱼ Σ|q|·(ε|k| + η), the value change ε·|v| + η.
                        let dk = (0..nk)
                            .filter(|&j| exact.view().visible(i, j))
                            .map(|j| {
                                let kj = exact.view().k_row(j);
                                scale.abs()
                                    * qh[i * d..][..d]
                                        .iter()
                                        .zip(kj)
                                        .map(|(a, b)| (*a as f64).abs() * (eps * (*b as f64).abs() + eta))
                                        .sum::<f64>()
                            })
                            .fold(0.0, f64::max);
                        let vabs = exact.view().visible_values(i).abs;
                        for c in 0..dv {
                            let out = got[(i * h + head) * dv + c] as f64;
                            let bound = bounds.oracle(c);
                            let err = (out - want_rounded[i * dv + c]).abs();
                            assert!(
                                err <= bound,
                                "{what}: head {head} out[{i}][{c}] = {out}, f64 of the rounded inputs {}, bound {bound:e}",
                                want_rounded[i * dv + c]
                            );
                            let added = vabs[c] * ((2.0 * dk).exp_m1() + eps) + eta;
                            let err_exact = (out - want_exact[i * dv + c]).abs();
                            assert!(
                                err_exact <= bound + added,
                                "{what}: head {head} out[{i}][{c}] = {out}, f64 of the unrounded inputs {}, bound {:e}",
                                want_exact[i * dv + c],
                                bound + added
                            );
                            worst[0] = worst[0].max(err / bound);
                            worst[1] = worst[1].max(err_exact / (bound + added));
                        }
                    }
                }
            }
        }
    });
    println!(
        "{} K/V: at most {:.2} % of the bound against the rounded inputs, {:.2} % of bound + rounding against the unrounded ones",
        core::any::type_name::<E>(),
        100.0 * worst[0],
        100.0 * worst[1]
    );
}

#[test]
fn f16_kv_matches_widened_f32_and_the_oracle() {
    check::<F16>(0x16);
}

#[test]
fn bf16_kv_matches_widened_f32_and_the_oracle() {
    check::<Bf16>(0xbf16);
}

/// The const-generic multi-head form with F16 K/V (BHSD arrays): the bits
/// of the runtime form, and of the f32 call on the widened values.
#[test]
fn const_generic_f16_matches_runtime() {
    const B: usize = 2;
    const H: usize = 4;
    const KVH: usize = 2;
    const NQ: usize = 2;
    const NK: usize = 40;
    const D: usize = 16;
    each_backend(|_| {
        let mut rng = Rng::new(7);
        let mut q = [[[[0.0f32; D]; NQ]; H]; B];
        let mut kw = [[[[0.0f32; D]; NK]; KVH]; B];
        let mut vw = [[[[0.0f32; D]; NK]; KVH]; B];
        rng.fill(q.as_flattened_mut().as_flattened_mut().as_flattened_mut(), -1.0, 1.0);
        for x in kw.as_flattened_mut().as_flattened_mut().as_flattened_mut() {
            *x = F16::from_f32(rng.uniform(-3.0, 3.0)).to_f32();
        }
        for x in vw.as_flattened_mut().as_flattened_mut().as_flattened_mut() {
            *x = F16::from_f32(rng.uniform(-3.0, 3.0)).to_f32();
        }
        let k = kw.map(|b| b.map(|h| h.map(|r| r.map(F16::from_f32))));
        let v = vw.map(|b| b.map(|h| h.map(|r| r.map(F16::from_f32))));
        let o = multihead::HeadOptions::new().causal();
        let mut out = [[[[0.0f32; D]; NQ]; H]; B];
        multihead::attention(Heads::bhsd(&q), Heads::bhsd(&k), Heads::bhsd(&v), HeadsMut::bhsd(&mut out), &o);
        let mut wide = [[[[0.0f32; D]; NQ]; H]; B];
        with_engine(Engine::Rows, || {
            multihead::attention(Heads::bhsd(&q), Heads::bhsd(&kw), Heads::bhsd(&vw), HeadsMut::bhsd(&mut wide), &o)
        });
        let bits = |x: &[[[[f32; D]; NQ]; H]; B]| {
            x.as_flattened().as_flattened().as_flattened().iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        };
        assert_eq!(bits(&out), bits(&wide));
        let mut runtime = [[[[0.0f32; D]; NQ]; H]; B];
        let shape = Shape { batch: B, q_heads: H, kv_heads: KVH, queries: NQ, keys: NK, head_dim: D, value_dim: D };
        let flat = |x: &[[[[F16; D]; NK]; KVH]; B]| x.as_flattened().as_flattened().as_flattened().to_vec();
        let (kf, vf) = (flat(&k), flat(&v));
        let (qs, kvs) = (Strides::bhsd(H, NQ, D), Strides::bhsd(KVH, NK, D));
        let out_view = ViewMut::new(runtime.as_flattened_mut().as_flattened_mut().as_flattened_mut(), qs);
        let qv = View::new(q.as_flattened().as_flattened().as_flattened(), qs);
        mh::attention(shape, qv, View::new(&kf, kvs), View::new(&vf, kvs), out_view, &o.to_runtime()).unwrap();
        assert_eq!(bits(&out), bits(&runtime));
    });
}

/// NaN (every NaN payload the 16-bit types have, and ±∞) in the K and V rows
/// of masked keys changes no bit of the output.
#[test]
fn masked_16_bit_rows_are_never_read() {
    fn run<E: KvElement>(poison: E) {
        let (nk, d) = (37, 24);
        let shape = Shape { batch: 1, q_heads: 1, kv_heads: 1, queries: 1, keys: nk, head_dim: d, value_dim: d };
        let mut rng = Rng::new(3);
        let q: Vec<f32> = (0..d).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let k: Vec<E> = (0..nk * d).map(|_| E::from_f32(rng.uniform(-1.0, 1.0))).collect();
        let v: Vec<E> = (0..nk * d).map(|_| E::from_f32(rng.uniform(-1.0, 1.0))).collect();
        let keep: Vec<bool> = (0..nk).map(|j| j % 3 != 1).collect();
        let o = RuntimeHeadOptions::new().mask(Mask::PerKey(&keep), Broadcast::Shared);
        let s = Strides::bhsd(1, nk, d);
        let call = |k: &[E], v: &[E]| {
            let mut out = vec![0.0f32; d];
            mh::attention(
                shape,
                View::new(&q, Strides::bhsd(1, 1, d)),
                View::new(k, s),
                View::new(v, s),
                ViewMut::new(&mut out, Strides::bhsd(1, 1, d)),
                &o,
            )
            .unwrap();
            out.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        };
        let (mut kp, mut vp) = (k.clone(), v.clone());
        for j in (0..nk).filter(|&j| !keep[j]) {
            kp[j * d..][..d].fill(poison);
            vp[j * d..][..d].fill(poison);
        }
        assert_eq!(call(&k, &v), call(&kp, &vp));
    }
    each_backend(|_| {
        for bits in [0x7c00, 0xfc00, 0x7e00, 0x7c01, 0xffff] {
            run(F16::from_bits(bits));
        }
        for bits in [0x7f80, 0xff80, 0x7fc0, 0x7f81, 0xffff] {
            run(Bf16::from_bits(bits));
        }
    });
}

/// The layer's decode step with a 16-bit cache gives the bits of the f32
/// cache when every key and value is exact in 16 bits: weights in eighths
/// and inputs in quarters, small enough that every projection is a
/// multiple of 2⁻⁵ below 2⁸ in size (8 significant bits at most), with no
/// positional encoding and with ALiBi (RoPE's rotated keys are not exact).
#[test]
fn decode_with_a_16_bit_cache_matches_f32_when_exact() {
    const E: usize = 16;
    const QH: usize = 4;
    const KVH: usize = 2;
    const HD: usize = 4;
    const CAP: usize = 40;
    fn run<T: KvElement>(positions: Positions) {
        let mut rng = Rng::new(11);
        let mut eighths = |n: usize| -> Vec<f32> { (0..n).map(|_| (rng.next_u64() % 5) as f32 / 8.0 - 0.25).collect() };
        let (wq, wk, wv, wo) = (eighths(E * E), eighths(KVH * HD * E), eighths(KVH * HD * E), eighths(E * E));
        let layer = SelfAttention::new(Weights::<E, QH, KVH, HD>::new(&wq, &wk, &wv, &wo).unwrap(), positions);
        let (mut c32, mut c16) =
            (Box::new(KvCache::<CAP, KVH, HD>::new()), Box::new(KvCache::<CAP, KVH, HD, T>::new()));
        let (mut s32, mut s16) = (Box::new(DecodeScratch::new()), Box::new(DecodeScratch::new()));
        for t in 0..CAP {
            let x: [f32; E] = core::array::from_fn(|i| ((t * 7 + i * 3) % 9) as f32 / 4.0 - 1.0);
            let (mut o32, mut o16) = ([0.0; E], [0.0; E]);
            assert_eq!(layer.decode(&x, &mut o32, &mut c32, &mut s32), Ok(t));
            assert_eq!(layer.decode(&x, &mut o16, &mut c16, &mut s16), Ok(t));
            for g in 0..KVH {
                let widen = |rows: &[[T; HD]]| rows.iter().map(|r| r.map(T::to_f32)).collect::<Vec<_>>();
                assert_eq!(widen(c16.keys(g).unwrap()), c32.keys(g).unwrap(), "keys exact in 16 bits");
                assert_eq!(widen(c16.values(g).unwrap()), c32.values(g).unwrap(), "values exact in 16 bits");
            }
            assert_eq!(o16.map(f32::to_bits), o32.map(f32::to_bits), "token {t}");
        }
    }
    each_backend(|_| {
        for positions in [Positions::None, Positions::Alibi] {
            run::<F16>(positions);
            run::<Bf16>(positions);
        }
    });
}
