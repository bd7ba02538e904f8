//! Attention on inputs whose scores are exact in f32, large ones included
//! (issue 12, "Accuracy"): every engine on every backend meets the crate's
//! own bound with the score error `Δ` set to 0, `max|v|·K` (`K` from the
//! softmax and the weighted sum alone, `sdpa_oracle::RowBounds::oracle` of
//! `Problem::exact_score_row_bounds`).
//!
//! The inputs: each query is a row of the Sylvester–Hadamard matrix (±1
//! entries), the queries distinct rows, and each key `kⱼ = Σₐ αⱼₐ·hₐ` is a
//! combination of the queries' rows with dyadic `αⱼₐ`, so that
//! `qₐ·kⱼ = D·αⱼₐ` and the score `sₐⱼ = D·αⱼₐ·scale` is a designed dyadic
//! number; the scale is a power of two (`1/√D` for D = 16 and 64, or 1).
//! Every product `±kⱼ[c]` is exact, and [`Exact::new`] checks that every
//! partial sum of them (in any order, fused or not) is too: all are
//! multiples of the keys' finest binary unit `2⁻ᵖ` and at most
//! `Σ|kⱼ[c]| < 2^(24 − p)` in size. ALiBi slopes and biases are dyadic and
//! checked to add exactly. The score rows: near-ties at |s| ≈ 10⁴ (gaps of
//! 1/8 and up), 8-way ties at the maximum, all-equal rows (which must give
//! the mean of the visible values), scores rising with the key index (a new
//! maximum in every block, so every block rescales), rows spread over
//! ±10⁴ (most weights underflow), the same at |s| ≈ 80 and at 0.
//!
//! Also, on the same inputs: `attention_weights`' output and each of its
//! weights within their bounds with `Δ = 0`, and within twice the bound of
//! `attention` (each is within the bound of the same f64 value); an
//! all-zero key bias (and an all-zero per-query bias) changes nothing
//! beyond the bound, and nothing at all where it runs on the same engine.
//!
//! Run with `--nocapture` for the largest error and error/bound per backend
//! and engine: `cargo test --release --test exact_scores -- --nocapture`.

#![allow(clippy::needless_range_loop)] // index loops mirror the math

use sdpa::runtime::{self, Bias, Mask, Shape};
use sdpa::{Alignment, Backend, Settings, Window};
use sdpa_oracle::backend::{each_backend_and_engine, engine};
use sdpa_oracle::bounds::softmax_weight_bound;
use sdpa_oracle::{Case, Rng};
use std::collections::BTreeMap;

/// Entry `c` of row `a` of the `d × d` Sylvester–Hadamard matrix.
fn hadamard(a: usize, c: usize) -> f64 {
    if (a & c).count_ones().is_multiple_of(2) { 1.0 } else { -1.0 }
}

/// Binary digits after the point of the dyadic `x` (0 for integers).
fn fraction_bits(x: f64) -> i32 {
    let mut p = 0;
    while (x * 2f64.powi(p)).fract() != 0.0 {
        p += 1;
        assert!(p < 60, "{x} is not a short dyadic number");
    }
    p
}

/// A problem with exact scores: the case and the designed f64 scores.
struct Exact {
    name: String,
    case: Case,
    /// `nq × nk` scores `q·k·scale − ALiBi + bias`, exact.
    scores: Vec<f64>,
}

impl Exact {
    /// Queries `h₀ … h_{nq−1}` and keys giving the scores `q·k·scale` of
    /// `dots` (`nq × nk`, before ALiBi and bias), with random values in
    /// `[-1, 1)`. Panics if an input or a partial sum would not be exact.
    fn new(name: &str, d: usize, dv: usize, scale: f32, dots: &[Vec<f64>], rng: &mut Rng) -> Self {
        let (nq, nk) = (dots.len(), dots[0].len());
        assert!(d.is_power_of_two() && nq <= d && scale.log2().fract() == 0.0, "{name}: not an exact design");
        let q: Vec<f32> = (0..nq).flat_map(|a| (0..d).map(move |c| hadamard(a, c) as f32)).collect();
        let unit = d as f64 * scale as f64; // s = α·D·scale
        let mut k = vec![0.0f32; nk * d];
        for j in 0..nk {
            let row: Vec<f64> = (0..d).map(|c| (0..nq).map(|a| dots[a][j] / unit * hadamard(a, c)).sum()).collect();
            let p = row.iter().map(|&x| fraction_bits(x)).max().unwrap_or(0);
            let size: f64 = row.iter().map(|x| x.abs()).sum();
            assert!(size * 2f64.powi(p) < 2f64.powi(24), "{name}: key {j}'s partial sums need more than 24 bits");
            for (c, &x) in row.iter().enumerate() {
                assert_eq!(x as f32 as f64, x, "{name}: key {j} entry {c} is not an f32");
                k[j * d + c] = x as f32;
            }
        }
        let mut v = vec![0.0f32; nk * dv];
        rng.fill(&mut v, -1.0, 1.0);
        let case = Case {
            nq,
            nk,
            d,
            dv,
            q,
            k,
            v,
            settings: Settings { scale: Some(scale), ..Settings::default() },
            mask: None,
            bias: None,
        };
        let mut exact = Exact { name: name.to_string(), case, scores: dots.concat() };
        exact.check_scores();
        exact
    }

    /// The same inputs with other settings (scale kept), a mask or a bias;
    /// the scores recomputed and checked exact.
    fn with(&self, what: &str, settings: Settings, mask: Option<Vec<bool>>, bias: Option<Vec<f32>>) -> Self {
        let settings = Settings { scale: self.case.settings.scale, ..settings };
        let case = Case { settings, mask, bias, ..self.case.clone() };
        let mut exact = Exact { name: format!("{}, {what}", self.name), case, scores: Vec::new() };
        exact.check_scores();
        exact
    }

    /// Recomputes [`Self::scores`] in f64 and checks that every step the
    /// library takes in f32 is exact: `q·k` (the designed value), the scale
    /// (a power of two), the ALiBi term and its subtraction, the bias
    /// addition.
    fn check_scores(&mut self) {
        let p = self.case.view();
        let scale = p.scale() as f64;
        let mut scores = Vec::new();
        for i in 0..p.nq {
            for j in 0..p.nk {
                let dot = sdpa_oracle::dot64(p.q_row(i), p.k_row(j));
                let mut s = dot * scale;
                let representable = |x: f64| x as f32 as f64 == x;
                assert!(representable(dot) && representable(s), "{}: score [{i}][{j}] not exact", self.name);
                if self.case.settings.alibi_slope.is_some() {
                    let alibi = p.alibi64(i, j);
                    assert!(representable(alibi) && representable(s - alibi), "{}: ALiBi [{i}][{j}]", self.name);
                    s -= alibi;
                }
                if let Some(b) = p.bias_at(i, j).filter(|b| b.is_finite()) {
                    assert!(representable(s + b as f64), "{}: bias [{i}][{j}]", self.name);
                    s += b as f64;
                }
                assert_eq!(s, p.score64(i, j), "{}: score [{i}][{j}]", self.name);
                scores.push(s);
            }
        }
        if !self.scores.is_empty() {
            assert_eq!(scores, self.scores, "{}: the keys do not give the designed scores", self.name);
        }
        self.scores = scores;
    }

    /// Whether row `i`'s visible scores are all equal.
    fn all_equal(&self, i: usize) -> bool {
        let p = self.case.view();
        let mut visible = (0..p.nk).filter(|&j| p.visible(i, j)).map(|j| self.scores[i * p.nk + j]);
        visible.next().is_some_and(|first| visible.all(|s| s == first))
    }
}

/// One row of `nk` designed scores of kind `kind` at magnitude `m`, all
/// multiples of 1/8.
fn row(kind: usize, m: f64, nk: usize) -> Vec<f64> {
    const GAPS: [f64; 8] = [0.0, 0.125, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0];
    (0..nk)
        .map(|j| match kind {
            // Near-ties below the maximum.
            0 => m - GAPS[(j * 5 + 3) % 8],
            // Eight keys tie at the maximum, the others up to 2.5 below it.
            1 => {
                if j % nk.div_ceil(8).max(1) == 0 && j / nk.div_ceil(8).max(1) < 8 {
                    m
                } else {
                    m - 0.5 * (1 + j % 5) as f64
                }
            }
            // All equal.
            2 => m,
            // Rising by 1/8 per key: a new maximum in every block.
            3 => m - 0.125 * (nk - 1 - j) as f64,
            // Spread over ±m in steps of m/4 (most weights underflow), with
            // a near-tie at the top.
            4 => [-1.0, 0.5, -0.25, 1.0, 0.0, -0.5, 0.75, 1.0][j % 8] * m - if j % 16 == 3 { 0.125 } else { 0.0 },
            // Falling by 1/8 per key.
            _ => m - 0.125 * j as f64,
        })
        .collect()
}

/// The designed score matrix: row `a` has kind `a % 6` at magnitude
/// `magnitudes[a % len]`.
fn dots(nq: usize, nk: usize, magnitudes: &[f64]) -> Vec<Vec<f64>> {
    (0..nq).map(|a| row(a % 6, magnitudes[(a / 6 + a) % magnitudes.len()], nk)).collect()
}

/// Every problem: shapes the tiny engine takes (NK, D, DV ≤ 16) and
/// larger ones, the default scale `1/√D` and scale 1, each with no mask,
/// causal (both alignments), a window, ALiBi, a dyadic key bias and a key
/// mask.
fn problems() -> Vec<Exact> {
    let mut rng = Rng::new(0x00E8_AC75);
    let big = [1e4, -1e4, 80.0, 1e4 - 0.5, 0.0, -80.0];
    let bases = [
        Exact::new("tiny 3×5×16×6", 16, 6, 0.25, &dots(3, 5, &big), &mut rng),
        Exact::new("tiny 12×16×16×16", 16, 16, 0.25, &dots(12, 16, &big), &mut rng),
        Exact::new(
            "16×100×64×24",
            64,
            24,
            0.125,
            &dots(16, 100, &[1e4, 80.0, -1e4, 0.5, 9999.5, 3.0, -7.0, 40.0]),
            &mut rng,
        ),
        Exact::new("5×200×64×7, scale 1", 64, 7, 1.0, &dots(5, 200, &big), &mut rng),
        Exact::new("20×33×32×9, scale 1/8", 32, 9, 0.125, &dots(20, 33, &[1e4, 80.0, 0.0, -1e4, 5000.0]), &mut rng),
        Exact::new("1×130×64×64", 64, 64, 0.125, &dots(1, 130, &[1e4]), &mut rng),
    ];
    let base = Settings::default();
    let mut all = Vec::new();
    for b in bases {
        let (nq, nk) = (b.case.nq, b.case.nk);
        let key_bias: Vec<f32> = (0..nk).map(|j| [0.0, -0.5, 1.25, -3.0][j % 4]).collect();
        fn per_query<T: Copy>(nq: usize, keys: &[T]) -> Vec<T> {
            (0..nq).flat_map(|_| keys.iter().copied()).collect()
        }
        let key_mask: Vec<bool> = (0..nk).map(|j| j % 7 != 2).collect();
        let variants = [
            b.with("causal", Settings { causal: true, ..base }, None, None),
            b.with(
                "causal bottom-right",
                Settings { causal: true, alignment: Alignment::BottomRight, ..base },
                None,
                None,
            ),
            b.with("window 20, 3", Settings { window: Some(Window { left: 20, right: 3 }), ..base }, None, None),
            b.with("ALiBi 0.5", Settings { alibi_slope: Some(0.5), ..base }, None, None),
            b.with("dyadic bias", base, None, Some(per_query(nq, &key_bias))),
            b.with("key mask", base, Some(per_query(nq, &key_mask)), None),
        ];
        all.push(b);
        all.extend(variants);
    }
    all
}

/// Largest error and error / bound seen, per backend and engine (or API).
#[derive(Default)]
struct Worst(BTreeMap<(Backend, String), (f64, f64, usize)>);

impl Worst {
    fn note(&mut self, b: Backend, what: &str, err: f64, bound: f64) {
        let w = self.0.entry((b, what.to_string())).or_default();
        *w = (w.0.max(err), w.1.max(err / bound), w.2 + 1);
    }
}

/// Runs `runtime::attention` (or `attention_weights`, with `weights`) on
/// `case`, with an extra bias if given.
fn run(case: &Case, bias: Option<&[f32]>, weights: Option<&mut Vec<f32>>) -> Vec<f32> {
    let shape = Shape { queries: case.nq, keys: case.nk, head_dim: case.d, value_dim: case.dv };
    let mut options = runtime::RuntimeOptions::new().with_settings(case.settings);
    if let Some(m) = &case.mask {
        options = options.mask(Mask::PerQuery(m));
    }
    if let Some(b) = bias.or(case.bias.as_deref()) {
        options = options.bias(if b.len() == case.nk { Bias::PerKey(b) } else { Bias::PerQuery(b) });
    }
    let mut out = vec![f32::NAN; case.nq * case.dv];
    match weights {
        Some(w) => runtime::attention_weights(shape, &case.q, &case.k, &case.v, &mut out, w, &options),
        None => runtime::attention(shape, &case.q, &case.k, &case.v, &mut out, &options),
    }
    .expect("valid shape");
    out
}

#[test]
fn exact_scores_meet_the_bound_with_no_score_error_on_every_engine() {
    let problems = problems();
    let mut worst = Worst::default();
    let mut failures = Vec::new();
    let mut fail = |msg: String| {
        if failures.len() < 20 {
            failures.push(msg);
        }
    };
    each_backend_and_engine(|b, forced| {
        for p in &problems {
            let case = &p.case;
            let oracle = case.view();
            let ran = format!("{:?}", engine(&oracle));
            let want = oracle.attention64();
            let out = run(case, None, None);
            let mut weights = vec![f32::NAN; case.nq * case.nk];
            let w_out = run(case, None, Some(&mut weights));
            let zero_key = vec![0.0f32; case.nk];
            let zero_full = vec![0.0f32; case.nq * case.nk];
            // Zero biases only where the case has no bias of its own.
            let zeros: Vec<(&str, Vec<f32>)> = if case.bias.is_some() {
                Vec::new()
            } else {
                [("zero key bias", &zero_key), ("zero bias", &zero_full)]
                    .into_iter()
                    .map(|(name, bias)| (name, run(case, Some(bias), None)))
                    .collect()
            };
            let zero_case = Case { bias: Some(zero_full.clone()), ..case.clone() };
            let zero_engine = engine(&zero_case.view());
            for i in 0..case.nq {
                let bounds = oracle.exact_score_row_bounds(i);
                let at = |c: usize| format!("{} on {b} ({forced:?} forced, {ran} ran): out[{i}][{c}]", p.name);
                for c in 0..case.dv {
                    let w = want[i * case.dv + c];
                    let bound = bounds.oracle(c);
                    let g = out[i * case.dv + c] as f64;
                    worst.note(b, &ran, (g - w).abs(), bound);
                    if (g - w).abs() > bound {
                        fail(format!("{} = {g:e}, f64 {w:e}, err {:e} > bound {bound:e}", at(c), (g - w).abs()));
                    }
                    if p.all_equal(i) && bounds.n > 0 && (g - w).abs() > bound {
                        fail(format!("{}: an all-equal row is not the mean of its values", at(c)));
                    }
                    let gw = w_out[i * case.dv + c] as f64;
                    worst.note(b, "attention_weights", (gw - w).abs(), bound);
                    if (gw - w).abs() > bound {
                        fail(format!("{} attention_weights = {gw:e}, f64 {w:e}, bound {bound:e}", at(c)));
                    }
                    if (gw - g).abs() > 2.0 * bound {
                        fail(format!("{}: attention {g:e} vs attention_weights {gw:e} > 2·bound {bound:e}", at(c)));
                    }
                    for (name, z) in &zeros {
                        let gz = z[i * case.dv + c] as f64;
                        worst.note(b, &format!("{zero_engine:?} with a {name}"), (gz - w).abs(), bound);
                        if (gz - w).abs() > bound {
                            fail(format!("{} with a {name} = {gz:e}, f64 {w:e}, bound {bound:e}", at(c)));
                        }
                        let same_engine = zero_engine == engine(&oracle);
                        if (same_engine && gz.to_bits() != g.to_bits()) || (gz - g).abs() > 2.0 * bound {
                            fail(format!("{}: a {name} moved {g:e} to {gz:e} (same engine: {same_engine})", at(c)));
                        }
                    }
                }
                // The weights one by one: the three-pass softmax's bound on
                // exact scores (Δ = 0), `t` the exact gap to the maximum.
                let w64 = oracle.weights64(i);
                let scores = oracle.scores64(i);
                let max = scores.iter().flatten().copied().fold(f64::NEG_INFINITY, f64::max);
                for j in 0..case.nk {
                    let g = weights[i * case.nk + j] as f64;
                    let Some(s) = scores[j] else {
                        if g.to_bits() != 0 {
                            fail(format!("{}: masked weight [{i}][{j}] = {g}", p.name));
                        }
                        continue;
                    };
                    let bound = softmax_weight_bound(w64[j], s - max, bounds.range, bounds.n, 1);
                    worst.note(b, "weights", (g - w64[j]).abs(), bound);
                    if (g - w64[j]).abs() > bound {
                        fail(format!(
                            "{} on {b}: weight [{i}][{j}] = {g:e}, f64 {:e}, bound {bound:e}",
                            p.name, w64[j]
                        ));
                    }
                }
            }
        }
    });
    println!("max |error| and max error / bound (Δ = 0), per backend and engine, over {} problems:", problems.len());
    for ((b, what), (err, ratio, count)) in &worst.0 {
        println!("  {b:>7} {what:<28} {count:>7} values: max |err| {err:.2e}, max err/bound {ratio:.4}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
