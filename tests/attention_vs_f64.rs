//! The fused attention (const-generic, row-range and runtime forms) and the
//! weights variant against the f64 oracle, for every mask option, over shapes
//! that are not multiples of the lane width or the key blocks, NK 1 to 300,
//! on every backend this build and CPU support, with each attention engine
//! forced in turn (where it accepts the problem).

#![allow(clippy::needless_range_loop)] // index loops mirror the math

use sdpa::runtime::{self, Bias, Mask, Shape};
use sdpa::{Alignment, Matrix, Options, Settings, Window, attention, attention_rows, attention_weights};
use sdpa_oracle::backend::{each_backend, each_backend_and_engine};
use sdpa_oracle::{Case, Rng};

/// Settings plus an optional full boolean mask and an optional full bias.
type OptionMix = (Settings, Option<Vec<bool>>, Option<Vec<f32>>);

/// The option mixes every shape is run with.
fn option_mixes(rng: &mut Rng, nq: usize, nk: usize) -> Vec<OptionMix> {
    let base = Settings::default();
    let causal = Settings { causal: true, ..base };
    let mask: Vec<bool> = (0..nq * nk).map(|_| rng.bool(0.7)).collect();
    let bias: Vec<f32> =
        (0..nq * nk).map(|_| if rng.bool(0.2) { f32::NEG_INFINITY } else { rng.uniform(-2.0, 2.0) }).collect();
    vec![
        (base, None, None),
        (Settings { scale: Some(0.3), ..base }, None, None),
        (causal, None, None),
        (Settings { alignment: Alignment::BottomRight, ..causal }, None, None),
        (Settings { window: Some(Window { left: 3, right: 2 }), ..base }, None, None),
        (Settings { window: Some(Window { left: 5, right: 0 }), ..causal }, None, None),
        (Settings { alibi_slope: Some(0.125), ..base }, None, None),
        (Settings { alibi_slope: Some(0.5), alignment: Alignment::BottomRight, ..causal }, None, None),
        (base, Some(mask.clone()), None),
        (base, None, Some(bias.clone())),
        (causal, Some(mask), Some(bias)),
    ]
}

/// Checks every output element; returns the largest absolute error and the
/// largest error as a fraction of its tolerance.
fn check_rows(case: &Case, got: &[f32], what: &str) -> (f64, f64) {
    let want = case.view().attention64();
    let mut worst = (0.0f64, 0.0f64);
    for i in 0..case.nq {
        let tol = case.view().first_order_tolerance(i);
        for c in 0..case.dv {
            let (g, w) = (got[i * case.dv + c] as f64, want[i * case.dv + c]);
            worst = (worst.0.max((g - w).abs()), worst.1.max((g - w).abs() / tol));
            assert!(
                (g - w).abs() <= tol,
                "{what}: nq {} nk {} d {} dv {} {:?}: out[{i}][{c}] = {g}, f64 {w}, tol {tol:e}",
                case.nq,
                case.nk,
                case.d,
                case.dv,
                case.settings
            );
        }
    }
    worst
}

fn run_shape<const NQ: usize, const NK: usize, const D: usize, const DV: usize>(seed: u64) {
    each_backend_and_engine(|backend, forced| {
        let mut rng = Rng::new(seed);
        let mut worst = (0.0f64, 0.0f64);
        for (settings, mask, bias) in option_mixes(&mut rng, NQ, NK) {
            let mut q = Matrix::<NQ, D>::zeros();
            let mut k = Matrix::<NK, D>::zeros();
            let mut v = Matrix::<NK, DV>::zeros();
            rng.fill(q.as_mut_slice(), -1.0, 1.0);
            rng.fill(k.as_mut_slice(), -1.0, 1.0);
            rng.fill(v.as_mut_slice(), -1.0, 1.0);

            let mask_rows: Option<Box<[[bool; NK]; NQ]>> = mask.as_ref().map(|m| {
                let mut rows = Box::new([[false; NK]; NQ]);
                rows.as_flattened_mut().copy_from_slice(m);
                rows
            });
            let bias_matrix = bias.as_ref().map(|b| Matrix::<NQ, NK>::from_slice(b).unwrap());
            let mut options = Options::new().with_settings(settings);
            if let Some(m) = &mask_rows {
                options = options.mask(m);
            }
            if let Some(b) = &bias_matrix {
                options = options.bias(b);
            }

            let case = Case {
                nq: NQ,
                nk: NK,
                d: D,
                dv: DV,
                q: q.as_slice().to_vec(),
                k: k.as_slice().to_vec(),
                v: v.as_slice().to_vec(),
                settings,
                mask: mask.clone(),
                bias: bias.clone(),
            };

            let mut out = Matrix::<NQ, DV>::zeros();
            attention(&q, &k, &v, &mut out, &options);
            let (abs, frac) = check_rows(&case, out.as_slice(), "attention");
            worst = (worst.0.max(abs), worst.1.max(frac));

            // Row ranges reassemble the same output, bit for bit.
            let mut parts = Matrix::<NQ, DV>::from_fn(|_, _| f32::NAN);
            let split = NQ / 2;
            let (top, bottom) = parts.rows_mut().split_at_mut(split);
            assert_eq!(attention_rows(&q, &k, &v, 0, top, &options), split);
            assert_eq!(attention_rows(&q, &k, &v, split, bottom, &options), NQ - split);
            assert_eq!(parts.as_slice(), out.as_slice(), "row ranges differ from the whole");

            // The runtime API runs the same engine on the same data.
            let mut rt_out = vec![0.0f32; NQ * DV];
            let mut rt = runtime::RuntimeOptions::new().with_settings(settings);
            if let Some(m) = &mask {
                rt = rt.mask(Mask::PerQuery(m));
            }
            if let Some(b) = &bias {
                rt = rt.bias(Bias::PerQuery(b));
            }
            let shape = Shape { queries: NQ, keys: NK, head_dim: D, value_dim: DV };
            runtime::attention(shape, q.as_slice(), k.as_slice(), v.as_slice(), &mut rt_out, &rt).unwrap();
            assert_eq!(rt_out, out.as_slice(), "runtime API differs");

            // The weights variant: weights against f64, output against f64.
            let mut w_out = Matrix::<NQ, DV>::zeros();
            let mut weights = Box::new(Matrix::<NQ, NK>::zeros());
            attention_weights(&q, &k, &v, &mut w_out, &mut weights, &options);
            check_rows(&case, w_out.as_slice(), "attention_weights");
            let oracle = case.view();
            for i in 0..NQ {
                let want = oracle.weights64(i);
                for j in 0..NK {
                    let (g, w) = (weights.rows()[i][j] as f64, want[j]);
                    let tol = 4.0 * oracle.first_order_tolerance(i)
                        / case.v.iter().fold(1e-30f64, |m, x| m.max(x.abs() as f64));
                    assert!((g - w).abs() <= tol * w.max(1.0 / NK as f64), "weights[{i}][{j}] = {g}, f64 {w}");
                    if !oracle.visible(i, j) {
                        assert_eq!(g, 0.0, "masked weight [{i}][{j}] is not zero");
                    }
                }
            }
        }
        println!(
            "NQ {NQ} NK {NK} D {D} DV {DV} ({backend}, {forced:?} engine forced): max |out - f64| = {:.2e}, \
             max error / tolerance = {:.3}",
            worst.0, worst.1
        );
    });
}

macro_rules! shapes {
    ($($name:ident: $nq:literal, $nk:literal, $d:literal, $dv:literal;)*) => {$(
        #[test]
        fn $name() {
            run_shape::<$nq, $nk, $d, $dv>(($nq * 1000 + $nk) as u64);
        }
    )*};
}

shapes! {
    seed_toy: 3, 5, 4, 6;
    single_key: 4, 1, 8, 3;
    single_query_single_key: 1, 1, 1, 1;
    lanes_minus_one: 5, 15, 15, 7;
    lanes_plus_one: 6, 17, 17, 17;
    block_minus_one: 7, 31, 16, 9;
    block_exact: 8, 32, 32, 32;
    block_plus_one: 9, 33, 33, 5;
    more_queries_than_keys: 40, 7, 12, 4;
    two_blocks_and_a_tail: 11, 65, 64, 65;
    hundred: 13, 100, 24, 20;
    decode_long: 1, 300, 64, 64;
    long_odd: 5, 257, 3, 2;
}

#[test]
fn runtime_rejects_bad_shapes_and_writes_nothing() {
    each_backend(|_| {
        let shape = Shape { queries: 2, keys: 3, head_dim: 2, value_dim: 1 };
        let (q, k, v) = ([0.5f32; 4], [0.5f32; 6], [1.0f32; 3]);
        let mut out = [7.0f32; 2];
        let o = runtime::RuntimeOptions::new();
        let zero = Shape { keys: 0, ..shape };
        assert_eq!(runtime::attention(zero, &q, &k, &v, &mut out, &o), Err(runtime::Error::ZeroDimension));
        let huge = Shape { queries: usize::MAX, ..shape };
        assert_eq!(runtime::attention(huge, &q, &k, &v, &mut out, &o), Err(runtime::Error::SizeOverflow));
        assert_eq!(runtime::attention(shape, &q[..3], &k, &v, &mut out, &o), Err(runtime::Error::QueryLength));
        assert_eq!(runtime::attention(shape, &q, &k[..5], &v, &mut out, &o), Err(runtime::Error::KeyLength));
        assert_eq!(runtime::attention(shape, &q, &k, &v[..2], &mut out, &o), Err(runtime::Error::ValueLength));
        assert_eq!(runtime::attention(shape, &q, &k, &v, &mut out[..1], &o), Err(runtime::Error::OutputLength));
        let short_mask = [true; 2];
        let om = o.mask(Mask::PerKey(&short_mask));
        assert_eq!(runtime::attention(shape, &q, &k, &v, &mut out, &om), Err(runtime::Error::MaskLength));
        let short_bias = [0.0; 5];
        let ob = o.bias(Bias::PerQuery(&short_bias));
        assert_eq!(runtime::attention(shape, &q, &k, &v, &mut out, &ob), Err(runtime::Error::BiasLength));
        let mut w = [0.0f32; 5];
        assert_eq!(
            runtime::attention_weights(shape, &q, &k, &v, &mut out, &mut w, &o),
            Err(runtime::Error::WeightsLength)
        );
        assert_eq!(runtime::attention_rows(shape, &q, &k, &v, 2, &mut out[..1], &o), Err(runtime::Error::RowRange));
        assert_eq!(
            runtime::attention_rows(shape, &q, &k, &v, usize::MAX, &mut out[..1], &o),
            Err(runtime::Error::RowRange)
        );
        assert_eq!(out, [7.0; 2], "a refused call wrote to the output");
    });
}

#[test]
fn rows_past_the_end_are_not_written() {
    each_backend_and_engine(|_, _| {
        let q = Matrix::<3, 2>::from_fn(|r, c| (r + c) as f32);
        let mut rows = [[9.0f32; 2]; 4];
        assert_eq!(attention_rows(&q, &q, &q, 1, &mut rows, &Options::new()), 2);
        assert_eq!(rows[2..], [[9.0; 2]; 2]);
        assert_eq!(attention_rows(&q, &q, &q, 7, &mut rows, &Options::new()), 0);
    });
}
