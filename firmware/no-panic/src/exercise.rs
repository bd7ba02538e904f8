//! Calls every public item of sdpa with opaque inputs.
//!
//! `black_box` hides every length, value and option from the optimizer, so a
//! bounds check or an `unwrap` can only disappear if the library itself
//! makes it impossible for all inputs. The const-generic API is instantiated
//! at several shapes (odd ones included); its options come from opaque
//! choices, so every masking path stays reachable.
//!
//! When the library gains a public item, add a call here.

use core::fmt::{self, Write};
use core::hint::black_box as bb;
use sdpa::kernels::{self, OnlineSoftmax};
use sdpa::layer::{
    self, CacheMode, DecodeScratch, KvCache, LayerMask, Positions, Rope, Scratch, SelfAttention, Weights,
};
use sdpa::multihead::{self, Broadcast, Heads, HeadsMut, Operand, Strides};
use sdpa::runtime::{self, Bias, Mask, Shape};
use sdpa::{Alignment, Matrix, Options, Settings, Window};

/// Backing storage for opaque slices.
const LEN: usize = 300;

pub fn everything() {
    kernel_calls();
    matrix_calls();
    const_api::<3, 5, 4, 6>();
    const_api::<32, 32, 16, 16>();
    const_api::<1, 300, 7, 3>();
    const_api::<5, 2, 1, 1>();
    runtime_calls();
    multihead_const::<2, 4, 2, 3, 5, 4, 6>();
    multihead_const::<1, 3, 1, 33, 40, 16, 8>();
    multihead_runtime();
    layer_calls::<32, 4, 2, 8, 16, 8>();
    layer_calls::<12, 3, 3, 4, 5, 3>();
    bb(sdpa::backend());
}

/// A slice of opaque length and contents.
fn floats(buf: &mut [f32; LEN]) -> &mut [f32] {
    bb(&mut buf[..])
}

fn kernel_calls() {
    let (mut a, mut b, mut c) = ([0.0f32; LEN], [0.0f32; LEN], [0.0f32; LEN]);
    let (a, b, c) = (floats(&mut a), floats(&mut b), floats(&mut c));
    bb(kernels::dot(a, b));
    bb(kernels::dot_reference(a, b));
    kernels::dot_rows(a, b, c);
    kernels::softmax(a);
    kernels::softmax_reference(b);
    kernels::axpy(a, bb(0.5), b);
    kernels::axpy_reference(a, bb(0.5), b);
    kernels::axpy_rows(a, b, c);
    kernels::scale(c, bb(2.0));
    kernels::linear(a, b, bb(Some(&*b)), c, bb(7));
    kernels::linear_reference(a, b, bb(None), c, bb(7));
    bb(kernels::exp(bb(1.0)));
    bb(kernels::exp_reference(bb(1.0)));
    kernels::exp_in_place(a);

    let mut state = bb(OnlineSoftmax::new());
    bb(state.update(a));
    state.accumulate(a, b, c);
    state.finish(c);
    bb((state.max(), state.sum(), OnlineSoftmax::default() == state));
}

fn matrix_calls() {
    let mut flat = [0.0f32; LEN];
    let mut bytes = [0u8; 4 * LEN];
    let flat = floats(&mut flat);
    let bytes = bb(&mut bytes[..]);
    bb(Matrix::<3, 4>::from_slice(flat));
    bb(Matrix::<300, 1>::from_slice(flat));
    bb(Matrix::<3, 4>::from_le_bytes(bytes));
    bb(Matrix::<1, 300>::from_le_bytes(bytes));
    let mut m = Matrix::<3, 4>::from_rows(bb([[1.0; 4]; 3]));
    let f = Matrix::<3, 4>::from_fn(|r, c| bb(r * 4 + c) as f32);
    bb(Matrix::<3, 4>::zeros() == Matrix::default());
    bb(Matrix::from(bb([[0.0f32; 2]; 2])));
    bb(m.row(bb(1)));
    bb(m.get(bb(2), bb(3)));
    bb(m.rows());
    bb(m.rows_mut());
    bb(m.as_slice());
    bb(m.as_mut_slice());
    bb(<Matrix<3, 4> as AsRef<[[f32; 4]; 3]>>::as_ref(&f));
    bb(m == f);
}

/// Options with every builder call, each switched on or off opaquely.
fn options<'a, const NQ: usize, const NK: usize>(
    mask: &'a [[bool; NK]; NQ],
    keep: &'a [bool; NK],
    bias: &'a Matrix<NQ, NK>,
    key_bias: &'a [f32; NK],
) -> Options<'a, NQ, NK> {
    let mut o = Options::new();
    if bb(true) {
        o = o.with_settings(bb(Settings::default()));
    }
    if bb(true) {
        o = o.scale(bb(0.5));
    }
    if bb(true) {
        o = o.causal();
    }
    if bb(true) {
        o = o.alignment(bb(Alignment::BottomRight));
    }
    if bb(true) {
        o = o.window(bb(1), bb(2));
    }
    if bb(true) {
        o = o.alibi(bb(0.25));
    }
    o = match bb(0u8) {
        0 => o,
        1 => o.mask(mask),
        _ => o.key_mask(keep),
    };
    o = match bb(0u8) {
        0 => o,
        1 => o.bias(bias),
        _ => o.key_bias(key_bias),
    };
    bb(o.settings());
    bb(o.to_runtime());
    bb(o)
}

fn const_api<const NQ: usize, const NK: usize, const D: usize, const DV: usize>() {
    let q: Matrix<NQ, D> = bb(Matrix::zeros());
    let k: Matrix<NK, D> = bb(Matrix::zeros());
    let v: Matrix<NK, DV> = bb(Matrix::zeros());
    let mask = bb([[true; NK]; NQ]);
    let keep = bb([true; NK]);
    let bias: Matrix<NQ, NK> = bb(Matrix::zeros());
    let key_bias = bb([0.0; NK]);
    let o = options(&mask, &keep, &bias, &key_bias);
    let mut out = Matrix::<NQ, DV>::zeros();
    let mut weights = Matrix::<NQ, NK>::zeros();
    sdpa::attention(&q, &k, &v, &mut out, &o);
    sdpa::attention_weights(&q, &k, &v, &mut out, &mut weights, &o);
    let rows = bb(&mut out.rows_mut()[..]);
    bb(sdpa::attention_rows(&q, &k, &v, bb(1), rows, &o));
    // Borrowed arrays instead of matrices.
    let (qa, ka, va) = (bb([[0.0f32; D]; NQ]), bb([[0.0f32; D]; NK]), bb([[0.0f32; DV]; NK]));
    let (mut oa, mut wa) = ([[0.0f32; DV]; NQ], [[0.0f32; NK]; NQ]);
    sdpa::attention(&qa, &ka, &va, &mut oa, &o);
    sdpa::attention_weights(&qa, &ka, &va, &mut oa, &mut wa, &o);
    bb((&out, &weights, &oa, &wa));
}

/// Strides of opaque values (some may not fit: the strided constructors refuse them).
fn strides(s: Strides) -> Strides {
    bb(Strides { batch: bb(s.batch), head: bb(s.head), token: bb(s.token), dim: bb(s.dim) })
}

/// The const-generic multi-head call on nested arrays and on strided views,
/// with every option builder chosen opaquely.
fn multihead_const<
    const B: usize,
    const H: usize,
    const KVH: usize,
    const NQ: usize,
    const NK: usize,
    const D: usize,
    const DV: usize,
>() {
    let q = bb([[[[0.0f32; D]; NQ]; H]; B]);
    let k = bb([[[[0.0f32; D]; NK]; KVH]; B]);
    let v = bb([[[[0.0f32; DV]; NK]; KVH]; B]);
    let (masks, keep) = (bb([[[[true; NK]; NQ]; H]; B]), bb([[[true; NK]; H]; B]));
    let (biases, key_biases) = (bb([[[[0.0f32; NK]; NQ]; H]; B]), bb([[[0.0f32; NK]; H]; B]));
    let (batch_masks, batch_keep) = (bb([[[true; NK]; NQ]; B]), bb([[true; NK]; B]));
    let (batch_biases, batch_key_biases) = (bb([[[0.0f32; NK]; NQ]; B]), bb([[0.0f32; NK]; B]));
    let slopes = bb([0.5f32; H]);
    let mut o = multihead::HeadOptions::<B, H, NQ, NK>::new();
    if bb(true) {
        o = o.with_settings(bb(Settings::default())).scale(bb(0.5)).causal().alignment(bb(Alignment::BottomRight));
    }
    if bb(true) {
        o = o.window(bb(1), bb(2)).alibi(bb(0.25)).alibi_slopes(&slopes);
    }
    o = match bb(0u8) {
        0 => o,
        1 => o.mask(&masks[0][0]),
        2 => o.key_mask(&keep[0][0]),
        3 => o.head_mask(&masks[0]),
        4 => o.head_key_mask(&keep[0]),
        5 => o.batch_mask(&batch_masks),
        6 => o.batch_key_mask(&batch_keep),
        7 => o.batch_head_mask(&masks),
        _ => o.batch_head_key_mask(&keep),
    };
    o = match bb(0u8) {
        0 => o,
        1 => o.bias(&biases[0][0]),
        2 => o.key_bias(&key_biases[0][0]),
        3 => o.head_bias(&biases[0]),
        4 => o.head_key_bias(&key_biases[0]),
        5 => o.batch_bias(&batch_biases),
        6 => o.batch_key_bias(&batch_key_biases),
        7 => o.batch_head_bias(&biases),
        _ => o.batch_head_key_bias(&key_biases),
    };
    bb((o.settings(), o.to_runtime()));
    let o = bb(o);
    let mut out = [[[[0.0f32; DV]; NQ]; H]; B];
    multihead::attention(Heads::bhsd(&q), Heads::bhsd(&k), Heads::bhsd(&v), HeadsMut::bhsd(&mut out), &o);
    bb(&out);

    let qs = bb([[[[0.0f32; D]; H]; NQ]; B]);
    let (ks, vs) = (bb([[[[0.0f32; D]; KVH]; NK]; B]), bb([[[[0.0f32; DV]; KVH]; NK]; B]));
    let mut outs = [[[[0.0f32; DV]; H]; NQ]; B];
    let view = Heads::bshd(&qs);
    bb(view.strides());
    multihead::attention(view, Heads::bshd(&ks), Heads::bshd(&vs), HeadsMut::bshd(&mut outs), &o);
    bb(&outs);

    let mut buf = [0.0f32; LEN * 8];
    let data = bb(&mut buf[..]);
    let Some((input, output)) = data.split_at_mut_checked(bb(LEN * 4)) else { return };
    let made = (
        Heads::<B, H, NQ, D>::strided(input, strides(Strides::bshd(NQ, H, D))),
        Heads::<B, KVH, NK, D>::strided(input, strides(Strides::bhsd(KVH, NK, D))),
        Heads::<B, KVH, NK, DV>::strided(input, strides(Strides::bhsd(KVH, NK, DV))),
        HeadsMut::<B, H, NQ, DV>::strided(output, strides(Strides::bshd(NQ, H, DV))),
    );
    match made {
        (Ok(q), Ok(k), Ok(v), Ok(out)) => {
            bb(out.strides());
            multihead::attention(q, k, v, out, &o);
        }
        (q, ..) => {
            if let Err(e) = q {
                let _ = write!(Sink, "{e}");
            }
        }
    }
}

/// The runtime multi-head call with opaque shape, strides, buffers and options.
fn multihead_runtime() {
    use multihead::runtime::{self as mh, View, ViewMut};
    let (mut q, mut k, mut v, mut out, mut bias) = ([0.0f32; LEN], [0.0; LEN], [0.0; LEN], [0.0; LEN], [0.0; LEN]);
    let mut keep = [true; LEN];
    let mut slopes = [0.5f32; 8];
    let (q, k, v) = (floats(&mut q), floats(&mut k), floats(&mut v));
    let (out, bias) = (floats(&mut out), floats(&mut bias));
    let keep = bb(&mut keep[..]);
    let slopes = bb(&mut slopes[..]);
    let shape = bb(mh::Shape { batch: 2, q_heads: 4, kv_heads: 2, queries: 3, keys: 5, head_dim: 4, value_dim: 6 });
    let spread = match bb(0u8) {
        0 => Broadcast::Shared,
        1 => Broadcast::PerHead,
        2 => Broadcast::PerBatch,
        _ => Broadcast::PerBatchHead,
    };
    bb((spread.blocks(bb(2), bb(4)), spread.block_of(bb(1), bb(2), bb(4))));
    let mut o = mh::RuntimeHeadOptions::new();
    if bb(true) {
        o = o.with_settings(bb(Settings::default())).scale(bb(0.5)).causal().alignment(bb(Alignment::TopLeft));
    }
    if bb(true) {
        o = o.window(bb(3), bb(0)).alibi(bb(0.5)).alibi_slopes(slopes);
    }
    o = match bb(0u8) {
        0 => o,
        1 => o.mask(Mask::PerQuery(keep), spread),
        _ => o.mask(Mask::PerKey(keep), spread),
    };
    o = match bb(0u8) {
        0 => o,
        1 => o.bias(Bias::PerQuery(bias), spread),
        _ => o.bias(Bias::PerKey(bias), spread),
    };
    bb(o.settings());
    let o = bb(o);
    let r = mh::attention(
        shape,
        View::new(q, strides(Strides::bshd(3, 4, 4))),
        View::new(k, strides(Strides::bhsd(2, 5, 4))),
        View::new(v, strides(Strides::bhsd(2, 5, 6))),
        ViewMut::new(out, strides(Strides::bshd(3, 4, 6))),
        &o,
    );
    if let Err(e) = bb(r) {
        let _ = write!(Sink, "{e}");
        if let multihead::Error::View(operand, view) = e {
            bb((operand == Operand::Key, operand.name()));
            let _ = write!(Sink, "{view}");
        }
    }
}

fn runtime_calls() {
    let (mut q, mut k, mut v, mut out, mut w, mut bias) =
        ([0.0f32; LEN], [0.0; LEN], [0.0; LEN], [0.0; LEN], [0.0; LEN], [0.0; LEN]);
    let mut keep = [true; LEN];
    let (q, k, v) = (floats(&mut q), floats(&mut k), floats(&mut v));
    let (out, w, bias) = (floats(&mut out), floats(&mut w), floats(&mut bias));
    let keep = bb(&mut keep[..]);
    let shape = bb(Shape { queries: 2, keys: 3, head_dim: 4, value_dim: 5 });
    let mut o = runtime::RuntimeOptions::new();
    if bb(true) {
        o = o.with_settings(bb(Settings { window: Some(Window { left: 1, right: 0 }), ..Settings::default() }));
    }
    if bb(true) {
        o = o.scale(bb(0.5)).causal().alignment(bb(Alignment::TopLeft)).window(bb(3), bb(0)).alibi(bb(0.5));
    }
    o = match bb(0u8) {
        0 => o,
        1 => o.mask(Mask::PerQuery(keep)),
        _ => o.mask(Mask::PerKey(keep)),
    };
    o = match bb(0u8) {
        0 => o,
        1 => o.bias(Bias::PerQuery(bias)),
        _ => o.bias(Bias::PerKey(bias)),
    };
    bb(o.settings());
    let o = bb(o);
    let results = [
        runtime::attention(shape, q, k, v, out, &o),
        runtime::attention_rows(shape, q, k, v, bb(1), out, &o),
        runtime::attention_weights(shape, q, k, v, out, w, &o),
    ];
    for r in results {
        if let Err(e) = bb(r) {
            let _ = write!(Sink, "{e}");
        }
    }
}

/// A `fmt::Write` that drops what it is given.
struct Sink;

impl Write for Sink {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        bb(s);
        Ok(())
    }
}

/// Positional encodings, one of each kind, chosen opaquely.
fn positions() -> Positions {
    match bb(0u8) {
        0 => Positions::None,
        1 => Positions::Alibi,
        2 => Positions::Rope(Rope::interleaved()),
        _ => Positions::Rope(Rope::half_split().theta(bb(500_000.0))),
    }
}

/// The layer: weights from opaque data, forward with every mask kind, decode
/// into fixed and sliding caches, and the positional helpers.
fn layer_calls<const D: usize, const QH: usize, const KVH: usize, const HD: usize, const T: usize, const CAP: usize>() {
    let mut data = [0.0f32; 4096];
    let data = floats_of(&mut data);
    let bytes = [0u8; 64];
    bb(layer::f32s_from_le_bytes::<16>(bb(&bytes[..])));
    bb(Weights::<D, QH, KVH, HD>::packed_len(bb(true)));
    let weights = match Weights::<D, QH, KVH, HD>::from_packed(data, bb(true)) {
        Ok(w) => w,
        Err(e) => {
            let _ = write!(Sink, "{e}");
            match Weights::new(data, data, data, data).and_then(|w| w.with_biases(data, data, data, data)) {
                Ok(w) => w,
                Err(_) => return,
            }
        }
    };
    bb(weights.has_biases());
    let attention = SelfAttention::new(bb(weights), positions()).with_scale(bb(0.3));
    bb((attention.weights(), attention.positions(), attention.scale()));

    let x: Matrix<T, D> = bb(Matrix::zeros());
    let mut out = Matrix::<T, D>::zeros();
    let keep = bb([true; T]);
    let mask = match bb(0u8) {
        0 => LayerMask::causal(),
        1 => LayerMask::sliding_window(bb(4)),
        _ => LayerMask::bidirectional().padding(&keep).window(bb(3), bb(2)),
    };
    bb((mask.is_causal(), mask.settings()));
    let mut scratch = Scratch::<T, D, QH, KVH, HD>::new();
    attention.forward(&x, &mut out, &mask, &mut scratch);
    bb((scratch.query(bb(1), bb(1)), scratch.key(bb(1), bb(1)), scratch.value(bb(1), bb(1)), scratch.merged()));

    let mode = if bb(true) { CacheMode::Sliding } else { CacheMode::Fixed };
    let mut cache = bb(KvCache::<CAP, KVH, HD>::with_mode(mode));
    let mut step = DecodeScratch::<D, CAP>::new();
    let (token, mut y) = (bb([0.0f32; D]), [0.0f32; D]);
    for _ in 0..bb(3) {
        if let Err(e) = attention.decode(&token, &mut y, &mut cache, &mut step) {
            let _ = write!(Sink, "{e}");
        }
    }
    bb((cache.len(), cache.is_empty(), cache.capacity(), cache.next_position(), cache.mode()));
    bb((cache.keys(bb(1)), cache.values(bb(1)), cache.position_of(bb(2))));
    cache.clear();
    bb((KvCache::<CAP, KVH, HD>::new(), KvCache::<CAP, KVH, HD>::sliding()));

    bb(layer::alibi_slope(bb(3), bb(12)));
    bb(layer::alibi_slopes::<QH>());
    let mut row = bb([0.0f32; D]);
    Rope::half_split().rotate(bb(7), floats_of(&mut row));
    layer::sinusoidal(bb(9), floats_of(&mut row));
    let mut xs = x;
    layer::add_sinusoidal(&mut xs, bb(3));
    bb((&out, &y, &xs));
}

/// A slice of opaque length over any buffer.
fn floats_of<const N: usize>(buf: &mut [f32; N]) -> &mut [f32] {
    bb(&mut buf[..])
}
