//! A deterministic battery over every kernel and attention, checked against
//! the f64 oracle, measured (the README's "Accuracy" figures), and recorded
//! so that builds with different backends can be compared.
//!
//! The backend is chosen at compile time, so one test binary cannot run two.
//! Each run writes its outputs (bits) to
//! `target/backend-agreement/<backend>.txt` with a fingerprint of the
//! inputs, then compares its own outputs with every other backend's file of
//! the same fingerprint already there. The stated agreement bound is the sum
//! of the two backends' oracle bounds for that output (each is within its
//! bound of the same f64 value), i.e. twice the bound, as every bound here is
//! backend-independent. `.ci/stability.sh` runs it on the default (f32x4),
//! `force-scalar` and native (f32x16 + FMA) builds, the last with
//! `SDPA_MIN_BACKENDS=3`, so a backend that was not recorded fails.
//!
//! `cargo test --release --test backend_agreement -- --nocapture`

use sdpa::kernels::{OnlineSoftmax, axpy_rows, dot, exp_in_place, softmax};
use sdpa::runtime::{self, Shape};
use sdpa::{Alignment, Settings, Window};
use sdpa_oracle::bounds::{dot_bound, softmax_weight_bound};
use sdpa_oracle::{Case, Rng, abs_dot64, dot64, fused, gamma, softmax64, ulp_error, ulp_f32};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One output of the battery: its value, the f64 reference and the bound.
struct Item {
    family: &'static str,
    got: f32,
    want: f64,
    bound: f64,
}

#[derive(Default)]
struct Battery {
    items: Vec<Item>,
    fingerprint: u64,
}

impl Battery {
    fn input(&mut self, xs: &[f32]) {
        for x in xs {
            self.fingerprint = (self.fingerprint ^ x.to_bits() as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn push(&mut self, family: &'static str, got: f32, want: f64, bound: f64) {
        self.items.push(Item { family, got, want, bound });
    }
}

const LENGTHS: [usize; 14] = [1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 64, 65, 100];

fn kernels(b: &mut Battery, rng: &mut Rng) {
    for n in LENGTHS {
        for amp in [1.0f32, 1e3] {
            let mut x = vec![0.0; n];
            let mut y = vec![0.0; n];
            rng.fill(&mut x, -amp, amp);
            rng.fill(&mut y, -amp, amp);
            b.input(&x);
            b.input(&y);
            b.push("dot", dot(&x, &y), dot64(&x, &y), dot_bound(n, abs_dot64(&x, &y)));
        }
        for (center, spread) in [(0.0f32, 1.0f32), (0.0, 30.0), (1e4, 50.0), (0.0, 1e4), (0.0, f32::MAX / 2.0)] {
            let mut x = vec![0.0; n];
            rng.fill(&mut x, -1.0, 1.0);
            x.iter_mut().for_each(|v| *v = center + spread * *v);
            b.input(&x);
            let want = softmax64(&x);
            let max = x.iter().fold(f64::NEG_INFINITY, |m, v| m.max(*v as f64));
            let min = x.iter().fold(f64::INFINITY, |m, v| m.min(*v as f64));
            let mut three = x.clone();
            softmax(&mut three);
            for j in 0..n {
                let bound = softmax_weight_bound(want[j], x[j] as f64 - max, max - min, n, 1);
                b.push("softmax", three[j], want[j], bound);
            }
            // Online, blocks of 7, through accumulate over an identity.
            let identity: Vec<f32> = (0..n * n).map(|i| if i / n == i % n { 1.0 } else { 0.0 }).collect();
            let mut state = OnlineSoftmax::new();
            let mut acc = vec![0.0; n];
            for (s, rows) in x.chunks(7).zip(identity.chunks(7 * n)) {
                state.accumulate(&mut s.to_vec(), rows, &mut acc);
            }
            state.finish(&mut acc);
            for j in 0..n {
                let bound = softmax_weight_bound(want[j], x[j] as f64 - max, max - min, n, n.div_ceil(7));
                b.push("online softmax", acc[j], want[j], bound);
            }
        }
        // Weighted sum of 9 rows.
        let mut rows = vec![0.0; 9 * n];
        let mut w = vec![0.0; 9];
        let mut acc = vec![0.0; n];
        rng.fill(&mut rows, -1.0, 1.0);
        rng.fill(&mut w, 0.0, 1.0);
        rng.fill(&mut acc, -1.0, 1.0);
        b.input(&rows);
        b.input(&w);
        b.input(&acc);
        let mut got = acc.clone();
        axpy_rows(&mut got, &w, &rows);
        for i in 0..n {
            let terms = (0..9).map(|j| w[j] as f64 * rows[j * n + i] as f64);
            let want = acc[i] as f64 + terms.clone().sum::<f64>();
            let abs = (acc[i] as f64).abs() + terms.map(f64::abs).sum::<f64>();
            b.push("axpy_rows", got[i], want, gamma(10) * abs);
        }
    }
    let mut xs = vec![0.0; 20_000];
    rng.fill(&mut xs, -104.0, 88.7);
    b.input(&xs);
    let mut ys = xs.clone();
    exp_in_place(&mut ys);
    for (x, y) in xs.iter().zip(&ys) {
        let want = (*x as f64).exp();
        // 2 ulp of the result (1 unit of 2^-149 when subnormal).
        let bound = 2.0 * ulp_f32(want);
        b.push("exp", *y, want, bound);
    }
}

fn attention_case(b: &mut Battery, rng: &mut Rng, (nq, nk, d, dv): (usize, usize, usize, usize), mix: usize) {
    let base = Settings::default();
    let causal = Settings { causal: true, ..base };
    let settings = [
        base,
        causal,
        Settings { alignment: Alignment::BottomRight, alibi_slope: Some(0.25), ..causal },
        Settings { window: Some(Window { left: 4, right: 1 }), scale: Some(0.7), ..base },
        base,
        base,
    ][mix];
    let mut case = Case {
        nq,
        nk,
        d,
        dv,
        q: vec![0.0; nq * d],
        k: vec![0.0; nk * d],
        v: vec![0.0; nk * dv],
        settings,
        mask: None,
        bias: None,
    };
    let amp = [1.0f32, 4.0, 1.0, 2.0, 1.0, 1.0][mix];
    rng.fill(&mut case.q, -amp, amp);
    rng.fill(&mut case.k, -amp, amp);
    rng.fill(&mut case.v, -1.0, 1.0);
    b.input(&case.q);
    b.input(&case.k);
    b.input(&case.v);
    if mix == 4 {
        case.mask = Some((0..nq * nk).map(|_| rng.bool(0.7)).collect());
    }
    if mix == 5 {
        let bias: Vec<f32> =
            (0..nq * nk).map(|_| if rng.bool(0.2) { f32::NEG_INFINITY } else { rng.uniform(-20.0, 20.0) }).collect();
        b.input(&bias);
        case.bias = Some(bias);
    }
    let mut options = runtime::Options::new().with_settings(settings);
    if let Some(m) = &case.mask {
        options = options.mask(runtime::Mask::PerQuery(m));
    }
    if let Some(bias) = &case.bias {
        options = options.bias(runtime::Bias::PerQuery(bias));
    }
    let shape = Shape { queries: nq, keys: nk, head_dim: d, value_dim: dv };
    let mut out = vec![0.0; nq * dv];
    runtime::attention(shape, &case.q, &case.k, &case.v, &mut out, &options).expect("valid shape");
    let oracle = case.view();
    let want = oracle.attention64();
    for i in 0..nq {
        let bounds = oracle.row_bounds(i);
        for c in 0..dv {
            b.push("attention", out[i * dv + c], want[i * dv + c], bounds.oracle(c));
        }
    }
}

fn battery() -> Battery {
    let mut b = Battery::default();
    let mut rng = Rng::new(0x5DFA_2024);
    kernels(&mut b, &mut rng);
    for shape in [(3, 5, 4, 6), (4, 33, 17, 9), (2, 100, 64, 64), (5, 65, 8, 3), (1, 300, 100, 16), (6, 1, 7, 2)] {
        for mix in 0..6 {
            attention_case(&mut b, &mut rng, shape, mix);
        }
    }
    b
}

fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("backend-agreement")
}

fn name() -> String {
    format!("{}{}", sdpa::backend(), if fused() { "-fma" } else { "" })
}

#[test]
fn battery_within_oracle_bounds_and_backends_agree() {
    let b = battery();
    // 1. Every output against the oracle; per family the largest absolute
    //    error, relative error, ulp error and fraction of the bound.
    let mut worst: BTreeMap<&str, (f64, f64, f64, f64, usize)> = BTreeMap::new();
    for it in &b.items {
        let err = (it.got as f64 - it.want).abs();
        assert!(err <= it.bound, "{}: {} vs f64 {:e}, err {err:e} > bound {:e}", it.family, it.got, it.want, it.bound);
        let w = worst.entry(it.family).or_default();
        let rel = if it.want.abs() > 1e-30 { err / it.want.abs() } else { 0.0 };
        let ulp = if it.want.abs() > 1e-30 { ulp_error(it.got, it.want) } else { 0.0 };
        *w = (w.0.max(err), w.1.max(rel), w.2.max(ulp), w.3.max(err / it.bound.max(f64::MIN_POSITIVE)), w.4 + 1);
    }
    for (family, (abs, rel, ulp, frac, count)) in &worst {
        println!(
            "{} {family:>15}: {count:>6} outputs, max |err| {abs:.2e}, max rel {rel:.2e} ({ulp:.2} ulp), max err/bound {frac:.4}",
            name()
        );
    }

    // 2. Record, then compare with every other backend already recorded.
    let dir = dir();
    std::fs::create_dir_all(&dir).expect("create target/backend-agreement");
    let mut text = format!("fingerprint {:016x}\n", b.fingerprint);
    for it in &b.items {
        writeln!(text, "{:08x}", it.got.to_bits()).unwrap();
    }
    let mine = dir.join(format!("{}.txt", name()));
    let tmp = dir.join(format!("{}.tmp", name()));
    std::fs::write(&tmp, &text).expect("write battery");
    std::fs::rename(&tmp, &mine).expect("rename battery");

    let mut compared = vec![name()];
    for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
        let path = entry.path();
        let other = path.file_stem().unwrap().to_string_lossy().to_string();
        if path.extension().is_none_or(|e| e != "txt") || other == name() {
            continue;
        }
        let content = std::fs::read_to_string(&path).expect("read battery");
        let mut lines = content.lines();
        if lines.next() != Some(&format!("fingerprint {:016x}", b.fingerprint)) {
            println!("{other}: recorded from other inputs, skipped");
            continue;
        }
        let theirs: Vec<f32> = lines.map(|l| f32::from_bits(u32::from_str_radix(l, 16).expect("hex"))).collect();
        assert_eq!(theirs.len(), b.items.len(), "{other}: battery length differs");
        let mut worst: BTreeMap<&str, (f64, f64, u32)> = BTreeMap::new();
        for (it, t) in b.items.iter().zip(&theirs) {
            let diff = (it.got as f64 - *t as f64).abs();
            assert!(
                diff <= 2.0 * it.bound,
                "{}: {} ({}) vs {} ({other}), |diff| {diff:e} > 2·bound {:e}",
                it.family,
                it.got,
                name(),
                t,
                2.0 * it.bound
            );
            let w = worst.entry(it.family).or_default();
            let ulps = if it.got.is_sign_negative() == t.is_sign_negative() {
                it.got.to_bits().abs_diff(t.to_bits())
            } else {
                u32::MAX
            };
            *w = (
                w.0.max(diff),
                w.1.max(diff / (2.0 * it.bound).max(f64::MIN_POSITIVE)),
                w.2.max(if diff == 0.0 { 0 } else { ulps }),
            );
        }
        for (family, (diff, frac, ulps)) in worst {
            println!(
                "{} vs {other} {family:>15}: max |diff| {diff:.2e} ({ulps} ulp apart), max diff/(2·bound) {frac:.4}",
                name()
            );
        }
        compared.push(other);
    }
    if let Some(min) = std::env::var("SDPA_MIN_BACKENDS").ok().and_then(|s| s.parse::<usize>().ok()) {
        assert!(compared.len() >= min, "only {compared:?} recorded, {min} backends required");
    }
}
