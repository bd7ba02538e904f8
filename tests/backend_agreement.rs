//! A deterministic battery over every kernel and attention, checked against
//! the f64 oracle on every backend, measured (docs/ACCURACY.md
//! figures), and recorded so that builds can be compared.
//!
//! One run computes the battery on every backend this build and CPU support
//! (`with_backend`), checks each output against its oracle bound on that
//! backend, and compares the backends with each other: two backends' results
//! differ by at most the sum of their two bounds (each is within its bound
//! of the same f64 value; the attention bounds depend on the backend through
//! its online block size). It then writes each backend's outputs (bits, and
//! the bound) to `target/backend-agreement/<build>/<arithmetic>.txt`, with a
//! fingerprint of the inputs, `<build>` from `SDPA_AGREEMENT_BUILD`
//! (`local` when unset) and `<arithmetic>` the backend's name with `-fma`
//! where its multiply-add fuses (`f32x4` fuses in builds with FMA enabled),
//! and compares itself with every other build already recorded there: the
//! same arithmetic must give the same bits in every build (a backend chosen
//! at run time equals the compile-time build of that backend, e.g. the
//! default build's `f32x8-fma` equals a `-C target-feature=+avx2,+fma,+f16c`
//! build's, its `scalar` the `force-scalar` build's), and different
//! arithmetic agrees within the sum of the bounds. `.ci/stability.sh` runs
//! the builds and checks that every pair it needs was recorded.
//!
//! `cargo test --release --test backend_agreement -- --nocapture`

use sdpa::kernels::{OnlineSoftmax, axpy_rows, dot, exp_in_place, softmax};
use sdpa::runtime::{self, Shape};
use sdpa::{Alignment, Settings, Window};
use sdpa_oracle::backend::{arithmetic, each_backend};
use sdpa_oracle::bounds::{dot_bound, softmax_weight_bound};
use sdpa_oracle::{Case, Rng, abs_dot64, dot64, gamma, softmax64, ulp_error, ulp_f32};
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
    let mut options = runtime::RuntimeOptions::new().with_settings(settings);
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

/// Where the recorded batteries live.
fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("backend-agreement")
}

/// How far apart two results of the same output may be: within the sum of
/// their bounds, and the largest difference (absolute, in ulps, as a
/// fraction of that sum) per family.
#[derive(Default)]
struct Agreement(BTreeMap<&'static str, (f64, f64, u32)>);

impl Agreement {
    fn note(&mut self, family: &'static str, a: f32, b: f32, limit: f64) -> f64 {
        let diff = (a as f64 - b as f64).abs();
        let ulps = if diff == 0.0 {
            0
        } else if a.is_sign_negative() == b.is_sign_negative() {
            a.to_bits().abs_diff(b.to_bits())
        } else {
            u32::MAX
        };
        let w = self.0.entry(family).or_default();
        *w = (w.0.max(diff), w.1.max(diff / limit.max(f64::MIN_POSITIVE)), w.2.max(ulps));
        diff
    }

    fn print(&self, what: &str) {
        for (family, (diff, frac, ulps)) in &self.0 {
            println!(
                "{what} {family:>15}: max |diff| {diff:.2e} ({ulps} ulp apart), max diff/(sum of bounds) {frac:.4}"
            );
        }
    }
}

/// One recorded battery: per output its bits and its bound.
struct Record {
    fingerprint: u64,
    items: Vec<(f32, f64)>,
}

impl Record {
    fn of(b: &Battery) -> Self {
        Record { fingerprint: b.fingerprint, items: b.items.iter().map(|it| (it.got, it.bound)).collect() }
    }

    fn text(&self) -> String {
        let mut text = format!("fingerprint {:016x}\n", self.fingerprint);
        for (got, bound) in &self.items {
            writeln!(text, "{:08x} {:016x}", got.to_bits(), bound.to_bits()).unwrap();
        }
        text
    }

    fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        let fingerprint = u64::from_str_radix(lines.next()?.strip_prefix("fingerprint ")?, 16).ok()?;
        let items = lines
            .map(|l| {
                let (got, bound) = l.split_once(' ')?;
                let got = f32::from_bits(u32::from_str_radix(got, 16).ok()?);
                Some((got, f64::from_bits(u64::from_str_radix(bound, 16).ok()?)))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Record { fingerprint, items })
    }
}

#[test]
fn battery_within_oracle_bounds_on_every_backend_and_builds_agree() {
    let runs: Vec<(String, Battery)> = each_backend(|b| (arithmetic(b), battery()));
    let families: Vec<&'static str> = runs[0].1.items.iter().map(|it| it.family).collect();

    // 1. Every output against the oracle on its backend; per family the
    //    largest absolute error, relative error, ulp error and fraction of
    //    the bound.
    for (name, b) in &runs {
        let mut worst: BTreeMap<&str, (f64, f64, f64, f64, usize)> = BTreeMap::new();
        for it in &b.items {
            let err = (it.got as f64 - it.want).abs();
            assert!(
                err <= it.bound,
                "{name}: {}: {} vs f64 {:e}, err {err:e} > bound {:e}",
                it.family,
                it.got,
                it.want,
                it.bound
            );
            let w = worst.entry(it.family).or_default();
            let rel = if it.want.abs() > 1e-30 { err / it.want.abs() } else { 0.0 };
            let ulp = if it.want.abs() > 1e-30 { ulp_error(it.got, it.want) } else { 0.0 };
            *w = (w.0.max(err), w.1.max(rel), w.2.max(ulp), w.3.max(err / it.bound.max(f64::MIN_POSITIVE)), w.4 + 1);
        }
        for (family, (abs, rel, ulp, frac, count)) in &worst {
            println!(
                "{name:>9} {family:>15}: {count:>6} outputs, max |err| {abs:.2e}, max rel {rel:.2e} ({ulp:.2} ulp), \
                 max err/bound {frac:.4}"
            );
        }
    }

    // 2. The backends of this build against each other.
    for (x, (name_a, a)) in runs.iter().enumerate() {
        for (name_b, b) in &runs[x + 1..] {
            assert_eq!(a.fingerprint, b.fingerprint, "the battery's inputs depend on the backend");
            let mut agreement = Agreement::default();
            for (p, q) in a.items.iter().zip(&b.items) {
                let limit = p.bound + q.bound;
                let diff = agreement.note(p.family, p.got, q.got, limit);
                assert!(
                    diff <= limit,
                    "{}: {} ({name_a}) vs {} ({name_b}), |diff| {diff:e} > {limit:e}",
                    p.family,
                    p.got,
                    q.got
                );
            }
            agreement.print(&format!("{name_a} vs {name_b}"));
        }
    }

    // 3. Record, then compare with every other build already recorded.
    let build = std::env::var("SDPA_AGREEMENT_BUILD").unwrap_or_else(|_| "local".to_string());
    let root = dir();
    let mine = root.join(&build);
    std::fs::create_dir_all(&mine).expect("create target/backend-agreement/<build>");
    for (name, b) in &runs {
        let tmp = mine.join(format!("{name}.tmp"));
        std::fs::write(&tmp, Record::of(b).text()).expect("write battery");
        std::fs::rename(&tmp, mine.join(format!("{name}.txt"))).expect("rename battery");
    }
    let mut others: Vec<(String, String, Record)> = Vec::new();
    for build_dir in std::fs::read_dir(&root).expect("read dir").flatten() {
        let other_build = build_dir.file_name().to_string_lossy().to_string();
        if other_build == build || !build_dir.path().is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(build_dir.path()).expect("read dir").flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "txt") {
                continue;
            }
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            let text = std::fs::read_to_string(&path).expect("read battery");
            match Record::parse(&text) {
                Some(r) if r.fingerprint == runs[0].1.fingerprint && r.items.len() == families.len() => {
                    others.push((other_build.clone(), name, r))
                }
                _ => println!("{other_build}/{name}: recorded from other inputs or by another version, skipped"),
            }
        }
    }
    others.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    for (name, b) in &runs {
        for (other_build, other, r) in &others {
            let what = format!("{build}/{name} vs {other_build}/{other}");
            if other == name {
                let differ: Vec<usize> =
                    (0..families.len()).filter(|&i| b.items[i].got.to_bits() != r.items[i].0.to_bits()).collect();
                if let Some(&first) = differ.first() {
                    let mut agreement = Agreement::default();
                    for &i in &differ {
                        agreement.note(families[i], b.items[i].got, r.items[i].0, b.items[i].bound + r.items[i].1);
                    }
                    agreement.print(&what);
                    panic!(
                        "{what}: the same backend gives other bits in {} of {} outputs (first: output {first}, {}: {} vs {})",
                        differ.len(),
                        families.len(),
                        families[first],
                        b.items[first].got,
                        r.items[first].0
                    );
                }
                println!("{what}: the same bits in all {} outputs", families.len());
            } else {
                let mut agreement = Agreement::default();
                for (i, it) in b.items.iter().enumerate() {
                    let (theirs, their_bound) = r.items[i];
                    let limit = it.bound + their_bound;
                    let diff = agreement.note(it.family, it.got, theirs, limit);
                    assert!(
                        diff <= limit,
                        "{what}: {}: {} vs {theirs}, |diff| {diff:e} > {limit:e}",
                        it.family,
                        it.got
                    );
                }
                agreement.print(&what);
            }
        }
    }
}
