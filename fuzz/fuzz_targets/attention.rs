//! Fused attention, `attention_weights`, `attention_rows` and the runtime API
//! on const shapes picked by the first byte, with arbitrary options; checked
//! against the f64 reference and the non-finite rules of docs/SEMANTICS.md.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdpa::{Matrix, Options, attention, attention_rows, attention_weights, runtime};
use sdpa_fuzz::check::{self, assert_same};
use sdpa_fuzz::input::Input;
use sdpa_fuzz::{POISON, SENTINEL};
use sdpa_oracle::{Problem, RowRef, Spread};

fuzz_target!(init: sdpa_fuzz::announce("attention"), |data: &[u8]| {
    let mut inp = Input::new(data);
    // (NQ, NK, D, DV): NK = 1, lane widths 4/8/16 ± 1 in D, NK and DV, the
    // 32-key block boundary ± 1 and two blocks + 1, NQ ≠ NK both ways.
    match inp.byte() % 17 {
        0 => run::<1, 1, 1, 1>(&mut inp),
        1 => run::<3, 1, 4, 2>(&mut inp),
        2 => run::<3, 5, 4, 6>(&mut inp),
        3 => run::<2, 3, 3, 5>(&mut inp),
        4 => run::<4, 5, 5, 3>(&mut inp),
        5 => run::<2, 7, 7, 9>(&mut inp),
        6 => run::<5, 9, 9, 7>(&mut inp),
        7 => run::<3, 15, 15, 17>(&mut inp),
        8 => run::<2, 17, 17, 15>(&mut inp),
        9 => run::<4, 31, 8, 4>(&mut inp),
        10 => run::<3, 32, 16, 16>(&mut inp),
        11 => run::<2, 33, 4, 8>(&mut inp),
        12 => run::<6, 2, 3, 3>(&mut inp),
        13 => run::<1, 65, 2, 1>(&mut inp),
        14 => run::<7, 7, 16, 16>(&mut inp),
        15 => run::<5, 37, 19, 11>(&mut inp),
        _ => run::<9, 4, 1, 2>(&mut inp),
    }
});

/// Outputs of one problem: fused output, and `attention_weights`' output and weights.
struct Outputs<const NQ: usize, const NK: usize, const DV: usize> {
    fused: Matrix<NQ, DV>,
    with_weights: Matrix<NQ, DV>,
    weights: Matrix<NQ, NK>,
}

fn compute<const NQ: usize, const NK: usize, const D: usize, const DV: usize>(
    q: &Matrix<NQ, D>,
    k: &Matrix<NK, D>,
    v: &Matrix<NK, DV>,
    o: &Options<'_, NQ, NK>,
) -> Outputs<NQ, NK, DV> {
    let mut fused = Matrix::from_fn(|_, _| SENTINEL);
    let mut with_weights = Matrix::from_fn(|_, _| SENTINEL);
    let mut weights = Matrix::from_fn(|_, _| SENTINEL);
    attention(q, k, v, &mut fused, o);
    attention_weights(q, k, v, &mut with_weights, &mut weights, o);
    Outputs { fused, with_weights, weights }
}

fn run<const NQ: usize, const NK: usize, const D: usize, const DV: usize>(inp: &mut Input<'_>) {
    let mut q = Matrix::<NQ, D>::zeros();
    let mut k = Matrix::<NK, D>::zeros();
    let mut v = Matrix::<NK, DV>::zeros();
    inp.fill(q.as_mut_slice());
    inp.fill(k.as_mut_slice());
    inp.fill(v.as_mut_slice());
    let settings = inp.settings();
    let mut mask = [[true; NK]; NQ];
    let mut keep = [true; NK];
    let mut bias = Matrix::<NQ, NK>::zeros();
    let mut key_bias = [0.0f32; NK];
    let mask_kind = inp.byte() % 3;
    match mask_kind {
        1 => inp.bools(mask.as_flattened_mut()),
        2 => inp.bools(&mut keep),
        _ => {}
    }
    let bias_kind = inp.byte() % 3;
    match bias_kind {
        1 => inp.fill(bias.as_mut_slice()),
        2 => inp.fill(&mut key_bias),
        _ => {}
    }
    let mut o = Options::<NQ, NK>::new().with_settings(settings);
    let mut problem = Problem {
        nq: NQ,
        nk: NK,
        d: D,
        dv: DV,
        q: q.as_slice(),
        k: k.as_slice(),
        v: v.as_slice(),
        settings,
        mask: None,
        bias: None,
    };
    match mask_kind {
        1 => (o, problem.mask) = (o.mask(&mask), Some(Spread::PerQuery(mask.as_flattened()))),
        2 => (o, problem.mask) = (o.key_mask(&keep), Some(Spread::PerKey(&keep))),
        _ => {}
    }
    match bias_kind {
        1 => (o, problem.bias) = (o.bias(&bias), Some(Spread::PerQuery(bias.as_slice()))),
        2 => (o, problem.bias) = (o.key_bias(&key_bias), Some(Spread::PerKey(&key_bias))),
        _ => {}
    }

    // Accuracy, exact zeros, NaN rows, fused vs weights variant.
    let clean = compute(&q, &k, &v, &o);
    let refs =
        check::attention(&problem, clean.fused.as_slice(), clean.with_weights.as_slice(), clean.weights.as_slice());

    // The runtime API runs the same engine: bit-identical.
    let mut rt = [[SENTINEL; DV]; NQ];
    let mut rt_w = [[SENTINEL; NK]; NQ];
    let (shape, ro) = (problem.shape(), problem.runtime_options());
    let r = runtime::attention(shape, q.as_slice(), k.as_slice(), v.as_slice(), rt.as_flattened_mut(), &ro);
    assert_eq!(r, Ok(()));
    assert_same(rt.as_flattened(), clean.fused.as_slice(), "runtime::attention vs attention");
    let r = runtime::attention_weights(
        shape,
        q.as_slice(),
        k.as_slice(),
        v.as_slice(),
        rt.as_flattened_mut(),
        rt_w.as_flattened_mut(),
        &ro,
    );
    assert_eq!(r, Ok(()));
    assert_same(rt.as_flattened(), clean.with_weights.as_slice(), "runtime::attention_weights out");
    assert_same(rt_w.as_flattened(), clean.weights.as_slice(), "runtime::attention_weights weights");

    // A row range: the same rows bit for bit, nothing written past NQ.
    let (first, count) = (inp.size(), inp.below(NQ + 3));
    let mut part = vec![[SENTINEL; DV]; count];
    let written = attention_rows(&q, &k, &v, first, &mut part, &o);
    assert_eq!(written, count.min(NQ.saturating_sub(first)), "attention_rows({first}, {count} rows)");
    for (r, row) in part.iter().enumerate() {
        match clean.fused.row(first.wrapping_add(r)).filter(|_| r < written) {
            Some(want) => assert_same(row, want, &format!("attention_rows row {}", first + r)),
            None => assert!(row.iter().all(|x| x.to_bits() == SENTINEL.to_bits()), "attention_rows wrote row {r}"),
        }
    }

    // Garbage in keys no query may see never reaches any output.
    let poison = POISON[inp.below(POISON.len())];
    let hidden: Vec<bool> = (0..NK).map(|j| refs.iter().all(|r| !r.visible[j])).collect();
    if hidden.iter().any(|&h| h) {
        let (kp, vp) = poisoned(&k, &v, |j| hidden[j], poison);
        let got = compute(&q, &kp, &vp, &o);
        assert_same(got.fused.as_slice(), clean.fused.as_slice(), "fused, hidden keys poisoned");
        assert_same(
            got.with_weights.as_slice(),
            clean.with_weights.as_slice(),
            "weights variant, hidden keys poisoned",
        );
        assert_same(got.weights.as_slice(), clean.weights.as_slice(), "weights, hidden keys poisoned");
    }

    // Garbage in the keys one row may not see never reaches that row.
    let row = inp.below(NQ);
    let masked = |j: usize| !refs[row].visible[j];
    if (0..NK).any(masked) {
        let (kp, vp) = poisoned(&k, &v, masked, poison);
        let mut one = [[SENTINEL; DV]];
        assert_eq!(attention_rows(&q, &kp, &vp, row, &mut one, &o), 1);
        assert_same(&one[0], &clean.fused.rows()[row], &format!("row {row} with its masked keys poisoned"));
        let got = compute(&q, &kp, &vp, &o);
        assert_same(&got.with_weights.rows()[row], &clean.with_weights.rows()[row], "weights variant, masked poisoned");
        assert_same(&got.weights.rows()[row], &clean.weights.rows()[row], "weights, masked poisoned");
    }

    // NaN in one query row changes no other row.
    let (row, col) = (inp.below(NQ), inp.below(D));
    let mut qn = q;
    qn.rows_mut()[row][col] = if poison.is_nan() { poison } else { f32::NAN };
    let got = compute(&qn, &k, &v, &o);
    for (i, r) in refs.iter().enumerate() {
        let what = |part: &str| format!("{part} row {i}, NaN in query {row}");
        if i != row {
            assert_same(&got.fused.rows()[i], &clean.fused.rows()[i], &what("fused"));
            assert_same(&got.with_weights.rows()[i], &clean.with_weights.rows()[i], &what("weights variant"));
            assert_same(&got.weights.rows()[i], &clean.weights.rows()[i], &what("weights"));
        } else {
            nan_query_row(r, &got.fused.rows()[i], &got.with_weights.rows()[i], &got.weights.rows()[i]);
        }
    }
}

/// The row whose query holds a NaN: all NaN if it sees any key, else zeros.
fn nan_query_row(r: &RowRef, fused: &[f32], with_weights: &[f32], weights: &[f32]) {
    for out in [fused, with_weights] {
        if r.any_visible {
            assert!(out.iter().all(|x| x.is_nan()), "a NaN query must give a NaN row: {out:?}");
        } else {
            assert!(out.iter().all(|x| x.to_bits() == 0), "a fully masked NaN query gives zeros: {out:?}");
        }
    }
    for (j, w) in weights.iter().enumerate() {
        assert!(if r.visible[j] { w.is_nan() } else { r.any_visible || w.to_bits() == 0 }, "weight {j}: {w}");
    }
}

/// Copies of `k` and `v` with every row `j` where `pick(j)` filled with `poison`.
fn poisoned<const NK: usize, const D: usize, const DV: usize>(
    k: &Matrix<NK, D>,
    v: &Matrix<NK, DV>,
    pick: impl Fn(usize) -> bool,
    poison: f32,
) -> (Matrix<NK, D>, Matrix<NK, DV>) {
    let (mut k, mut v) = (*k, *v);
    for j in (0..NK).filter(|&j| pick(j)) {
        k.rows_mut()[j] = [poison; D];
        v.rows_mut()[j] = [poison; DV];
    }
    (k, v)
}
