//! The runtime multi-head call against the loop over heads of the
//! single-head runtime API, bit for bit, on every layout: BHSD, BSHD, every
//! other axis order with random padding between rows, heads and batch
//! entries (padding filled with NaN), fused QKV buffers and broadcast
//! (stride 0) inputs; with GQA and MQA, every mask and bias broadcast, and
//! ALiBi per head. Also the seed toy against numpy inside a multi-head
//! tensor, and every refusal leaving the output untouched. Each comparison
//! runs on every backend the build and CPU support.

use sdpa::multihead::runtime::{self as mh, RuntimeHeadOptions, Shape, View, ViewMut};
use sdpa::multihead::{Broadcast, Error, Operand, Strides, ViewError};
use sdpa::runtime::{self, Bias, Mask};
use sdpa::{Alignment, Settings, Window};
use sdpa_oracle::backend::each_backend;

#[allow(dead_code)] // WEIGHTS is not needed here
mod seed_toy {
    include!("data/seed_toy.rs");
}

/// Written into every output element before a call (a NaN with a payload
/// no kernel produces), to see what the call touched.
const SENTINEL: f32 = f32::from_bits(0x7fc5_a5a5);

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn value(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 22) as f32 - 2.0
    }
    fn bool(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// Extents of one tensor: batch entries, heads, tokens, row width.
#[derive(Clone, Copy, Debug)]
struct Ext {
    b: usize,
    h: usize,
    n: usize,
    w: usize,
}

/// How a test lays a tensor out: the order of the batch, head and token
/// axes from innermost to outermost (0 batch, 1 head, 2 token), and the
/// padding added to each stride.
#[derive(Clone, Copy, Debug)]
struct Layout {
    order: [usize; 3],
    pad: [usize; 3],
    tail: usize,
}

const BHSD: Layout = Layout { order: [2, 1, 0], pad: [0; 3], tail: 0 };
const BSHD: Layout = Layout { order: [1, 2, 0], pad: [0; 3], tail: 0 };

impl Layout {
    fn random(rng: &mut Rng) -> Layout {
        const ORDERS: [[usize; 3]; 6] = [[2, 1, 0], [1, 2, 0], [0, 1, 2], [0, 2, 1], [1, 0, 2], [2, 0, 1]];
        let mut pad = || if rng.bool(0.5) { 0 } else { rng.below(5) };
        let pad = [pad(), pad(), pad()];
        Layout { order: ORDERS[rng.below(6)], pad, tail: rng.below(3) }
    }

    /// Strides (pads applied innermost first) and the buffer length.
    fn strides(self, e: Ext) -> (Strides, usize) {
        let extent = [e.b, e.h, e.n];
        let mut stride = [0; 3];
        let mut span = e.w;
        for axis in self.order {
            stride[axis] = span + self.pad[axis];
            span += (extent[axis] - 1) * stride[axis];
        }
        (Strides { batch: stride[0], head: stride[1], token: stride[2], dim: 1 }, span + self.tail)
    }
}

/// A tensor in a NaN-filled buffer, and its values by (b, h, t, i).
struct Tensor {
    e: Ext,
    s: Strides,
    buf: Vec<f32>,
}

impl Tensor {
    fn new(e: Ext, layout: Layout, rng: &mut Rng) -> Tensor {
        let (s, len) = layout.strides(e);
        let mut t = Tensor { e, s, buf: vec![f32::NAN; len] };
        for b in 0..e.b {
            for h in 0..e.h {
                for n in 0..e.n {
                    for i in 0..e.w {
                        let at = t.at(b, h, n, i);
                        t.buf[at] = rng.value();
                    }
                }
            }
        }
        t
    }
    fn output(e: Ext, layout: Layout) -> Tensor {
        let (s, len) = layout.strides(e);
        Tensor { e, s, buf: vec![SENTINEL; len] }
    }
    fn at(&self, b: usize, h: usize, n: usize, i: usize) -> usize {
        b * self.s.batch + h * self.s.head + n * self.s.token + i * self.s.dim
    }
    /// Head (b, h) as contiguous rows.
    fn head(&self, b: usize, h: usize) -> Vec<f32> {
        let mut rows = Vec::new();
        for n in 0..self.e.n {
            for i in 0..self.e.w {
                rows.push(self.buf[self.at(b, h, n, i)]);
            }
        }
        rows
    }
    fn view(&self) -> View<'_> {
        View::new(&self.buf, self.s)
    }
    /// Whether every element outside the view still holds the sentinel.
    fn outside_untouched(&self) -> bool {
        let mut inside = vec![false; self.buf.len()];
        for b in 0..self.e.b {
            for h in 0..self.e.h {
                for n in 0..self.e.n {
                    for i in 0..self.e.w {
                        inside[self.at(b, h, n, i)] = true;
                    }
                }
            }
        }
        self.buf.iter().zip(&inside).all(|(x, &inside)| inside || x.to_bits() == SENTINEL.to_bits())
    }
}

/// The masks, biases and slopes of a case, with their broadcasts.
#[derive(Clone, Default)]
struct Extras {
    mask: Option<(Vec<bool>, bool, Broadcast)>, // (entries, per query?, broadcast)
    bias: Option<(Vec<f32>, bool, Broadcast)>,
    slopes: Option<Vec<f32>>,
}

const SPREADS: [Broadcast; 4] = [Broadcast::Shared, Broadcast::PerHead, Broadcast::PerBatch, Broadcast::PerBatchHead];

impl Extras {
    fn random(shape: Shape, rng: &mut Rng) -> Extras {
        let (nq, nk) = (shape.queries, shape.keys);
        let mut x = Extras::default();
        if rng.bool(0.5) {
            let (per_query, spread) = (rng.bool(0.5), SPREADS[rng.below(4)]);
            let len = spread.blocks(shape.batch, shape.q_heads) * if per_query { nq * nk } else { nk };
            x.mask = Some(((0..len).map(|_| rng.bool(0.8)).collect(), per_query, spread));
        }
        if rng.bool(0.5) {
            let (per_query, spread) = (rng.bool(0.5), SPREADS[rng.below(4)]);
            let len = spread.blocks(shape.batch, shape.q_heads) * if per_query { nq * nk } else { nk };
            let entry = |rng: &mut Rng| if rng.bool(0.15) { f32::NEG_INFINITY } else { rng.value() };
            x.bias = Some(((0..len).map(|_| entry(rng)).collect(), per_query, spread));
        }
        if rng.bool(0.3) {
            x.slopes = Some((0..shape.q_heads).map(|_| rng.value().abs() * 0.5).collect());
        }
        x
    }

    fn options(&self, settings: Settings) -> RuntimeHeadOptions<'_> {
        let mut o = RuntimeHeadOptions::new().with_settings(settings);
        if let Some((m, per_query, spread)) = &self.mask {
            o = o.mask(if *per_query { Mask::PerQuery(m) } else { Mask::PerKey(m) }, *spread);
        }
        if let Some((b, per_query, spread)) = &self.bias {
            o = o.bias(if *per_query { Bias::PerQuery(b) } else { Bias::PerKey(b) }, *spread);
        }
        if let Some(s) = &self.slopes {
            o = o.alibi_slopes(s);
        }
        o
    }

    /// The single-head options of head (b, h).
    fn head_options(&self, shape: Shape, settings: Settings, b: usize, h: usize) -> runtime::RuntimeOptions<'_> {
        let (nq, nk) = (shape.queries, shape.keys);
        let mut o = runtime::RuntimeOptions::new().with_settings(settings);
        if let Some(s) = &self.slopes {
            o = o.alibi(s[h]);
        }
        if let Some((m, per_query, spread)) = &self.mask {
            let len = if *per_query { nq * nk } else { nk };
            let i = spread.block_of(b, h, shape.q_heads);
            let block = &m[i * len..(i + 1) * len];
            o = o.mask(if *per_query { Mask::PerQuery(block) } else { Mask::PerKey(block) });
        }
        if let Some((x, per_query, spread)) = &self.bias {
            let len = if *per_query { nq * nk } else { nk };
            let i = spread.block_of(b, h, shape.q_heads);
            let block = &x[i * len..(i + 1) * len];
            o = o.bias(if *per_query { Bias::PerQuery(block) } else { Bias::PerKey(block) });
        }
        o
    }
}

fn extents(shape: Shape) -> [Ext; 4] {
    let Shape { batch: b, q_heads: h, kv_heads: kvh, queries: nq, keys: nk, head_dim: d, value_dim: dv } = shape;
    [
        Ext { b, h, n: nq, w: d },
        Ext { b, h: kvh, n: nk, w: d },
        Ext { b, h: kvh, n: nk, w: dv },
        Ext { b, h, n: nq, w: dv },
    ]
}

/// Runs the multi-head call and checks every head against the single-head
/// call on its rows, bit for bit, and that nothing outside the output view
/// was written.
fn check(shape: Shape, q: &Tensor, k: &Tensor, v: &Tensor, out: &mut Tensor, extras: &Extras, settings: Settings) {
    // On every backend this build and CPU run, each against itself.
    each_backend(|_| {
        out.buf.fill(SENTINEL);
        check_on(shape, q, k, v, out, extras, settings)
    });
}

fn check_on(shape: Shape, q: &Tensor, k: &Tensor, v: &Tensor, out: &mut Tensor, extras: &Extras, settings: Settings) {
    let what =
        format!("{} {shape:?} {settings:?} q {:?} k {:?} v {:?} out {:?}", sdpa::backend(), q.s, k.s, v.s, out.s);
    let o = extras.options(settings);
    let r = mh::attention(shape, q.view(), k.view(), v.view(), ViewMut::new(&mut out.buf, out.s), &o);
    assert_eq!(r, Ok(()), "{what}");
    assert!(out.outside_untouched(), "wrote outside the output view: {what}");
    let group = shape.q_heads / shape.kv_heads;
    let single = runtime::Shape {
        queries: shape.queries,
        keys: shape.keys,
        head_dim: shape.head_dim,
        value_dim: shape.value_dim,
    };
    for b in 0..shape.batch {
        for h in 0..shape.q_heads {
            let mut want = vec![0.0; shape.queries * shape.value_dim];
            let ho = extras.head_options(shape, settings, b, h);
            let (qh, kh, vh) = (q.head(b, h), k.head(b, h / group), v.head(b, h / group));
            runtime::attention(single, &qh, &kh, &vh, &mut want, &ho).unwrap();
            let got = out.head(b, h);
            let same = got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "head ({b}, {h}) differs from the single-head call: {what}\n got {got:?}\nwant {want:?}");
        }
    }
}

/// Shapes that reach every engine: tiny (≤ 16, nothing masked), tiled
/// (queries to fill vectors), rows (masks, biases, ALiBi, few queries).
const SHAPES: [Shape; 7] = [
    Shape { batch: 1, q_heads: 1, kv_heads: 1, queries: 1, keys: 1, head_dim: 1, value_dim: 1 },
    Shape { batch: 2, q_heads: 4, kv_heads: 2, queries: 3, keys: 5, head_dim: 4, value_dim: 6 },
    Shape { batch: 1, q_heads: 3, kv_heads: 1, queries: 9, keys: 17, head_dim: 8, value_dim: 5 },
    Shape { batch: 3, q_heads: 2, kv_heads: 2, queries: 33, keys: 40, head_dim: 16, value_dim: 16 },
    Shape { batch: 2, q_heads: 6, kv_heads: 3, queries: 1, keys: 70, head_dim: 7, value_dim: 9 },
    Shape { batch: 1, q_heads: 8, kv_heads: 1, queries: 20, keys: 20, head_dim: 32, value_dim: 32 },
    Shape { batch: 2, q_heads: 2, kv_heads: 1, queries: 5, keys: 3, head_dim: 3, value_dim: 2 },
];

fn settings(rng: &mut Rng) -> Settings {
    Settings {
        scale: rng.bool(0.3).then(|| rng.value()),
        causal: rng.bool(0.4),
        alignment: if rng.bool(0.5) { Alignment::TopLeft } else { Alignment::BottomRight },
        window: rng.bool(0.3).then(|| Window { left: rng.below(6), right: rng.below(6) }),
        alibi_slope: rng.bool(0.2).then(|| rng.value().abs()),
    }
}

#[test]
fn bhsd_and_bshd_equal_the_head_loop_bit_for_bit() {
    let mut rng = Rng(1);
    for shape in SHAPES {
        for layout in [BHSD, BSHD] {
            for plain in [true, false] {
                let [eq, ek, ev, eo] = extents(shape);
                let (q, k, v) = (
                    Tensor::new(eq, layout, &mut rng),
                    Tensor::new(ek, layout, &mut rng),
                    Tensor::new(ev, layout, &mut rng),
                );
                let mut out = Tensor::output(eo, layout);
                let (extras, s) = if plain {
                    (Extras::default(), Settings::default())
                } else {
                    (Extras::random(shape, &mut rng), settings(&mut rng))
                };
                check(shape, &q, &k, &v, &mut out, &extras, s);
            }
        }
    }
}

#[test]
fn the_same_tensor_in_bhsd_and_bshd_gives_the_same_output() {
    for (i, shape) in SHAPES.into_iter().enumerate() {
        let [eq, ek, ev, eo] = extents(shape);
        let mut outs = Vec::new();
        for layout in [BHSD, BSHD] {
            // `Tensor::new` draws values in (b, h, t, i) order: the same
            // tensor in either layout.
            let mut rng = Rng(100 + i as u64);
            let (q, k, v) = (
                Tensor::new(eq, layout, &mut rng),
                Tensor::new(ek, layout, &mut rng),
                Tensor::new(ev, layout, &mut rng),
            );
            let mut out = Tensor::output(eo, layout);
            let o = RuntimeHeadOptions::new().causal();
            mh::attention(shape, q.view(), k.view(), v.view(), ViewMut::new(&mut out.buf, out.s), &o).unwrap();
            let heads = (0..shape.batch).flat_map(|b| (0..shape.q_heads).map(move |h| (b, h)));
            outs.push(heads.flat_map(|(b, h)| out.head(b, h)).map(f32::to_bits).collect::<Vec<_>>());
        }
        assert_eq!(outs[0], outs[1], "{shape:?}");
    }
}

#[test]
fn padded_layouts_in_every_axis_order_equal_the_head_loop() {
    let mut rng = Rng(3);
    for round in 0..12 {
        for shape in SHAPES {
            let [eq, ek, ev, eo] = extents(shape);
            let q = Tensor::new(eq, Layout::random(&mut rng), &mut rng);
            let k = Tensor::new(ek, Layout::random(&mut rng), &mut rng);
            let v = Tensor::new(ev, Layout::random(&mut rng), &mut rng);
            let mut out = Tensor::output(eo, Layout::random(&mut rng));
            let (extras, s) = if round % 3 == 0 {
                (Extras::default(), Settings::default())
            } else {
                (Extras::random(shape, &mut rng), settings(&mut rng))
            };
            check(shape, &q, &k, &v, &mut out, &extras, s);
        }
    }
}

#[test]
fn every_mask_and_bias_broadcast_and_per_head_alibi() {
    let mut rng = Rng(4);
    let shape = SHAPES[1];
    let [eq, ek, ev, eo] = extents(shape);
    let (q, k, v) = (Tensor::new(eq, BSHD, &mut rng), Tensor::new(ek, BSHD, &mut rng), Tensor::new(ev, BSHD, &mut rng));
    for spread in SPREADS {
        for per_query in [true, false] {
            let blocks = spread.blocks(shape.batch, shape.q_heads);
            let len = blocks * if per_query { shape.queries * shape.keys } else { shape.keys };
            let mask = Extras {
                mask: Some(((0..len).map(|_| rng.bool(0.7)).collect(), per_query, spread)),
                ..Extras::default()
            };
            let bias = Extras {
                bias: Some(((0..len).map(|_| rng.value()).collect(), per_query, spread)),
                ..Extras::default()
            };
            for extras in [mask, bias] {
                let mut out = Tensor::output(eo, BHSD);
                check(shape, &q, &k, &v, &mut out, &extras, Settings::default());
            }
        }
    }
    // ALiBi: a slope per head; each head differs from its neighbours.
    let slopes: Vec<f32> = (0..shape.q_heads).map(|h| sdpa::layer::alibi_slope(h, shape.q_heads)).collect();
    let extras = Extras { slopes: Some(slopes), ..Extras::default() };
    let mut out = Tensor::output(eo, BHSD);
    check(shape, &q, &k, &v, &mut out, &extras, Settings { causal: true, ..Settings::default() });
    // Per-head slopes replace a single slope in the settings.
    let mut again = Tensor::output(eo, BHSD);
    check(shape, &q, &k, &v, &mut again, &extras, Settings { alibi_slope: Some(3.0), ..Settings::default() });
}

#[test]
fn fused_qkv_and_broadcast_inputs() {
    let mut rng = Rng(5);
    // [batch 2][tokens 6][q heads 4 + k heads 2 + v heads 2][dim 8]: one projection's output.
    let (b, n, h, kvh, d) = (2, 6, 4, 2, 8);
    let width = (h + 2 * kvh) * d;
    let qkv: Vec<f32> = (0..b * n * width).map(|_| rng.value()).collect();
    let fused = Strides { batch: n * width, head: d, token: width, dim: 1 };
    let shape = Shape { batch: b, q_heads: h, kv_heads: kvh, queries: n, keys: n, head_dim: d, value_dim: d };
    let tensor = |offset: usize, heads: usize| {
        let mut t = Tensor { e: Ext { b, h: heads, n, w: d }, s: fused, buf: qkv[offset..].to_vec() };
        t.buf.truncate(t.at(b - 1, heads - 1, n - 1, d));
        t
    };
    let (q, k, v) = (tensor(0, h), tensor(h * d, kvh), tensor((h + kvh) * d, kvh));
    let mut out = Tensor::output(Ext { b, h, n, w: d }, BSHD);
    check(shape, &q, &k, &v, &mut out, &Extras::default(), Settings { causal: true, ..Settings::default() });

    // Stride 0 repeats one kv head for every head and batch entry (PyTorch's `expand`).
    let shared = Tensor {
        e: Ext { b, h: kvh, n, w: d },
        s: Strides { batch: 0, head: 0, token: d, dim: 1 },
        buf: qkv[..n * d].to_vec(),
    };
    let mut out = Tensor::output(Ext { b, h, n, w: d }, BHSD);
    check(shape, &q, &shared, &shared, &mut out, &Extras::default(), Settings::default());
}

#[test]
fn a_fully_masked_head_is_zero_and_padding_nan_never_leaks() {
    let mut rng = Rng(6);
    let shape = SHAPES[2];
    let [eq, ek, ev, eo] = extents(shape);
    let pad = Layout { order: [2, 0, 1], pad: [3, 1, 2], tail: 4 };
    let (q, k, v) = (Tensor::new(eq, pad, &mut rng), Tensor::new(ek, pad, &mut rng), Tensor::new(ev, pad, &mut rng));
    // Head 1 masks every key; the others none.
    let mut keep = vec![true; shape.q_heads * shape.keys];
    keep[shape.keys..2 * shape.keys].fill(false);
    let extras = Extras { mask: Some((keep, false, Broadcast::PerHead)), ..Extras::default() };
    let mut out = Tensor::output(eo, pad);
    check(shape, &q, &k, &v, &mut out, &extras, Settings::default());
    assert!(out.head(0, 1).iter().all(|&x| x.to_bits() == 0), "a fully masked head is +0");
    assert!(out.head(0, 0).iter().chain(&out.head(0, 2)).all(|x| x.is_finite()), "padding NaN leaked");
}

#[test]
fn the_seed_toy_inside_a_multi_head_tensor_matches_numpy() {
    // Head 1 of 2 in BSHD layout is the toy; head 0 is noise (it must not mix in).
    let shape = Shape { batch: 1, q_heads: 2, kv_heads: 2, queries: 3, keys: 5, head_dim: 4, value_dim: 6 };
    let place = |rows: &[[f64; 4]], n: usize| {
        let mut t = vec![1e3f32; n * 2 * 4];
        for (i, row) in rows.iter().enumerate() {
            for (c, &x) in row.iter().enumerate() {
                t[i * 8 + 4 + c] = x as f32;
            }
        }
        t
    };
    let (q, k) = (place(&seed_toy::Q, 3), place(&seed_toy::K, 5));
    let mut v = vec![-1e3f32; 5 * 2 * 6];
    for (i, row) in seed_toy::V.iter().enumerate() {
        for (c, &x) in row.iter().enumerate() {
            v[i * 12 + 6 + c] = x as f32;
        }
    }
    let mut out = vec![0.0f32; 3 * 2 * 6];
    let (qk, vs) = (Strides::bshd(3, 2, 4), Strides::bshd(5, 2, 6));
    let r = mh::attention(
        shape,
        View::new(&q, qk),
        View::new(&k, Strides::bshd(5, 2, 4)),
        View::new(&v, vs),
        ViewMut::new(&mut out, Strides::bshd(3, 2, 6)),
        &RuntimeHeadOptions::new(),
    );
    assert_eq!(r, Ok(()));
    let mut worst = 0.0f64;
    for (i, row) in seed_toy::OUT.iter().enumerate() {
        for (c, &want) in row.iter().enumerate() {
            worst = worst.max((out[i * 12 + 6 + c] as f64 - want).abs());
        }
    }
    assert!(worst <= 1e-5, "toy off numpy by {worst}");
}

/// A valid call to perturb: 2 batch entries, 4 query heads on 2 kv heads, BSHD.
struct Valid {
    shape: Shape,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    s: [Strides; 4],
}

fn valid() -> Valid {
    let shape = Shape { batch: 2, q_heads: 4, kv_heads: 2, queries: 3, keys: 5, head_dim: 4, value_dim: 6 };
    let mut rng = Rng(7);
    let mut fill = |n: usize| (0..n).map(|_| rng.value()).collect::<Vec<f32>>();
    let s = [Strides::bshd(3, 4, 4), Strides::bshd(5, 2, 4), Strides::bshd(5, 2, 6), Strides::bshd(3, 4, 6)];
    Valid { shape, q: fill(2 * 3 * 4 * 4), k: fill(2 * 5 * 2 * 4), v: fill(2 * 5 * 2 * 6), s }
}

/// Calls with `shape`, strides `s`, the slices cut to `lens` and `o`; the
/// result, after checking that a refusal wrote nothing.
fn call(x: &Valid, shape: Shape, s: [Strides; 4], lens: [usize; 4], o: &RuntimeHeadOptions<'_>) -> Result<(), Error> {
    let mut out = vec![SENTINEL; lens[3]];
    let (q, k, v) =
        (View::new(&x.q[..lens[0]], s[0]), View::new(&x.k[..lens[1]], s[1]), View::new(&x.v[..lens[2]], s[2]));
    let r = mh::attention(shape, q, k, v, ViewMut::new(&mut out, s[3]), o);
    if r.is_err() {
        assert!(out.iter().all(|x| x.to_bits() == SENTINEL.to_bits()), "{r:?} wrote to the output");
    } else {
        assert!(out.iter().any(|x| x.to_bits() != SENTINEL.to_bits()));
    }
    r
}

#[test]
fn every_refusal_has_its_error_and_writes_nothing() {
    let x = valid();
    let full = [x.q.len(), x.k.len(), x.v.len(), 2 * 3 * 4 * 6];
    let o = RuntimeHeadOptions::new();
    assert_eq!(call(&x, x.shape, x.s, full, &o), Ok(()));

    for zero in 0..7 {
        let mut s = x.shape;
        *[
            &mut s.batch,
            &mut s.q_heads,
            &mut s.kv_heads,
            &mut s.queries,
            &mut s.keys,
            &mut s.head_dim,
            &mut s.value_dim,
        ][zero] = 0;
        assert_eq!(call(&x, s, x.s, full, &o), Err(Error::ZeroDimension), "{s:?}");
    }
    assert_eq!(call(&x, Shape { kv_heads: 3, ..x.shape }, x.s, full, &o), Err(Error::HeadGroups));

    let operands = [Operand::Query, Operand::Key, Operand::Value, Operand::Output];
    for (i, operand) in operands.into_iter().enumerate() {
        // One element short.
        let mut lens = full;
        lens[i] -= 1;
        assert_eq!(call(&x, x.shape, x.s, lens, &o), Err(Error::View(operand, ViewError::OutOfBounds)));
        // Rows not contiguous.
        let mut s = x.s;
        s[i].dim = 2;
        assert_eq!(call(&x, x.shape, s, full, &o), Err(Error::View(operand, ViewError::DimStride)));
        s[i].dim = 0;
        assert_eq!(call(&x, x.shape, s, full, &o), Err(Error::View(operand, ViewError::DimStride)));
        // Rows of a head overlapping.
        let mut s = x.s;
        s[i].token = [4, 4, 6, 6][i] - 1;
        assert_eq!(call(&x, x.shape, s, full, &o), Err(Error::View(operand, ViewError::TokenStride)));
        // Extents that overflow usize.
        for huge in [usize::MAX, usize::MAX / 2 + 1, 1 << 62] {
            let mut s = x.s;
            s[i].batch = huge;
            assert_eq!(call(&x, x.shape, s, full, &o), Err(Error::View(operand, ViewError::OutOfBounds)));
            let mut s = x.s;
            s[i].token = huge;
            assert_eq!(call(&x, x.shape, s, full, &o), Err(Error::View(operand, ViewError::OutOfBounds)));
        }
    }
    // Inputs may repeat heads (stride 0: a broadcast); the output may not.
    let mut s = x.s;
    s[1].head = 0;
    s[2].head = 0;
    assert_eq!(call(&x, x.shape, s, full, &o), Ok(()));
    for (head, batch) in [(0, 72), (4, 4), (6, 48)] {
        let mut s = x.s;
        s[3].head = head;
        s[3].batch = batch;
        assert_eq!(call(&x, x.shape, s, full, &o), Err(Error::View(Operand::Output, ViewError::Overlap)), "{s:?}");
    }

    let pairs = 3 * 5;
    let keep = vec![true; 64 * pairs];
    for (spread, blocks) in
        [(Broadcast::Shared, 1), (Broadcast::PerHead, 4), (Broadcast::PerBatch, 2), (Broadcast::PerBatchHead, 8)]
    {
        for (per_query, block) in [(true, pairs), (false, 5)] {
            let n = blocks * block;
            let mask = |len: usize| if per_query { Mask::PerQuery(&keep[..len]) } else { Mask::PerKey(&keep[..len]) };
            let bias_data = vec![0.0; n + 1];
            let bias = |len: usize| {
                if per_query { Bias::PerQuery(&bias_data[..len]) } else { Bias::PerKey(&bias_data[..len]) }
            };
            assert_eq!(call(&x, x.shape, x.s, full, &o.mask(mask(n), spread)), Ok(()));
            assert_eq!(call(&x, x.shape, x.s, full, &o.bias(bias(n), spread)), Ok(()));
            for len in [0, n - 1, n + 1] {
                assert_eq!(call(&x, x.shape, x.s, full, &o.mask(mask(len), spread)), Err(Error::MaskLength));
                assert_eq!(call(&x, x.shape, x.s, full, &o.bias(bias(len.min(n + 1)), spread)), Err(Error::BiasLength));
            }
        }
    }
    let slopes = [0.5; 5];
    assert_eq!(call(&x, x.shape, x.s, full, &o.alibi_slopes(&slopes[..4])), Ok(()));
    for len in [0, 2, 3, 5] {
        assert_eq!(call(&x, x.shape, x.s, full, &o.alibi_slopes(&slopes[..len])), Err(Error::SlopesLength));
    }
}

#[test]
fn errors_come_in_the_documented_order() {
    let x = valid();
    let full = [x.q.len(), x.k.len(), x.v.len(), 2 * 3 * 4 * 6];
    let short = [full[0] - 1, full[1] - 1, full[2] - 1, full[3] - 1];
    let keep = [true; 1];
    let bad = RuntimeHeadOptions::new().mask(Mask::PerKey(&keep), Broadcast::Shared);
    assert_eq!(call(&x, Shape { batch: 0, kv_heads: 3, ..x.shape }, x.s, short, &bad), Err(Error::ZeroDimension));
    assert_eq!(call(&x, Shape { kv_heads: 3, ..x.shape }, x.s, short, &bad), Err(Error::HeadGroups));
    assert_eq!(call(&x, x.shape, x.s, short, &bad), Err(Error::View(Operand::Query, ViewError::OutOfBounds)));
    assert_eq!(
        call(&x, x.shape, x.s, [full[0], full[1], short[2], short[3]], &bad),
        Err(Error::View(Operand::Value, ViewError::OutOfBounds))
    );
    assert_eq!(call(&x, x.shape, x.s, full, &bad), Err(Error::MaskLength));
}
