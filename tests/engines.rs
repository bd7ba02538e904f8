//! The engine model the tests rely on (`sdpa_oracle::backend::engine_for`,
//! a restatement of `src/attention/choose.rs`) against the library, on
//! every backend: forcing an engine the model says refuses a problem gives
//! the unforced result bit for bit (the override is ignored there), and an
//! engine the model says runs problems in place of the unforced one gives
//! other bits on random data (it really ran: the engines sum in different
//! orders), for every pair of engines on at least one problem (on some
//! shapes and options two engines round alike: the lanes and row engines on
//! the portable backend sum each lane in the same order when their key
//! blocks align, as under a causal mask). Also: every engine the model allows
//! on a backend runs on some problem here, so the per-engine loops of the
//! other tests reach them all.
//!
//! `cargo test --release --test engines -- --nocapture`

use sdpa::__engines::Engine;
use sdpa::runtime::{self, Mask, Shape};
use sdpa::{Alignment, Backend, Settings, Window};
use sdpa_oracle::backend::{ENGINES, each_backend, engine_for, with_engine};
use sdpa_oracle::{Case, Rng};
use std::collections::{BTreeMap, BTreeSet};

/// The problems: small and large shapes with every kind of option.
fn cases() -> Vec<(usize, Case)> {
    let mut rng = Rng::new(0xE9_61_9E);
    let shapes = [
        (3, 5, 4, 6),
        (8, 16, 16, 16),
        (16, 40, 24, 8),
        (5, 100, 64, 32),
        (1, 12, 8, 8),
        (33, 70, 17, 5),
        (2, 80, 33, 7),
        (1, 40, 33, 5),
        (2, 70, 12, 8),
    ];
    let base = Settings::default();
    let mixes = [
        (base, false),
        (Settings { scale: Some(0.3), ..base }, false),
        (Settings { causal: true, ..base }, false),
        (Settings { causal: true, alignment: Alignment::BottomRight, ..base }, false),
        (Settings { window: Some(Window { left: 3, right: 2 }), ..base }, false),
        (Settings { alibi_slope: Some(0.25), ..base }, false),
        (base, true),
    ];
    let mut cases = Vec::new();
    for (nq, nk, d, dv) in shapes {
        for (mix, (settings, masked)) in mixes.into_iter().enumerate() {
            let mut case = Case {
                nq,
                nk,
                d,
                dv,
                q: vec![0.0; nq * d],
                k: vec![0.0; nk * d],
                v: vec![0.0; nk * dv],
                settings,
                mask: masked.then(|| (0..nq * nk).map(|_| rng.bool(0.8)).collect()),
                bias: None,
            };
            rng.fill(&mut case.q, -1.0, 1.0);
            rng.fill(&mut case.k, -1.0, 1.0);
            rng.fill(&mut case.v, -1.0, 1.0);
            cases.push((mix, case));
        }
    }
    cases
}

fn run(case: &Case) -> Vec<u32> {
    let shape = Shape { queries: case.nq, keys: case.nk, head_dim: case.d, value_dim: case.dv };
    let mut options = runtime::RuntimeOptions::new().with_settings(case.settings);
    if let Some(m) = &case.mask {
        options = options.mask(Mask::PerQuery(m));
    }
    let mut out = vec![f32::NAN; case.nq * case.dv];
    runtime::attention(shape, &case.q, &case.k, &case.v, &mut out, &options).expect("valid shape");
    out.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn the_engine_model_matches_the_library() {
    let cases = cases();
    let ran: Vec<(Backend, BTreeSet<String>)> = each_backend(|b| {
        let mut ran = BTreeSet::new();
        // (forced, unforced) → whether some problem gave other bits.
        let mut differed: BTreeMap<(String, String), bool> = BTreeMap::new();
        for (_, case) in &cases {
            let problem = case.view();
            let unforced = run(case);
            let chosen = engine_for(&problem, b, None);
            ran.insert(format!("{chosen:?}"));
            for e in ENGINES {
                let forced = with_engine(e, || run(case));
                let model = engine_for(&problem, b, Some(e));
                let what = format!(
                    "{b}: NQ {} NK {} D {} DV {} {:?} mask {}: {e:?} forced, model says {model:?} (unforced {chosen:?})",
                    case.nq,
                    case.nk,
                    case.d,
                    case.dv,
                    case.settings,
                    case.mask.is_some()
                );
                if model == chosen {
                    assert_eq!(forced, unforced, "{what}: the same engine must give the same bits");
                } else {
                    assert_eq!(model, e, "{what}: a forced engine runs only itself");
                    // A row that sees one key is that key's value row on every
                    // engine: only rows that mix keys can tell engines apart.
                    let mixes_keys = (0..case.nq).any(|i| (0..case.nk).filter(|&j| problem.visible(i, j)).count() > 1);
                    if mixes_keys {
                        let key = (format!("{e:?}"), format!("{chosen:?}"));
                        *differed.entry(key).or_default() |= forced != unforced;
                    }
                }
                ran.insert(format!("{model:?}"));
            }
        }
        for ((forced, unforced), differed) in differed {
            assert!(differed, "{b}: {forced} forced gave the bits of {unforced} on every problem");
        }
        (b, ran)
    });
    for (b, engines) in &ran {
        println!("{b}: engines run: {engines:?}");
        let want: BTreeSet<String> = ENGINES
            .into_iter()
            .filter(|&e| match e {
                Engine::Tiled => *b != Backend::Scalar,
                Engine::Lanes => *b == Backend::Scalar,
                _ => true,
            })
            .map(|e| format!("{e:?}"))
            .collect();
        assert_eq!(engines, &want, "{b}: not every engine its backend allows ran");
    }
}
