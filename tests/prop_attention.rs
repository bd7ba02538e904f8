//! Properties of fused attention over 28 const shapes (every D and every NK
//! in {1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 64, 65, 100}, twice), with
//! random options (scale, causal, both alignments, window, ALiBi, boolean
//! masks, additive masks with `−∞`), amplitudes and mask densities:
//!
//! - agreement with the f64 oracle within the bound derived in
//!   `sdpa_oracle::bounds` (a function of D, of the score magnitudes and
//!   of the score range), for `attention`, `attention_rows`, the runtime API
//!   and `attention_weights` (whose weights are checked one by one);
//! - the output is a convex combination of the visible values, up to `τ`;
//! - a fully masked row is exactly `+0`;
//! - permuting keys and values together changes the output by at most the
//!   kernel part of the bound (the scores are bit-identical); permuting
//!   queries permutes output rows exactly;
//! - causal ≡ an additive `−∞` mask (bit for bit on the portable backend,
//!   within twice the oracle bound where SIMD engines differ) and a boolean
//!   mask ≡ an additive mask, bit for bit; per-key masks ≡ the same
//!   per-query masks, bit for bit; a window ≡ its additive mask within the
//!   kernel bound (twice the oracle bound across engines);
//! - NaN and `±∞` in keys and values a row cannot see change nothing in it.
//!
//! `cargo test --release --test prop_attention`

#![allow(clippy::needless_range_loop)] // index loops mirror the math

mod common;

use common::problem::{Allow, Params, Problem, params};
use common::prop::config;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use sdpa::runtime::{self, Shape};
use sdpa::{Matrix, Options, attention, attention_rows, attention_weights};
use sdpa_oracle::Rng;
use sdpa_oracle::bounds::softmax_weight_bound;

const REGRESSIONS: &str = "proptest-regressions/prop_attention.txt";

/// Oracle agreement, convexity and exact zeros, on every entry point.
fn oracle<const NQ: usize, const NK: usize, const D: usize, const DV: usize>(p: &Params) -> Result<(), TestCaseError> {
    let problem = Problem::<NQ, NK, D, DV>::draw(p);
    let case = problem.case();
    let reference = case.view();
    let want = reference.attention64();
    let out = problem.run();
    let options = problem.options();

    let mut halves = Matrix::<NQ, DV>::from_fn(|_, _| f32::NAN);
    let (top, bottom) = halves.rows_mut().split_at_mut(NQ / 2);
    attention_rows(&problem.q, &problem.k, &problem.v, 0, top, &options);
    attention_rows(&problem.q, &problem.k, &problem.v, NQ / 2, bottom, &options);
    prop_assert!(same_bits(&halves, &out), "attention_rows differs from attention");

    let shape = Shape { queries: NQ, keys: NK, head_dim: D, value_dim: DV };
    let mut flat = vec![f32::NAN; NQ * DV];
    let rt = options.to_runtime();
    runtime::attention(shape, problem.q.as_slice(), problem.k.as_slice(), problem.v.as_slice(), &mut flat, &rt)
        .map_err(|e| TestCaseError::fail(format!("runtime refused: {e}")))?;
    prop_assert!(flat.iter().zip(out.as_slice()).all(|(a, b)| a.to_bits() == b.to_bits()), "runtime API differs");

    let mut w_out = Matrix::<NQ, DV>::zeros();
    let mut weights = Box::new(Matrix::<NQ, NK>::from_fn(|_, _| f32::NAN));
    attention_weights(&problem.q, &problem.k, &problem.v, &mut w_out, &mut weights, &options);

    for i in 0..NQ {
        let b = reference.row_bounds(i);
        for (what, got) in [("attention", &out), ("attention_weights", &w_out)] {
            let row = &got.rows()[i];
            if b.n == 0 {
                prop_assert!(row.iter().all(|x| x.to_bits() == 0), "{what}: fully masked row {i} is {row:?}");
                continue;
            }
            for c in 0..DV {
                let (g, w) = (row[c] as f64, want[i * DV + c]);
                let tol = b.oracle(c);
                prop_assert!(
                    (g - w).abs() <= tol,
                    "{what} out[{i}][{c}] = {g:e}, f64 {w:e}, err {:e} > tol {tol:e} (Δ {:e}, n {}, R {:e}) {:?}",
                    (g - w).abs(),
                    b.delta,
                    b.n,
                    b.range,
                    problem.settings
                );
                let tau = b.convex(c);
                prop_assert!(
                    g >= b.vmin[c] - tau && g <= b.vmax[c] + tau,
                    "{what} out[{i}][{c}] = {g:e} outside [{:e}, {:e}] ± {tau:e}",
                    b.vmin[c],
                    b.vmax[c]
                );
            }
        }
        // The weights, one by one: the score error moves each by e^{2Δ} − 1
        // relative, the three-pass softmax adds its own per-weight bound.
        let w64 = reference.weights64(i);
        let scores = reference.scores64(i);
        let max = scores.iter().flatten().copied().fold(f64::NEG_INFINITY, f64::max);
        let grow = (2.0 * b.delta).exp();
        for j in 0..NK {
            let g = weights.rows()[i][j];
            if !reference.visible(i, j) {
                prop_assert!(g.to_bits() == 0, "weight [{i}][{j}] of a masked key is {g}");
                continue;
            }
            let t = scores[j].unwrap_or(0.0) - max;
            let kernel = softmax_weight_bound(w64[j], t.abs() + 2.0 * b.delta, b.range, b.n, 1);
            let tol = w64[j] * (grow - 1.0) + grow * kernel;
            prop_assert!((g as f64 - w64[j]).abs() <= tol, "weight [{i}][{j}] = {g:e}, f64 {:e}, tol {tol:e}", w64[j]);
        }
    }
    Ok(())
}

fn same_bits<const R: usize, const C: usize>(a: &Matrix<R, C>, b: &Matrix<R, C>) -> bool {
    a.as_slice().iter().zip(b.as_slice()).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// A permutation of `0..n` drawn from `seed`.
fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng::new(seed);
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        p.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    p
}

/// Permuting keys with their values (and mask and bias columns) leaves the
/// output within the kernel part of the bound: the scores are bit-identical.
fn key_permutation<const NQ: usize, const NK: usize, const D: usize, const DV: usize>(
    p: &Params,
    perm_seed: u64,
) -> Result<(), TestCaseError> {
    let a = Problem::<NQ, NK, D, DV>::draw(p);
    let perm = permutation(NK, perm_seed);
    let mut b = Problem::<NQ, NK, D, DV>::draw(p);
    for (new, &old) in perm.iter().enumerate() {
        b.k.rows_mut()[new] = a.k.rows()[old];
        b.v.rows_mut()[new] = a.v.rows()[old];
        for i in 0..NQ {
            if let (Some(bm), Some(am)) = (&mut b.mask, &a.mask) {
                bm[i][new] = am[i][old];
            }
            if let (Some(bb), Some(ab)) = (&mut b.bias, &a.bias) {
                bb.rows_mut()[i][new] = ab.rows()[i][old];
            }
        }
        if let (Some(bm), Some(am)) = (&mut b.key_mask, &a.key_mask) {
            bm[new] = am[old];
        }
        if let (Some(bb), Some(ab)) = (&mut b.key_bias, &a.key_bias) {
            bb[new] = ab[old];
        }
    }
    let (out_a, out_b) = (a.run(), b.run());
    let case = a.case();
    let oracle = case.view();
    for i in 0..NQ {
        let bounds = oracle.row_bounds(i);
        for c in 0..DV {
            let (x, y) = (out_a.rows()[i][c] as f64, out_b.rows()[i][c] as f64);
            let tol = bounds.same_scores(c);
            prop_assert!((x - y).abs() <= tol, "out[{i}][{c}]: {x:e} vs permuted {y:e}, tol {tol:e}");
        }
    }
    Ok(())
}

/// Permuting queries (with their mask and bias rows) permutes output rows,
/// bit for bit.
fn query_permutation<const NQ: usize, const NK: usize, const D: usize, const DV: usize>(
    p: &Params,
    perm_seed: u64,
) -> Result<(), TestCaseError> {
    let a = Problem::<NQ, NK, D, DV>::draw(p);
    let perm = permutation(NQ, perm_seed);
    let mut b = Problem::<NQ, NK, D, DV>::draw(p);
    for (new, &old) in perm.iter().enumerate() {
        b.q.rows_mut()[new] = a.q.rows()[old];
        if let (Some(bm), Some(am)) = (&mut b.mask, &a.mask) {
            bm[new] = am[old];
        }
        if let (Some(bb), Some(ab)) = (&mut b.bias, &a.bias) {
            bb.rows_mut()[new] = ab.rows()[old];
        }
    }
    let (out_a, out_b) = (a.run(), b.run());
    for (new, &old) in perm.iter().enumerate() {
        let (x, y) = (&out_b.rows()[new], &out_a.rows()[old]);
        prop_assert!(x.iter().zip(y).all(|(x, y)| x.to_bits() == y.to_bits()), "row {old} -> {new}: {x:?} vs {y:?}");
    }
    Ok(())
}

/// Whether every problem runs on one engine (the portable backend's row
/// engine). On the SIMD backends problems without per-key masks, bias or
/// ALiBi run on the tiled or tiny engine, the others on the row engine.
fn one_engine() -> bool {
    sdpa::backend() == sdpa::Backend::Scalar
}

/// Causal ≡ additive `−∞` above the diagonal, boolean mask ≡ additive mask,
/// per-key ≡ per-query: bit for bit on one engine. A window ≡ its additive
/// mask within the kernel bound (the blocks start at the window's first key,
/// not at key 0). Where the two forms run on different engines (SIMD
/// backends: causal and window on the tiled engine, the additive mask on the
/// row engine), each is within the oracle bound, so they differ by at most
/// twice that.
fn equivalences<const NQ: usize, const NK: usize, const D: usize, const DV: usize>(
    p: &Params,
) -> Result<(), TestCaseError> {
    let a = Problem::<NQ, NK, D, DV>::draw(p);
    let case = a.case();
    let oracle = case.view();
    let out = a.run();

    // Everything as one additive mask: bias where visible, −∞ elsewhere;
    // keep only the settings that are not masks (scale, ALiBi, alignment).
    let mut additive = Box::new(Matrix::<NQ, NK>::zeros());
    let bias = a.full_bias();
    for i in 0..NQ {
        for j in 0..NK {
            additive.rows_mut()[i][j] =
                if oracle.visible(i, j) { bias.as_ref().map_or(0.0, |b| b[i * NK + j]) } else { f32::NEG_INFINITY };
        }
    }
    let settings = sdpa::Settings { causal: false, window: None, ..a.settings };
    let mut other = Matrix::<NQ, DV>::from_fn(|_, _| f32::NAN);
    attention(&a.q, &a.k, &a.v, &mut other, &Options::new().with_settings(settings).bias(&additive));
    if a.settings.window.is_none() && one_engine() {
        prop_assert!(
            same_bits(&out, &other),
            "masks as one additive mask differ: {:?}\n{out:?}\n{other:?}",
            a.settings
        );
    } else {
        // A window starts its blocks at its first key; on the SIMD backends
        // a problem without per-key masks runs on the tiled or tiny engine
        // (scores in log₂ units, another summation order) and its additive
        // form on the row engine. The window case shares rounded scores
        // with its additive form only on the row engine.
        let same_scores = one_engine();
        for i in 0..NQ {
            let bounds = oracle.row_bounds(i);
            for c in 0..DV {
                let (x, y) = (out.rows()[i][c] as f64, other.rows()[i][c] as f64);
                let tol = if same_scores { bounds.same_scores(c) } else { 2.0 * bounds.oracle(c) };
                prop_assert!(
                    (x - y).abs() <= tol,
                    "{:?} vs additive out[{i}][{c}]: {x:e} vs {y:e}, tol {tol:e}",
                    a.settings
                );
            }
        }
    }

    // Per-key forms equal their per-query expansions.
    let mut expanded = Matrix::<NQ, DV>::from_fn(|_, _| f32::NAN);
    let full_mask = a.full_mask().map(|m| {
        let mut rows = Box::new([[false; NK]; NQ]);
        rows.as_flattened_mut().copy_from_slice(&m);
        rows
    });
    let full_bias = bias.as_ref().map(|b| Box::new(Matrix::<NQ, NK>::from_slice(b).unwrap_or(Matrix::zeros())));
    let mut o = Options::new().with_settings(a.settings);
    if let Some(m) = &full_mask {
        o = o.mask(m);
    }
    if let Some(b) = &full_bias {
        o = o.bias(b);
    }
    attention(&a.q, &a.k, &a.v, &mut expanded, &o);
    prop_assert!(same_bits(&out, &expanded), "per-key masks differ from their per-query form");

    // A boolean mask equals the additive mask of 0 / −∞ (added to any bias).
    if let Some(m) = &full_mask {
        let merged = Box::new(Matrix::<NQ, NK>::from_fn(|i, j| {
            if !m[i][j] { f32::NEG_INFINITY } else { bias.as_ref().map_or(0.0, |b| b[i * NK + j]) }
        }));
        let mut via_bias = Matrix::<NQ, DV>::from_fn(|_, _| f32::NAN);
        attention(&a.q, &a.k, &a.v, &mut via_bias, &Options::new().with_settings(a.settings).bias(&merged));
        prop_assert!(same_bits(&out, &via_bias), "boolean mask differs from its additive mask");
    }
    Ok(())
}

/// NaN and `±∞` in keys and values change nothing in the rows that cannot
/// see them (and nothing at all in `attention_weights`' weights there).
fn garbage<const NQ: usize, const NK: usize, const D: usize, const DV: usize>(
    p: &Params,
    poison_seed: u64,
) -> Result<(), TestCaseError> {
    let clean = Problem::<NQ, NK, D, DV>::draw(p);
    let case = clean.case();
    let oracle = case.view();
    let mut dirty = Problem::<NQ, NK, D, DV>::draw(p);
    let mut rng = Rng::new(poison_seed);
    let bad = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
    let mut poisoned = vec![false; NK];
    for j in 0..NK {
        if rng.bool(0.3) {
            poisoned[j] = true;
            let (x, y) = (bad[(rng.next_u64() % 3) as usize], bad[(rng.next_u64() % 3) as usize]);
            dirty.k.rows_mut()[j][(rng.next_u64() as usize) % D] = x;
            dirty.v.rows_mut()[j][(rng.next_u64() as usize) % DV] = y;
            if rng.bool(0.5) {
                dirty.k.rows_mut()[j] = [x; D];
                dirty.v.rows_mut()[j] = [y; DV];
            }
        }
    }
    let (a, b) = (clean.run(), dirty.run());
    let (mut wa, mut wb) = (Box::new(Matrix::<NQ, NK>::zeros()), Box::new(Matrix::<NQ, NK>::zeros()));
    let (mut oa, mut ob) = (Matrix::<NQ, DV>::zeros(), Matrix::<NQ, DV>::zeros());
    attention_weights(&clean.q, &clean.k, &clean.v, &mut oa, &mut wa, &clean.options());
    attention_weights(&dirty.q, &dirty.k, &dirty.v, &mut ob, &mut wb, &dirty.options());
    for i in 0..NQ {
        if (0..NK).any(|j| poisoned[j] && oracle.visible(i, j)) {
            continue;
        }
        let same = |x: &[f32], y: &[f32]| x.iter().zip(y).all(|(x, y)| x.to_bits() == y.to_bits());
        prop_assert!(same(&a.rows()[i], &b.rows()[i]), "row {i} changed by garbage it cannot see");
        prop_assert!(same(&oa.rows()[i], &ob.rows()[i]), "attention_weights row {i} changed");
        prop_assert!(same(&wa.rows()[i], &wb.rows()[i]), "weights row {i} changed");
    }
    Ok(())
}

const ANY: Allow = Allow { positional: true };
const NOT_POSITIONAL: Allow = Allow { positional: false };

macro_rules! shapes {
    ($($name:ident: $nq:literal, $nk:literal, $d:literal, $dv:literal;)*) => {$(
        mod $name {
            use super::*;
            proptest! {
                #![proptest_config(config(REGRESSIONS))]

                #[test]
                fn agrees_with_f64_and_is_convex(p in params(ANY, $nk)) {
                    oracle::<$nq, $nk, $d, $dv>(&p)?;
                }

                #[test]
                fn key_permutation_changes_only_rounding(p in params(NOT_POSITIONAL, $nk), s in any::<u64>()) {
                    key_permutation::<$nq, $nk, $d, $dv>(&p, s)?;
                }

                #[test]
                fn query_permutation_permutes_rows(p in params(NOT_POSITIONAL, $nk), s in any::<u64>()) {
                    query_permutation::<$nq, $nk, $d, $dv>(&p, s)?;
                }

                #[test]
                fn masks_are_equivalent(p in params(ANY, $nk)) {
                    equivalences::<$nq, $nk, $d, $dv>(&p)?;
                }

                #[test]
                fn masked_garbage_changes_nothing(p in params(ANY, $nk), s in any::<u64>()) {
                    garbage::<$nq, $nk, $d, $dv>(&p, s)?;
                }
            }
        }
    )*};
}

shapes! {
    d1_nk100: 3, 100, 1, 5;
    d2_nk65: 4, 65, 2, 3;
    d3_nk64: 2, 64, 3, 8;
    d7_nk33: 5, 33, 7, 1;
    d8_nk32: 3, 32, 8, 17;
    d15_nk31: 1, 31, 15, 4;
    d16_nk17: 6, 17, 16, 16;
    d17_nk16: 3, 16, 17, 9;
    d31_nk15: 4, 15, 31, 2;
    d32_nk8: 9, 8, 32, 7;
    d33_nk7: 3, 7, 33, 33;
    d64_nk3: 5, 3, 64, 6;
    d65_nk2: 3, 2, 65, 1;
    d100_nk1: 4, 1, 100, 10;
    d15_nk1: 2, 1, 15, 3;
    d16_nk2: 3, 2, 16, 5;
    d17_nk3: 7, 3, 17, 2;
    d31_nk7: 3, 7, 31, 8;
    d32_nk8b: 2, 8, 32, 32;
    d33_nk15: 3, 15, 33, 1;
    d64_nk16: 1, 16, 64, 64;
    d65_nk17: 3, 17, 65, 7;
    d100_nk31: 2, 31, 100, 3;
    d1_nk32: 5, 32, 1, 1;
    d2_nk33: 3, 33, 2, 9;
    d3_nk64b: 40, 64, 3, 2;
    d7_nk65: 3, 65, 7, 15;
    d8_nk100: 2, 100, 8, 4;
}
