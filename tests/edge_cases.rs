//! The edge-case list applied to every public kernel and to attention:
//! ±0, the smallest and largest subnormals, the smallest normal, ±f32::MAX,
//! ±∞ and NaN, each placed at every kind of lane position (body and tail),
//! plus all-equal rows, one-hot rows, rows of −∞, a single key and NK = 1.
//!
//! Where a kernel's result is fully determined (axpy, axpy_rows, scale,
//! all-equal and one-hot softmax rows, NK = 1 attention) the test demands
//! the exact bits; elsewhere it follows IEEE semantics for the non-finite
//! cases and the f64 oracle within the derived bounds for the finite ones.
//!
//! `cargo test --release --test edge_cases`

#![allow(clippy::needless_range_loop)] // index loops mirror the rules

use sdpa::kernels::{
    OnlineSoftmax, axpy, axpy_reference, axpy_rows, dot, dot_reference, dot_rows, exp, exp_in_place, exp_reference,
    scale, softmax, softmax_reference,
};
use sdpa::runtime::{self, Shape};
use sdpa::{Alignment, Matrix, Options, Settings, attention, attention_weights};
use sdpa_oracle::bounds::{dot_bound, softmax_sum_bound, softmax_weight_bound};
use sdpa_oracle::kernels::axpy_as_built;
use sdpa_oracle::{Case, ScoreOrder, TINY, abs_dot64, dot64, same, softmax64};

const SPECIALS: [f32; 14] = [
    0.0,
    -0.0,
    f32::from_bits(1), // smallest subnormal, 2^-149
    -f32::from_bits(1),
    f32::from_bits(0x007f_ffff), // largest subnormal
    -f32::from_bits(0x007f_ffff),
    f32::MIN_POSITIVE,
    1.0,
    f32::MAX,
    -f32::MAX,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
    -f32::NAN,
];

/// Lengths covering no vector, one vector, and body plus every kind of tail
/// for 4, 8 and 16 lanes.
const LENGTHS: [usize; 11] = [1, 2, 3, 4, 5, 8, 15, 16, 17, 33, 65];

fn background(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (0.25 + ((i * 7 + seed) % 11) as f32 * 0.125) * if (i + seed).is_multiple_of(3) { -1.0 } else { 1.0 })
        .collect()
}

fn positions(n: usize) -> Vec<usize> {
    let mut p = vec![0, n / 2, n - 1];
    p.dedup();
    p
}

/// A dot product result against IEEE f64 semantics on the same `f32`s: NaN
/// where f64 gives NaN, the same infinity where f64 gives one or where the
/// exact sum lies beyond `f32::MAX`, else within the `n`-term bound.
fn check_dot_like(got: f32, a: &[f32], b: &[f32], what: &str) {
    let exact = dot64(a, b);
    let n = a.len().min(b.len());
    if exact.is_nan() {
        assert!(got.is_nan(), "{what}: {got} where IEEE gives NaN ({a:?} · {b:?})");
    } else if (exact as f32).is_infinite() {
        assert_eq!(got, exact as f32, "{what}: overflow must give {}", exact as f32);
    } else {
        let bound = dot_bound(n, abs_dot64(a, b));
        assert!((got as f64 - exact).abs() <= bound, "{what}: {got:e} vs {exact:e} (bound {bound:e})");
    }
}

#[test]
fn dot_and_dot_rows_follow_ieee_on_every_special_value() {
    for n in LENGTHS {
        for p in positions(n) {
            for s in SPECIALS {
                for (which, (a, b)) in [(0, (s, 1.0)), (1, (1.0, s)), (2, (s, s))].iter().map(|(w, v)| (*w, *v)) {
                    let mut x = background(n, 1);
                    let mut y = background(n, 2);
                    if which != 1 {
                        x[p] = a;
                    }
                    if which != 0 {
                        y[p] = b;
                    }
                    let what = format!("n {n} p {p} s {s:e} case {which}");
                    check_dot_like(dot(&x, &y), &x, &y, &format!("dot {what}"));
                    check_dot_like(dot_reference(&x, &y), &x, &y, &format!("dot_reference {what}"));
                    // The same pair as row 1 of 3 in dot_rows.
                    let mut rows = background(3 * n, 5);
                    rows[n..2 * n].copy_from_slice(&y);
                    let mut out = [f32::NAN; 3];
                    dot_rows(&x, &rows, &mut out);
                    check_dot_like(out[1], &x, &y, &format!("dot_rows {what}"));
                    for j in [0, 2] {
                        check_dot_like(out[j], &x, &rows[j * n..(j + 1) * n], &format!("dot_rows other row {what}"));
                    }
                }
            }
        }
    }
}

/// Every softmax form on one row.
fn softmaxes(x: &[f32]) -> Vec<(&'static str, Vec<f32>)> {
    let mut a = x.to_vec();
    softmax(&mut a);
    let mut b = x.to_vec();
    softmax_reference(&mut b);
    let mut forms = vec![("softmax", a), ("softmax_reference", b)];
    for block in [1, 7, 32] {
        let n = x.len();
        let identity: Vec<f32> = (0..n * n).map(|i| if i / n == i % n { 1.0 } else { 0.0 }).collect();
        let mut state = OnlineSoftmax::new();
        let mut acc = vec![0.0; n];
        for (s, rows) in x.chunks(block).zip(identity.chunks(block * n)) {
            state.accumulate(&mut s.to_vec(), rows, &mut acc);
        }
        state.finish(&mut acc);
        forms.push(("online", acc));
    }
    forms
}

/// The documented rules: NaN or +∞ → all NaN; no finite value → all +0;
/// else each weight within its bound of the f64 softmax and the sum within
/// `(n + 1)/2` ulp of 1.
fn check_softmax_rules(x: &[f32], what: &str) {
    let want = softmax64(x);
    let finite: Vec<f64> = x.iter().filter(|v| v.is_finite()).map(|v| *v as f64).collect();
    for (name, got) in softmaxes(x) {
        if x.iter().any(|v| v.is_nan() || *v == f32::INFINITY) {
            assert!(got.iter().all(|w| w.is_nan()), "{name} {what}: not all NaN: {got:?}");
            continue;
        }
        if finite.is_empty() {
            assert!(got.iter().all(|w| w.to_bits() == 0), "{name} {what}: not all +0: {got:?}");
            continue;
        }
        let (max, min) = finite.iter().fold((f64::NEG_INFINITY, f64::INFINITY), |(a, b), v| (a.max(*v), b.min(*v)));
        let blocks = if name == "online" { x.len() } else { 1 };
        for (j, (&g, &w)) in got.iter().zip(&want).enumerate() {
            assert!((0.0..=1.0).contains(&g), "{name} {what}: weight {j} = {g}");
            let bound = softmax_weight_bound(w, x[j] as f64 - max, max - min, finite.len(), blocks);
            assert!((g as f64 - w).abs() <= bound, "{name} {what}: weight {j} = {g:e}, f64 {w:e}");
        }
        let sum: f64 = got.iter().map(|w| *w as f64).sum();
        if name != "online" {
            assert!((sum - 1.0).abs() <= softmax_sum_bound(finite.len()), "{name} {what}: sum {sum}");
        }
    }
}

#[test]
fn softmax_forms_follow_their_rules_on_every_special_value() {
    for n in LENGTHS {
        for p in positions(n) {
            for s in SPECIALS {
                for bg in [background(n, 3), vec![0.0; n], vec![f32::NEG_INFINITY; n], vec![1e4; n]] {
                    let mut x = bg;
                    x[p] = s;
                    check_softmax_rules(&x, &format!("n {n} p {p} s {s:e}"));
                }
            }
        }
    }
}

#[test]
fn all_equal_one_hot_and_minus_infinity_rows_are_exact() {
    for n in LENGTHS {
        for c in SPECIALS {
            let x = vec![c; n];
            for (name, got) in softmaxes(&x) {
                for g in &got {
                    if c.is_nan() || c == f32::INFINITY {
                        assert!(g.is_nan(), "{name}: all-{c} row of {n}");
                    } else if c == f32::NEG_INFINITY {
                        assert_eq!(g.to_bits(), 0, "{name}: row of -inf");
                    } else {
                        // exp(0) = 1 exactly, the sum n is exact, w = fl(1/n).
                        assert_eq!(g.to_bits(), (1.0 / n as f32).to_bits(), "{name}: all-{c} row of {n}");
                    }
                }
            }
        }
        for p in positions(n) {
            for hot in [0.0f32, 1.0, -1e4, 1e4, f32::MAX, -f32::MAX, f32::from_bits(1)] {
                // One finite value among -inf: weight exactly 1.
                let mut x = vec![f32::NEG_INFINITY; n];
                x[p] = hot;
                for (name, got) in softmaxes(&x) {
                    for (j, g) in got.iter().enumerate() {
                        let want = if j == p { 1.0f32 } else { 0.0 };
                        assert_eq!(g.to_bits(), want.to_bits(), "{name}: one-hot {hot} at {p} of {n}");
                    }
                }
                // One value 200 above the rest: the others underflow to 0.
                if hot.is_finite() && hot.abs() < 1e30 {
                    let mut x = vec![hot - 200.0; n];
                    x[p] = hot;
                    for (name, got) in softmaxes(&x) {
                        for (j, g) in got.iter().enumerate() {
                            let want = if j == p { 1.0f32 } else { 0.0 };
                            assert_eq!(g.to_bits(), want.to_bits(), "{name}: peak {hot} at {p} of {n}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn online_softmax_empty_and_minus_infinity_states() {
    let mut state = OnlineSoftmax::new();
    assert_eq!(state.update(&mut []), 1.0);
    assert_eq!(state, OnlineSoftmax::new());
    let mut ninf = [f32::NEG_INFINITY; 17];
    assert_eq!(state.update(&mut ninf), 1.0, "an all -inf block must not rescale");
    assert!(ninf.iter().all(|w| w.to_bits() == 0));
    let mut acc = [f32::NAN; 3];
    state.finish(&mut acc);
    assert_eq!(acc, [0.0; 3]);
    // After a finite block, an all -inf block changes nothing.
    let mut first = [1.0, 2.0];
    state.update(&mut first);
    let before = state;
    assert_eq!(state.update(&mut [f32::NEG_INFINITY; 5]), 1.0);
    assert_eq!(state, before);
}

#[test]
fn axpy_family_and_scale_round_exactly_as_built_on_every_special_value() {
    for n in LENGTHS {
        for p in positions(n) {
            for s in SPECIALS {
                for target in 0..3 {
                    let mut acc = background(n, 4);
                    let mut x = background(n, 6);
                    let mut w = 0.75f32;
                    match target {
                        0 => acc[p] = s,
                        1 => x[p] = s,
                        _ => w = s,
                    }
                    let mut got = acc.clone();
                    axpy(&mut got, w, &x);
                    let mut reference = acc.clone();
                    axpy_reference(&mut reference, w, &x);
                    for i in 0..n {
                        let want = axpy_as_built(acc[i], w, x[i]);
                        assert!(same(got[i], want), "axpy n {n} p {p} s {s:e} t {target}: [{i}] {} vs {want}", got[i]);
                        assert!(same(reference[i], acc[i] + w * x[i]), "axpy_reference");
                    }
                    // axpy_rows over 5 rows, the special in row 2 (or weight 2).
                    let mut rows: Vec<f32> = (0..5).flat_map(|r| background(n, 10 + r)).collect();
                    let mut weights = [0.5f32, 0.25, 0.125, 1.0, 0.0625];
                    match target {
                        0 => {}
                        1 => rows[2 * n + p] = s,
                        _ => weights[2] = s,
                    }
                    let mut got = acc.clone();
                    axpy_rows(&mut got, &weights, &rows);
                    for i in 0..n {
                        let want = (0..5).fold(acc[i], |a, r| axpy_as_built(a, weights[r], rows[r * n + i]));
                        assert!(
                            same(got[i], want),
                            "axpy_rows n {n} p {p} s {s:e} t {target}: [{i}] {} vs {want}",
                            got[i]
                        );
                    }
                    // scale by the special, and a special scaled.
                    let mut got = acc.clone();
                    scale(&mut got, s);
                    for i in 0..n {
                        assert!(same(got[i], acc[i] * s), "scale by {s:e}");
                    }
                    let mut got = x.clone();
                    scale(&mut got, 0.5);
                    for i in 0..n {
                        assert!(same(got[i], x[i] * 0.5), "scale of {s:e}");
                    }
                }
            }
        }
    }
}

#[test]
fn exp_forms_on_every_special_value() {
    for s in SPECIALS {
        let want = if s.is_nan() {
            f32::NAN
        } else if s == f32::INFINITY || s == f32::MAX {
            f32::INFINITY
        } else if s == f32::NEG_INFINITY || s == -f32::MAX {
            0.0
        } else if s == 1.0 {
            exp_reference(1.0)
        } else {
            1.0 // ±0, subnormals, the smallest normal: e^x rounds to 1
        };
        for (name, got) in [("exp", exp(s)), ("exp_reference", exp_reference(s))] {
            if s == 1.0 {
                assert!((got - core::f32::consts::E).abs() <= 2.0 * f32::EPSILON * 2.0, "{name}(1) = {got}");
            } else {
                assert!(same(got, want), "{name}({s:e}) = {got}, want {want}");
            }
        }
        for n in LENGTHS {
            for p in positions(n) {
                let mut xs = background(n, 8);
                xs[p] = s;
                let mut got = xs.clone();
                exp_in_place(&mut got);
                for i in 0..n {
                    assert!(same(got[i], exp(xs[i])), "exp_in_place n {n} p {p}: exp({}) = {}", xs[i], got[i]);
                }
            }
        }
    }
}

/// What one attention row must be, from IEEE f64 scores of the same inputs.
#[derive(Debug)]
enum Expect {
    /// A NaN or `+∞` score: the row is NaN.
    Nan,
    /// No visible key, or every visible score `−∞`: the row is `+0`.
    Zero,
    /// One score more than 110 above all others (beyond rounding): the row
    /// is exactly that key's value row (others weigh exactly 0).
    OneHot(usize),
    /// Within the derived bound of the f64 oracle (`−∞` scores dropped).
    Oracle,
}

/// The expectation for row `i` under one score order. The SIMD engines fold
/// `scale·log₂e` into the query first, so a dot product beyond `f32::MAX`
/// may stay finite there, or a finite one overflow; the crate documents both
/// orders, and a row whose expectation differs between the two is accepted
/// under either (each checked exactly as below). See `sdpa_oracle::order`.
fn expect(case: &Case, i: usize, order: ScoreOrder) -> Expect {
    let oracle = case.view();
    let scores = oracle.scores64(i);
    let mut classes = Vec::new();
    for (j, s) in scores.iter().enumerate() {
        let Some(s) = s else { continue };
        classes.push((j, order.overflow(&oracle, i, j).unwrap_or(*s)));
    }
    if classes.iter().any(|(_, s)| s.is_nan() || *s == f64::INFINITY) {
        return Expect::Nan;
    }
    classes.retain(|(_, s)| *s != f64::NEG_INFINITY);
    if classes.is_empty() {
        return Expect::Zero;
    }
    classes.sort_by(|a, b| b.1.total_cmp(&a.1));
    let delta = oracle.row_bounds(i).delta;
    let gap = classes.get(1).map_or(f64::INFINITY, |second| classes[0].1 - second.1);
    if gap - 2.0 * delta > 110.0 { Expect::OneHot(classes[0].0) } else { Expect::Oracle }
}

/// Runs every attention entry point on `case` and checks each row.
fn check_attention<const NQ: usize, const NK: usize, const D: usize, const DV: usize>(case: &Case, what: &str) {
    let q = Matrix::<NQ, D>::from_slice(&case.q).unwrap();
    let k = Matrix::<NK, D>::from_slice(&case.k).unwrap();
    let v = Matrix::<NK, DV>::from_slice(&case.v).unwrap();
    let bias = case.bias.as_ref().map(|b| Box::new(Matrix::<NQ, NK>::from_slice(b).unwrap()));
    let mut o = Options::new().with_settings(case.settings);
    if let Some(b) = &bias {
        o = o.bias(b);
    }
    let mut out = Matrix::<NQ, DV>::from_fn(|_, _| f32::NAN);
    attention(&q, &k, &v, &mut out, &o);
    let (mut w_out, mut weights) = (Matrix::<NQ, DV>::zeros(), Matrix::<NQ, NK>::zeros());
    attention_weights(&q, &k, &v, &mut w_out, &mut weights, &o);
    let mut flat = vec![f32::NAN; NQ * DV];
    let shape = Shape { queries: NQ, keys: NK, head_dim: D, value_dim: DV };
    runtime::attention(shape, &case.q, &case.k, &case.v, &mut flat, &o.to_runtime()).unwrap();
    assert!(flat.iter().zip(out.as_slice()).all(|(a, b)| same(*a, *b)), "{what}: runtime differs");

    // The oracle over the keys whose score is not −∞, under each order.
    let oracle = case.view();
    let orders = [ScoreOrder::DotThenScale, ScoreOrder::ScaledQuery];
    let models: Vec<(Case, Vec<f64>)> = orders
        .iter()
        .map(|&order| {
            let mut finite_case = case.clone();
            let mut mask = vec![true; NQ * NK];
            for i in 0..NQ {
                for (j, s) in oracle.scores64(i).iter().enumerate() {
                    if *s == Some(f64::NEG_INFINITY) || order.overflow(&oracle, i, j) == Some(f64::NEG_INFINITY) {
                        mask[i * NK + j] = false;
                    }
                }
            }
            finite_case.mask = Some(mask);
            let want = finite_case.view().attention64();
            (finite_case, want)
        })
        .collect();
    for i in 0..NQ {
        let weights_row = Some(&weights.rows()[i][..]);
        for (name, got, weights) in [("attention", &out, None), ("attention_weights", &w_out, weights_row)] {
            let row = &got.rows()[i];
            let verdicts: Vec<Result<(), String>> = orders
                .iter()
                .zip(&models)
                .map(|(&order, (finite_case, want))| {
                    let e = expect(case, i, order);
                    check_row(case, finite_case, want, i, &e, row, weights)
                        .map_err(|m| format!("{name} {what}: {order:?}: {m}"))
                })
                .collect();
            if !verdicts.iter().any(Result::is_ok) {
                let reasons: Vec<String> = verdicts.into_iter().filter_map(Result::err).collect();
                panic!("{}", reasons.join("\n  or "));
            }
        }
    }
}

/// Checks output row `i` (and, when given, its weights row for one-hot rows) against
/// the expectation `e`, with the oracle `want` over `finite_case`.
fn check_row(
    case: &Case,
    finite_case: &Case,
    want: &[f64],
    i: usize,
    e: &Expect,
    row: &[f32],
    weights: Option<&[f32]>,
) -> Result<(), String> {
    let (nk, dv) = (case.nk, case.dv);
    let fail = |cond: bool, msg: String| if cond { Ok(()) } else { Err(msg) };
    match *e {
        Expect::Nan => fail(row.iter().all(|x| x.is_nan()), format!("row {i} should be NaN: {row:?}")),
        Expect::Zero => fail(row.iter().all(|x| x.to_bits() == 0), format!("row {i} should be +0: {row:?}")),
        Expect::OneHot(j) => {
            let v_row = &case.v[j * dv..(j + 1) * dv];
            fail(
                row.iter().zip(v_row).all(|(a, b)| a == b || same(*a, *b)),
                format!("row {i} should be value row {j}: {row:?} vs {v_row:?}"),
            )?;
            for (jj, w) in weights.unwrap_or_default().iter().enumerate().take(nk) {
                let want = if jj == j { 1.0 } else { 0.0 };
                fail(*w == want, format!("one-hot weights row {i}: weight {jj} = {w}, want {want}"))?;
            }
            Ok(())
        }
        Expect::Oracle => {
            let finite = finite_case.view();
            let b = finite.row_bounds(i);
            for (c, &g) in row.iter().enumerate().take(dv) {
                let column: Vec<f32> = (0..nk).filter(|&j| finite.visible(i, j)).map(|j| case.v[j * dv + c]).collect();
                if column.iter().any(|x| x.is_nan())
                    || (column.contains(&f32::INFINITY) && column.contains(&f32::NEG_INFINITY))
                {
                    fail(g.is_nan(), format!("out[{i}][{c}] = {g}, want NaN"))?;
                } else if let Some(inf) = column.iter().find(|x| x.is_infinite()) {
                    fail(g == *inf, format!("out[{i}][{c}] = {g}, want {inf}"))?;
                } else {
                    let w = want[i * dv + c];
                    fail(
                        (g as f64 - w).abs() <= b.oracle(c),
                        format!("out[{i}][{c}] = {g:e}, f64 {w:e}, tol {:e}", b.oracle(c)),
                    )?;
                }
            }
            Ok(())
        }
    }
}

fn edge_case_battery<const NQ: usize, const NK: usize, const D: usize, const DV: usize>() {
    let settings_list = [
        Settings::default(),
        Settings { causal: true, ..Default::default() },
        Settings { causal: true, alignment: Alignment::BottomRight, alibi_slope: Some(0.5), ..Default::default() },
    ];
    for settings in settings_list {
        let base = Case {
            nq: NQ,
            nk: NK,
            d: D,
            dv: DV,
            q: background(NQ * D, 21),
            k: background(NK * D, 22),
            v: background(NK * DV, 23),
            settings,
            mask: None,
            bias: None,
        };
        check_attention::<NQ, NK, D, DV>(&base, &format!("clean {settings:?}"));
        for s in SPECIALS {
            for target in 0..4 {
                for (pi, pos) in [0usize, 1, 7].into_iter().enumerate() {
                    let mut case = base.clone();
                    match target {
                        0 => case.q[(pos * D + pi) % (NQ * D)] = s,
                        1 => case.k[(pos * D + pi) % (NK * D)] = s,
                        2 => case.v[(pos * DV + pi) % (NK * DV)] = s,
                        _ => {
                            let mut bias = vec![0.0; NQ * NK];
                            bias[(pos * NK + pi) % (NQ * NK)] = s;
                            case.bias = Some(bias);
                        }
                    }
                    let what = format!(
                        "NQ {NQ} NK {NK} D {D} DV {DV} {settings:?}: {s:e} in {}",
                        ["q", "k", "v", "bias"][target]
                    );
                    check_attention::<NQ, NK, D, DV>(&case, &what);
                }
            }
        }
        // All-equal keys: every visible weight is exactly 1/n; rows of one key's
        // values: the output is that row exactly.
        let equal = Case {
            k: (0..NK * D).map(|i| background(D, 9)[i % D]).collect(),
            v: (0..NK * DV).map(|i| background(DV, 4)[i % DV]).collect(),
            ..base.clone()
        };
        let q = Matrix::<NQ, D>::from_slice(&equal.q).unwrap();
        let k = Matrix::<NK, D>::from_slice(&equal.k).unwrap();
        let v = Matrix::<NK, DV>::from_slice(&equal.v).unwrap();
        let (mut out, mut w) = (Matrix::<NQ, DV>::zeros(), Matrix::<NQ, NK>::zeros());
        let o = Options::new().with_settings(Settings { alibi_slope: None, ..settings });
        attention_weights(&q, &k, &v, &mut out, &mut w, &o);
        let mut fused = Matrix::<NQ, DV>::zeros();
        attention(&q, &k, &v, &mut fused, &o);
        let plain = Case { settings: Settings { alibi_slope: None, ..settings }, ..equal.clone() };
        let plain = plain.view();
        for i in 0..NQ {
            let n = (0..NK).filter(|&j| plain.visible(i, j)).count();
            for j in 0..NK {
                let want = if plain.visible(i, j) { 1.0 / n as f32 } else { 0.0 };
                assert_eq!(w.rows()[i][j].to_bits(), want.to_bits(), "all-equal keys: weight [{i}][{j}] with n = {n}");
            }
            for c in 0..DV {
                for got in [out.rows()[i][c], fused.rows()[i][c]] {
                    let want = if n == 0 { 0.0 } else { v.rows()[0][c] };
                    let tol = plain.row_bounds(i).convex(c);
                    assert!(
                        (got - want).abs() as f64 <= tol + TINY,
                        "all-equal values: out[{i}][{c}] = {got}, want {want}"
                    );
                }
            }
        }
    }
}

#[test]
fn attention_edge_cases_single_key() {
    edge_case_battery::<3, 1, 7, 3>();
    edge_case_battery::<1, 1, 1, 1>();
}

#[test]
fn attention_edge_cases_one_block_and_a_tail() {
    edge_case_battery::<3, 5, 17, 3>();
    edge_case_battery::<2, 33, 8, 5>();
}

/// With NK = 1 every visible row is exactly the value row (weight 1, sum 1).
#[test]
fn nk_one_gives_the_value_row_exactly() {
    let q = Matrix::<4, 5>::from_fn(|r, c| (r as f32 - c as f32) * 3.7);
    let k = Matrix::<1, 5>::from_fn(|_, c| c as f32 * 100.0);
    let v = Matrix::<1, 6>::from_fn(|_, c| (c as f32 * 0.3).sin() * 1e30);
    for (o, seen) in [
        (Options::new(), [true; 4]),
        (Options::new().causal(), [true; 4]),
        (Options::new().causal().alignment(Alignment::BottomRight), [false, false, false, true]),
        (Options::new().alibi(2.0).scale(1e-3), [true; 4]),
    ] {
        let mut out = Matrix::<4, 6>::from_fn(|_, _| f32::NAN);
        attention(&q, &k, &v, &mut out, &o);
        for (i, row) in out.rows().iter().enumerate() {
            let want = if seen[i] { v.rows()[0] } else { [0.0; 6] };
            assert_eq!(row.map(f32::to_bits), want.map(f32::to_bits), "row {i} with {o:?}");
        }
    }
}

/// An infinite query entry that meets only negative key entries gives every
/// score `−∞`: those keys weigh 0 like masked ones, and a row whose every
/// score is `−∞` is the zero row (not NaN). Meeting a positive entry gives
/// `+∞`, and the row is NaN.
#[test]
fn infinite_inputs_act_through_their_scores() {
    let k = Matrix::<2, 2>::from_rows([[-1.0, 0.5], [-2.0, 0.25]]);
    let v = Matrix::<2, 3>::from_rows([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    let mut out = Matrix::<1, 3>::from_fn(|_, _| f32::NAN);
    attention(&Matrix::from_rows([[f32::INFINITY, 1.0]]), &k, &v, &mut out, &Options::new());
    assert_eq!(out.rows()[0], [0.0; 3], "every score -inf: the zero row");
    attention(&Matrix::from_rows([[f32::NEG_INFINITY, 1.0]]), &k, &v, &mut out, &Options::new());
    assert!(out.rows()[0].iter().all(|x| x.is_nan()), "a +inf score: NaN");
    // One key's score overflows to -inf: it weighs 0, the other gets all.
    // (Scale below 1/log₂e, so the SIMD engines' `q·scale·log₂e` stays
    // finite and both score orders overflow on key 0 alone.)
    let k = Matrix::<2, 2>::from_rows([[-1.0, -1.0], [0.0, 0.25]]);
    attention(&Matrix::from_rows([[f32::MAX, f32::MAX]]), &k, &v, &mut out, &Options::new().scale(0.5));
    assert_eq!(out.rows()[0], v.rows()[1]);
}

/// The fused kernel accumulates unnormalised weights (each at most 1, their
/// sum at most the number of visible keys `n`) times values and divides
/// once at the end, so the output is finite whenever every `|v| ≤
/// f32::MAX / (2·NK)`; larger values may overflow the accumulator (the
/// weights variant normalises first and has no such limit).
#[test]
fn values_up_to_max_over_twice_nk_never_overflow() {
    const NK: usize = 40;
    let q = Matrix::<2, 3>::zeros(); // every score 0: every weight 1 before normalising
    let k = Matrix::<NK, 3>::zeros();
    let big = f32::MAX / (2 * NK) as f32;
    let v = Matrix::<NK, 2>::from_fn(|_, c| if c == 0 { big } else { -big });
    let mut out = Matrix::<2, 2>::zeros();
    attention(&q, &k, &v, &mut out, &Options::new());
    for row in out.rows() {
        assert!((row[0] - big).abs() <= big * 1e-5 && (row[1] + big).abs() <= big * 1e-5, "{row:?}");
    }
}
