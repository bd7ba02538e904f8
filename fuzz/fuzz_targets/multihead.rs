//! The runtime multi-head call with arbitrary shapes, strides, buffer
//! lengths, masks, biases and slopes. Every input buffer is NaN outside its
//! view, every output element starts as the sentinel. Asserts:
//!
//! - the call returns exactly the first error of the documented order, as
//!   computed here from the rules (not from the crate's code); an output
//!   that overlaps itself (found by comparing every pair of rows) is always
//!   refused, and an accepted output never overlaps;
//! - on an error nothing is written;
//! - on success every (batch entry, head) equals the single-head
//!   `runtime::attention` on that head's rows, copied out, bit for bit; the
//!   output is finite (every value in the views is finite and the settings
//!   are moderate, so a NaN can only come from outside a view); and no
//!   element outside the output view changed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdpa::multihead::runtime::{self as mh, RuntimeHeadOptions, Shape, View, ViewMut};
use sdpa::multihead::{Broadcast, Error, Operand, Strides, ViewError};
use sdpa::runtime::{self, Bias, Mask};
use sdpa::{Alignment, Settings, Window};
use sdpa_fuzz::SENTINEL;
use sdpa_fuzz::input::{FloatMode, Input};

/// Buffers longer than this are never built; views needing more get a short buffer.
const CAP: usize = 1 << 14;

/// Extents of one view.
#[derive(Clone, Copy, Debug)]
struct Ext {
    b: usize,
    h: usize,
    n: usize,
    w: usize,
}

impl Ext {
    fn rows(self) -> impl Iterator<Item = (usize, usize, usize)> {
        (0..self.b).flat_map(move |b| (0..self.h).flat_map(move |h| (0..self.n).map(move |t| (b, h, t))))
    }
    fn empty(self) -> bool {
        self.b == 0 || self.h == 0 || self.n == 0 || self.w == 0
    }
}

/// Offset of row (b, h, t), exact in `u128` (each product is; the sums
/// saturate, far past any buffer).
fn start(s: Strides, (b, h, t): (usize, usize, usize)) -> u128 {
    let term = |i: usize, stride: usize| i as u128 * stride as u128;
    term(b, s.batch).saturating_add(term(h, s.head)).saturating_add(term(t, s.token))
}

/// One past the last element of a (non-empty) view.
fn extent(e: Ext, s: Strides) -> u128 {
    start(s, (e.b - 1, e.h - 1, e.n - 1)).saturating_add(e.w as u128)
}

fuzz_target!(init: sdpa_fuzz::announce("multihead"), |data: &[u8]| {
    let mut inp = Input::new(data);
    let shape = Shape {
        batch: dim(&mut inp, 4),
        q_heads: dim(&mut inp, 7),
        kv_heads: dim(&mut inp, 7),
        queries: dim(&mut inp, 12),
        keys: dim(&mut inp, 40),
        head_dim: dim(&mut inp, 12),
        value_dim: dim(&mut inp, 12),
    };
    let Shape { batch, q_heads, kv_heads, queries: nq, keys: nk, head_dim: d, value_dim: dv } = shape;
    let ext = [
        Ext { b: batch, h: q_heads, n: nq, w: d },
        Ext { b: batch, h: kv_heads, n: nk, w: d },
        Ext { b: batch, h: kv_heads, n: nk, w: dv },
        Ext { b: batch, h: q_heads, n: nq, w: dv },
    ];
    let mut seed = u64::from(inp.u32());
    let strides: Vec<Strides> = ext.iter().map(|&e| layout(&mut inp, e)).collect();
    let lens: Vec<usize> = ext.iter().zip(&strides).map(|(&e, &s)| length(&mut inp, e, s)).collect();
    let mut bufs: Vec<Vec<f32>> = lens.iter().map(|&n| vec![f32::NAN; n]).collect();
    for i in 0..3 {
        // Views this large never fit (the output cannot hold that many
        // rows, or the view needs more than CAP elements): not filled.
        let work = ext[i].b.checked_mul(ext[i].h).and_then(|x| x.checked_mul(ext[i].n)?.checked_mul(ext[i].w));
        if ext[i].empty() || work.is_none_or(|n| n > 1 << 20) {
            continue;
        }
        for row in ext[i].rows() {
            for c in 0..ext[i].w {
                let at = start(strides[i], row) + c as u128 * strides[i].dim as u128;
                if let Some(x) = usize::try_from(at).ok().and_then(|at| bufs[i].get_mut(at)) {
                    *x = value(&mut seed);
                }
            }
        }
    }
    let mut out = std::mem::take(&mut bufs[3]);
    out.fill(SENTINEL);

    let settings = settings(&mut inp);
    let blocks = |spread: Broadcast| spread.blocks(batch, q_heads);
    let pairs = nq.checked_mul(nk);
    let mask_kind = inp.byte() % 3;
    let mask_spread = spread(&mut inp);
    let mask_block = if mask_kind == 1 { pairs } else { Some(nk) };
    let mut mask = vec![true; if mask_kind == 0 { 0 } else { entries(&mut inp, mask_block, blocks(mask_spread)) }];
    inp.bools(&mut mask);
    let bias_kind = inp.byte() % 3;
    let bias_spread = spread(&mut inp);
    let bias_block = if bias_kind == 1 { pairs } else { Some(nk) };
    let mut bias = vec![0.0; if bias_kind == 0 { 0 } else { entries(&mut inp, bias_block, blocks(bias_spread)) }];
    for x in &mut bias {
        *x = inp.float(FloatMode::Masky);
    }
    let slopes_kind = inp.byte() % 3;
    let slopes: Vec<f32> = match slopes_kind {
        0 => Vec::new(),
        1 => (0..q_heads.min(CAP)).map(|_| f32::from(inp.byte()) / 64.0).collect(),
        _ => (0..inp.below(9)).map(|_| 0.25).collect(),
    };

    let mut o = RuntimeHeadOptions::new().with_settings(settings);
    match mask_kind {
        1 => o = o.mask(Mask::PerQuery(&mask), mask_spread),
        2 => o = o.mask(Mask::PerKey(&mask), mask_spread),
        _ => {}
    }
    match bias_kind {
        1 => o = o.bias(Bias::PerQuery(&bias), bias_spread),
        2 => o = o.bias(Bias::PerKey(&bias), bias_spread),
        _ => {}
    }
    if slopes_kind != 0 {
        o = o.alibi_slopes(&slopes);
    }

    // The first error of the documented order, from the rules.
    let expected = (|| {
        if [batch, q_heads, kv_heads, nq, nk, d, dv].contains(&0) {
            return Err(Error::ZeroDimension);
        }
        if q_heads % kv_heads != 0 {
            return Err(Error::HeadGroups);
        }
        let operands = [Operand::Query, Operand::Key, Operand::Value, Operand::Output];
        for (i, operand) in operands.into_iter().enumerate() {
            let (e, s) = (ext[i], strides[i]);
            let fail = |v| Err(Error::View(operand, v));
            if e.w > 1 && s.dim != 1 {
                return fail(ViewError::DimStride);
            }
            if e.n > 1 && s.token < e.w {
                return fail(ViewError::TokenStride);
            }
            if extent(e, s) > lens[i] as u128 {
                return fail(ViewError::OutOfBounds);
            }
            if operand == Operand::Output && !nests(e, s) {
                return fail(ViewError::Overlap);
            }
        }
        let want = |block: Option<usize>, spread| block.and_then(|b| b.checked_mul(blocks(spread)));
        if mask_kind != 0 && want(mask_block, mask_spread) != Some(mask.len()) {
            return Err(Error::MaskLength);
        }
        if bias_kind != 0 && want(bias_block, bias_spread) != Some(bias.len()) {
            return Err(Error::BiasLength);
        }
        if slopes_kind != 0 && slopes.len() != q_heads {
            return Err(Error::SlopesLength);
        }
        Ok(())
    })();

    let views = [View::new(&bufs[0], strides[0]), View::new(&bufs[1], strides[1]), View::new(&bufs[2], strides[2])];
    let got = mh::attention(shape, views[0], views[1], views[2], ViewMut::new(&mut out, strides[3]), &o);
    if std::env::var_os("SDPA_FUZZ_DEBUG").is_some() {
        eprintln!("{shape:?}\nstrides {strides:?}\nlens {lens:?}\n{o:?}\ngot {got:?}, expected {expected:?}");
    }
    assert_eq!(got, expected, "{shape:?} strides {strides:?} lens {lens:?}");
    // The overlap rule is sound: small outputs that really overlap are refused.
    let eo = ext[3];
    let out_rows = eo.b.checked_mul(eo.h).and_then(|x| x.checked_mul(eo.n));
    if !eo.empty() && out_rows.is_some_and(|n| n <= 512) && overlaps(eo, strides[3]) {
        assert!(got.is_err(), "an overlapping output was accepted: {strides:?}");
    }
    if got.is_err() {
        assert!(out.iter().all(|x| x.to_bits() == SENTINEL.to_bits()), "{got:?} wrote to the output");
        return;
    }
    assert!(!overlaps(eo, strides[3]), "accepted output rows overlap: {:?}", strides[3]);

    // Every head against the single-head call on its rows, copied out.
    let single = runtime::Shape { queries: nq, keys: nk, head_dim: d, value_dim: dv };
    let group = q_heads / kv_heads;
    let mut inside = vec![false; out.len()];
    for (b, h, t) in eo.rows() {
        let at = start(strides[3], (b, h, t)) as usize;
        inside[at..at + dv].fill(true);
    }
    for b in 0..batch {
        for h in 0..q_heads {
            let rows = |i: usize, head: usize| -> Vec<f32> {
                let (e, s) = (ext[i], strides[i]);
                (0..e.n).flat_map(|t| {
                    let at = start(s, (b, head, t)) as usize;
                    bufs[i][at..at + e.w].to_vec()
                }).collect()
            };
            let (q, k, v) = (rows(0, h), rows(1, h / group), rows(2, h / group));
            let mut ho = runtime::RuntimeOptions::new().with_settings(settings);
            if slopes_kind != 0 {
                ho = ho.alibi(slopes[h]);
            }
            let block = |len: usize, spread: Broadcast| {
                let i = spread.block_of(b, h, q_heads);
                i * len..(i + 1) * len
            };
            match mask_kind {
                1 => ho = ho.mask(Mask::PerQuery(&mask[block(nq * nk, mask_spread)])),
                2 => ho = ho.mask(Mask::PerKey(&mask[block(nk, mask_spread)])),
                _ => {}
            }
            match bias_kind {
                1 => ho = ho.bias(Bias::PerQuery(&bias[block(nq * nk, bias_spread)])),
                2 => ho = ho.bias(Bias::PerKey(&bias[block(nk, bias_spread)])),
                _ => {}
            }
            let mut want = vec![0.0; nq * dv];
            assert_eq!(runtime::attention(single, &q, &k, &v, &mut want, &ho), Ok(()));
            for t in 0..nq {
                let at = start(strides[3], (b, h, t)) as usize;
                let (got, want) = (&out[at..at + dv], &want[t * dv..(t + 1) * dv]);
                assert!(
                    got.iter().zip(want).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "head ({b}, {h}) row {t}: {got:?} vs single-head {want:?}"
                );
                assert!(got.iter().all(|x| x.is_finite()), "head ({b}, {h}) row {t} not finite: {got:?}");
            }
        }
    }
    for (x, inside) in out.iter().zip(&inside) {
        assert!(*inside || x.to_bits() == SENTINEL.to_bits(), "wrote outside the output view");
    }
});

/// A size: `0..max` mostly, sometimes huge.
fn dim(inp: &mut Input<'_>, max: usize) -> usize {
    match inp.byte() {
        b @ 0..=243 => usize::from(b) % max,
        _ => inp.size().max(1 << 20),
    }
}

/// A stride byte: small, or (rarely) huge.
fn stride(inp: &mut Input<'_>) -> usize {
    match inp.byte() {
        b @ 0..=249 => usize::from(b) % 64,
        b => [usize::MAX, usize::MAX / 2 + 1, 1 << 40, isize::MAX as usize, 1 << 33, 3][usize::from(b - 250)],
    }
}

/// A view's strides: dense BHSD or BSHD, nested with padding in any axis
/// order, or arbitrary.
fn layout(inp: &mut Input<'_>, e: Ext) -> Strides {
    let tag = inp.byte();
    let sat = |a: usize, b: usize| a.saturating_mul(b);
    match tag % 8 {
        0 => Strides::bhsd(e.h, e.n, e.w),
        1 => Strides::bshd(e.n, e.h, e.w),
        2..=4 => {
            const ORDERS: [[usize; 3]; 6] = [[2, 1, 0], [1, 2, 0], [0, 1, 2], [0, 2, 1], [1, 0, 2], [2, 0, 1]];
            let order = ORDERS[inp.below(6)];
            let extent = [e.b, e.h, e.n];
            let mut s = [0usize; 3];
            let mut span = e.w;
            for axis in order {
                s[axis] = span.saturating_add(inp.below(4));
                span = sat(extent[axis].saturating_sub(1), s[axis]).saturating_add(span);
            }
            Strides { batch: s[0], head: s[1], token: s[2], dim: 1 }
        }
        5 | 6 => {
            let dim = if tag % 8 == 6 { stride(inp) % 3 } else { 1 };
            Strides { batch: stride(inp), head: stride(inp), token: stride(inp), dim }
        }
        _ => Strides { dim: usize::from(inp.byte() % 3), ..Strides::bshd(e.n, e.h, e.w) },
    }
}

/// A buffer length: the view's extent, one off, or small and random.
fn length(inp: &mut Input<'_>, e: Ext, s: Strides) -> usize {
    let exact = if e.empty() { Some(0) } else { usize::try_from(extent(e, s)).ok().filter(|&n| n <= CAP) };
    let tag = inp.byte();
    match (tag % 4, exact) {
        (0 | 1, Some(n)) => n,
        (2, Some(n)) => {
            if tag & 4 == 0 {
                n + 1
            } else {
                n.saturating_sub(1)
            }
        }
        _ => inp.below(100),
    }
}

/// Entries of a mask or bias: the right count, one off, or small and random.
fn entries(inp: &mut Input<'_>, block: Option<usize>, blocks: usize) -> usize {
    let right = block.and_then(|b| b.checked_mul(blocks)).filter(|&n| n <= CAP);
    let tag = inp.byte();
    match (tag % 4, right) {
        (0 | 1, Some(n)) => n,
        (2, Some(n)) => {
            if tag & 4 == 0 {
                n + 1
            } else {
                n.saturating_sub(1)
            }
        }
        _ => inp.below(64),
    }
}

fn spread(inp: &mut Input<'_>) -> Broadcast {
    [Broadcast::Shared, Broadcast::PerHead, Broadcast::PerBatch, Broadcast::PerBatchHead][inp.below(4)]
}

/// Moderate settings: with values in `[-4, 4)` every score is finite.
fn settings(inp: &mut Input<'_>) -> Settings {
    let flags = inp.byte();
    let scale = (flags & 1 != 0).then(|| f32::from(inp.byte() as i8) / 16.0);
    let window = (flags & 8 != 0).then(|| Window { left: inp.extent(), right: inp.extent() });
    let alibi_slope = (flags & 16 != 0).then(|| f32::from(inp.byte()) / 64.0);
    Settings {
        scale,
        causal: flags & 2 != 0,
        alignment: if flags & 4 != 0 { Alignment::BottomRight } else { Alignment::TopLeft },
        window,
        alibi_slope,
    }
}

/// A value in `[-4, 4)` (SplitMix64).
fn value(state: &mut u64) -> f32 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as f32 / (1u64 << 21) as f32 - 4.0
}

/// The nesting rule, written from the docs: axes of extent above 1 sorted
/// by stride, each stride at least the span below it.
fn nests(e: Ext, s: Strides) -> bool {
    let mut axes = vec![(s.batch as u128, e.b), (s.head as u128, e.h), (s.token as u128, e.n)];
    axes.retain(|&(_, n)| n > 1);
    axes.sort();
    let mut below = e.w as u128;
    for (stride, n) in axes {
        if stride < below {
            return false;
        }
        below = below.saturating_add((n as u128 - 1).saturating_mul(stride));
    }
    true
}

/// Whether two output rows share an element, comparing every pair.
fn overlaps(e: Ext, s: Strides) -> bool {
    if e.empty() {
        return false;
    }
    let mut starts: Vec<u128> = e.rows().map(|r| start(s, r)).collect();
    starts.sort_unstable();
    starts.windows(2).any(|w| w[1] - w[0] < e.w as u128)
}
