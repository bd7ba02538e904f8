//! The multi-head layer's decode path against its forward pass: an arbitrary
//! token stream goes through `SelfAttention::decode` with a fixed or sliding
//! `KvCache`, and every step is checked against the row of `forward` (causal,
//! or `sliding_window(CAP)`) for the same position.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdpa::layer::{
    CacheError, CacheMode, DecodeScratch, KvCache, LayerMask, Positions, Rope, Scratch, SelfAttention, Weights,
    alibi_slope,
};
use sdpa::{Alignment, Matrix, Settings};
use sdpa_fuzz::check::assert_same;
use sdpa_fuzz::{SENTINEL, input::Input};
use sdpa_oracle::bounds::projection_bound;
use sdpa_oracle::{LIMIT, Problem, Spread};

fuzz_target!(init: sdpa_fuzz::announce("layer_decode"), |data: &[u8]| {
    let mut inp = Input::new(data);
    // <D, QH, KVH, HD, CAP, T>: MHA, MQA, GQA, and a cache longer than the
    // tiny engine's 16 keys; T > CAP so fixed caches fill and sliding ones wrap.
    match inp.byte() % 4 {
        0 => run::<4, 2, 2, 2, 3, 8>(&mut inp),
        1 => run::<8, 2, 1, 4, 5, 12>(&mut inp),
        2 => run::<8, 4, 2, 2, 4, 9>(&mut inp),
        _ => run::<16, 2, 1, 8, 17, 20>(&mut inp),
    }
});

fn max_abs(xs: &[f32]) -> f64 {
    xs.iter().map(|x| f64::from(x.abs())).fold(0.0, f64::max)
}

fn run<const D: usize, const QH: usize, const KVH: usize, const HD: usize, const CAP: usize, const T: usize>(
    inp: &mut Input<'_>,
) {
    let (mut wq, mut wo) = (vec![0.0f32; D * D], vec![0.0f32; D * D]);
    let (mut wk, mut wv) = (vec![0.0f32; KVH * HD * D], vec![0.0f32; KVH * HD * D]);
    for w in [&mut wq, &mut wk, &mut wv, &mut wo] {
        inp.fill(w);
    }
    let biases = inp.bool();
    let (mut bq, mut bo) = (vec![0.0f32; D], vec![0.0f32; D]);
    let (mut bk, mut bv) = (vec![0.0f32; KVH * HD], vec![0.0f32; KVH * HD]);
    if biases {
        for b in [&mut bq, &mut bk, &mut bv, &mut bo] {
            inp.fill(b);
        }
    }
    let mut x = Matrix::<T, D>::zeros();
    inp.fill(x.as_mut_slice());
    let positions = match inp.byte() % 4 {
        0 => Positions::None,
        1 => Positions::Rope(Rope::interleaved()),
        2 => Positions::Rope(Rope::half_split()),
        _ => Positions::Alibi,
    };
    let scale = inp.bool().then(|| inp.scalar());
    let mode = if inp.bool() { CacheMode::Sliding } else { CacheMode::Fixed };
    let steps = inp.below(T + 1);

    if std::env::var_os("SDPA_FUZZ_DEBUG").is_some() {
        eprintln!(
            "D {D} QH {QH} KVH {KVH} HD {HD} CAP {CAP} T {T}, {positions:?}, scale {scale:?}, {mode:?}, {steps} steps"
        );
        eprintln!("wq {wq:?}\nwk {wk:?}\nwv {wv:?}\nwo {wo:?}\nbiases {biases}: {bq:?} {bk:?} {bv:?} {bo:?}\nx {x:?}");
    }
    let Ok(mut weights) = Weights::<D, QH, KVH, HD>::new(&wq, &wk, &wv, &wo) else {
        panic!("weights of the right size refused");
    };
    if biases {
        let Ok(w) = weights.with_biases(&bq, &bk, &bv, &bo) else {
            panic!("biases of the right size refused");
        };
        weights = w;
    }
    let mut layer = SelfAttention::new(weights, positions);
    if let Some(s) = scale {
        layer = layer.with_scale(s);
    }

    // The forward pass over all T tokens; rows 0..steps only see tokens ≤ their own.
    let mask = match mode {
        CacheMode::Fixed => LayerMask::<T>::causal(),
        _ => LayerMask::<T>::sliding_window(CAP),
    };
    let mut full = Matrix::<T, D>::zeros();
    let mut fs = Scratch::<T, D, QH, KVH, HD>::new();
    layer.forward(&x, &mut full, &mask, &mut fs);

    // Inputs small enough that nothing can overflow: projections at most P,
    // RoPE at most √2·P, scores at most 2·HD·P²·|scale·log₂e|, and so on.
    let finite_in = [&wq, &wk, &wv, &wo, &bq, &bk, &bv, &bo].iter().all(|w| w.iter().all(|v| v.is_finite()))
        && x.as_slice().iter().all(|v| v.is_finite())
        && scale.is_none_or(f32::is_finite);
    let wmax = [&wq, &wk, &wv].iter().map(|w| max_abs(w)).fold(0.0, f64::max);
    let bmax = [&bq, &bk, &bv].iter().map(|b| max_abs(b)).fold(0.0, f64::max);
    let p = D as f64 * max_abs(x.as_slice()) * wmax + bmax;
    let s = scale.map_or(1.0, |s| f64::from(s).abs()).max(1.0);
    let alibi = if positions == Positions::Alibi { T as f64 } else { 0.0 };
    let safe = finite_in
        && s * 2.0 <= LIMIT
        && 2.0 * HD as f64 * p * p * s * 2.0 + alibi <= LIMIT
        && 2.0 * p * (D as f64) * max_abs(&wo) + max_abs(&bo) <= LIMIT;

    let mut cache = KvCache::<CAP, KVH, HD>::with_mode(mode);
    let mut ds = DecodeScratch::<D, CAP>::new();
    for t in 0..steps {
        let before = cache.clone();
        let mut out = [SENTINEL; D];
        let r = layer.decode(&x.rows()[t], &mut out, &mut cache, &mut ds);
        if mode == CacheMode::Fixed && t >= CAP {
            assert_eq!(r, Err(CacheError::Full), "token {t} into a full fixed cache of {CAP}");
            // Bit for bit (`==` on the cache is IEEE: NaN keys never compare equal).
            assert_eq!((cache.len(), cache.next_position()), (before.len(), before.next_position()));
            for g in 0..KVH {
                let (a, b) = (cache.keys(g).unwrap_or_default(), before.keys(g).unwrap_or_default());
                assert_same(a.as_flattened(), b.as_flattened(), "keys after a refused token");
                let (a, b) = (cache.values(g).unwrap_or_default(), before.values(g).unwrap_or_default());
                assert_same(a.as_flattened(), b.as_flattened(), "values after a refused token");
            }
            assert!(out.iter().all(|v| v.to_bits() == SENTINEL.to_bits()), "a refused token wrote the output");
            continue;
        }
        assert_eq!(r, Ok(t), "decode of token {t}");
        if std::env::var_os("SDPA_FUZZ_DEBUG").is_some() {
            eprintln!("token {t}: decode {out:?}\n  forward {:?}", full.rows()[t]);
            for h in 0..QH {
                eprintln!("  q head {h}: {:?}", fs.query(t, h));
            }
            for g in 0..KVH {
                eprintln!("  keys {g}: {:?}\n  values {g}: {:?}", cache.keys(g), cache.values(g));
            }
        }
        assert_eq!(cache.len(), (t + 1).min(CAP));
        assert_eq!(cache.next_position(), t + 1);
        let slot = t % CAP;
        assert_eq!(cache.position_of(slot), Some(t), "slot {slot} after token {t}");
        for s in 0..cache.len() {
            let pos = cache.position_of(s).unwrap_or(usize::MAX);
            assert!(pos <= t && t - pos < CAP && pos % CAP == s, "slot {s} holds position {pos} after token {t}");
        }
        // The new token's key (after RoPE) and value: the forward's bits.
        for g in 0..KVH {
            let (Some(k), Some(v)) = (cache.keys(g), cache.values(g)) else {
                panic!("kv head {g} missing");
            };
            let (Some(fk), Some(fv)) = (fs.key(t, g), fs.value(t, g)) else {
                panic!("forward kv head {g} missing");
            };
            assert_same(&k[slot], fk, &format!("key of token {t}, head {g}"));
            assert_same(&v[slot], fv, &format!("value of token {t}, head {g}"));
        }
        check_row(&layer, &cache, &fs, &wo, &bo, biases, t, &out, &full.rows()[t], safe);
    }
}

/// Decode's output for token `t` against the forward's row `t`: finite when
/// nothing can overflow, and within the sum of both attentions' error bounds
/// (each head within its f64 reference's tolerance, propagated through the
/// output projection) plus the two projections' roundings ([`projection_bound`]).
#[allow(clippy::too_many_arguments)]
fn check_row<const D: usize, const QH: usize, const KVH: usize, const HD: usize, const CAP: usize, const T: usize>(
    layer: &SelfAttention<'_, D, QH, KVH, HD>,
    cache: &KvCache<CAP, KVH, HD>,
    fs: &Scratch<T, D, QH, KVH, HD>,
    wo: &[f32],
    bo: &[f32],
    biases: bool,
    t: usize,
    out: &[f32; D],
    want: &[f32; D],
    safe: bool,
) {
    if !safe {
        return;
    }
    assert!(out.iter().all(|v| v.is_finite()), "token {t}: decode output {out:?} not finite for finite inputs");
    assert!(want.iter().all(|v| v.is_finite()), "token {t}: forward row {want:?} not finite for finite inputs");
    let len = cache.len();
    // Per merged column: the attention tolerance and a bound on |value|.
    let (mut tol, mut mag) = ([0.0f64; D], [0.0f64; D]);
    let mut bias = vec![0.0f32; len];
    for h in 0..QH {
        let g = h / (QH / KVH);
        let (Some(k), Some(v), Some(q)) = (cache.keys(g), cache.values(g), fs.query(t, h)) else {
            panic!("head {h} missing");
        };
        let mut settings = Settings { scale: layer.scale(), alignment: Alignment::BottomRight, ..Settings::default() };
        let mut problem = Problem {
            nq: 1,
            nk: len,
            d: HD,
            dv: HD,
            q: &q[..],
            k: k.as_flattened(),
            v: v.as_flattened(),
            settings,
            mask: None,
            bias: None,
        };
        if layer.positions() == Positions::Alibi {
            let slope = alibi_slope(h, QH);
            if t >= CAP {
                // Ring order: each slot's distance from the newest token.
                for (s, b) in bias.iter_mut().enumerate() {
                    let pos = cache.position_of(s).unwrap_or(0);
                    *b = -(slope * (t - pos) as f32);
                }
                problem.bias = Some(Spread::PerKey(&bias));
            } else {
                settings.alibi_slope = Some(slope);
                problem.settings = settings;
            }
        }
        let r = problem.row_reference(0);
        if !r.finite {
            return; // the reference gives no bound (cannot happen for safe inputs)
        }
        for c in 0..HD {
            tol[h * HD + c] = r.tolerance;
            mag[h * HD + c] = r.lo[c].abs().max(r.hi[c].abs()) + r.tolerance;
        }
    }
    for (j, (o, w)) in out.iter().zip(want).enumerate() {
        let row = &wo[j * D..(j + 1) * D];
        let b = if biases { f64::from(bo[j].abs()) } else { 0.0 };
        let bound = projection_bound(row, &tol, &mag, b);
        let diff = (f64::from(*o) - f64::from(*w)).abs();
        assert!(
            diff <= bound,
            "token {t} out {j}: decode {o:e} vs forward {w:e}, difference {diff:e} > bound {bound:e}"
        );
    }
}
