//! Properties of `softmax`, `softmax_reference` and `OnlineSoftmax` over
//! rows of many lengths, each against the f64 oracle with the bounds derived
//! in `sdpa_oracle::bounds`.
//!
//! `cargo test --release --test prop_softmax` (1,000 cases per property and
//! length; `PROPTEST_CASES=N` for more).

mod common;

use common::prop::config;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use sdpa::kernels::{OnlineSoftmax, softmax, softmax_reference};
use sdpa_oracle::bounds::{softmax_sum_bound, softmax_weight_bound};
use sdpa_oracle::{TINY, U, lanes, softmax64};

const REGRESSIONS: &str = "proptest-regressions/prop_softmax.txt";

/// Where the finite inputs of a row sit: `center + spread·r`, `r ∈ [-1, 1]`.
/// Covers ordinary scores, scores near ±10⁴, inputs up to ±f32::MAX/2
/// (and, shifted, up to ±f32::MAX) and rows at -f32::MAX.
fn placement() -> impl Strategy<Value = (f32, f32)> {
    prop_oneof![
        Just((0.0, 1.0)),
        Just((0.0, 30.0)),
        Just((0.0, 1e3)),
        Just((1e4, 50.0)),
        Just((-1e4, 50.0)),
        Just((0.0, 1e4)),
        Just((0.0, f32::MAX / 2.0)),
        Just((f32::MAX / 4.0, f32::MAX / 4.0)),
        Just((-f32::MAX / 4.0, f32::MAX / 4.0)),
        // Every finite input at -f32::MAX: padding tail lanes with f32::MIN
        // instead of -inf would count them as weights here.
        Just((-f32::MAX, 0.0)),
    ]
}

/// A row of `n` finite values, each `−∞` (masked) with probability `p`.
fn row(n: usize) -> impl Strategy<Value = Vec<f32>> {
    (placement(), prop::sample::select(vec![0.0, 0.0, 0.3, 0.9, 1.0])).prop_flat_map(move |((center, spread), p)| {
        prop::collection::vec((-1.0f32..=1.0, prop::bool::weighted(p)), n).prop_map(move |xs| {
            xs.into_iter().map(|(r, masked)| if masked { f32::NEG_INFINITY } else { center + spread * r }).collect()
        })
    })
}

/// Checks `got` against the f64 softmax of `input`: every weight within the
/// per-weight bound, in `[0, 1]`, and the sum within `(n + 1)/2` ulp of 1.
fn check_against_oracle(input: &[f32], got: &[f32], blocks: usize, what: &str) -> Result<(), TestCaseError> {
    let want = softmax64(input);
    let finite: Vec<f64> = input.iter().filter(|x| x.is_finite()).map(|x| *x as f64).collect();
    let n = finite.len();
    if n == 0 {
        prop_assert!(got.iter().all(|w| w.to_bits() == 0), "{what}: fully masked row is not +0: {got:?}");
        return Ok(());
    }
    let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
    for (j, (&g, &w)) in got.iter().zip(&want).enumerate() {
        prop_assert!((0.0..=1.0).contains(&g), "{what}: weight {j} = {g} outside [0, 1]");
        if input[j] == f32::NEG_INFINITY {
            prop_assert!(g.to_bits() == 0, "{what}: -inf input {j} has weight {g}");
            continue;
        }
        let bound = softmax_weight_bound(w, input[j] as f64 - max, max - min, n, blocks);
        prop_assert!(
            (g as f64 - w).abs() <= bound,
            "{what}: weight {j} = {g:e}, f64 {w:e}, |err| {:e} > bound {bound:e} (n {n}, blocks {blocks})",
            (g as f64 - w).abs()
        );
    }
    if blocks == 1 {
        let sum: f64 = got.iter().map(|w| *w as f64).sum();
        prop_assert!(
            (sum - 1.0).abs() <= softmax_sum_bound(n),
            "{what}: sum {sum} off 1 by {:.2} ulp of 1.0 (bound (n + 1)/2 = {:.1})",
            (sum - 1.0).abs() / (2.0 * U),
            (n as f64 + 1.0) / 2.0
        );
    }
    Ok(())
}

/// The online form through the public `accumulate` path, blocks of `block`
/// scores against the rows of an `n × n` identity (so `acc` ends as the weights).
fn online(input: &[f32], block: usize) -> (Vec<f32>, usize) {
    let n = input.len();
    let identity: Vec<f32> = (0..n * n).map(|i| if i / n == i % n { 1.0 } else { 0.0 }).collect();
    let mut state = OnlineSoftmax::new();
    let mut acc = vec![0.0f32; n];
    let mut blocks = 0;
    for (scores, rows) in input.chunks(block).zip(identity.chunks(block * n)) {
        let mut scores = scores.to_vec();
        state.accumulate(&mut scores, rows, &mut acc);
        blocks += 1;
    }
    state.finish(&mut acc);
    (acc, blocks)
}

fn probabilities(input: &[f32]) -> Result<(), TestCaseError> {
    let mut got = input.to_vec();
    softmax(&mut got);
    check_against_oracle(input, &got, 1, "softmax")?;
    // The rustdoc's tighter sum bound for the vectorized form: the sum runs
    // ⌈n/L⌉ deep per lane, then log₂L reduction steps; then 1/l and one
    // product per weight: |Σw − 1| ≤ (⌈n/L⌉ + log₂L + 2)·u.
    let n = input.iter().filter(|x| x.is_finite()).count();
    if n > 0 {
        let l = lanes();
        let bound = (n.div_ceil(l) + l.trailing_zeros() as usize + 2) as f64 * U * 1.01 + n as f64 * 3.0 * TINY;
        let sum: f64 = got.iter().map(|w| *w as f64).sum();
        prop_assert!((sum - 1.0).abs() <= bound, "softmax: sum {sum} beyond the documented blocked bound {bound:e}");
    }
    let mut reference = input.to_vec();
    softmax_reference(&mut reference);
    check_against_oracle(input, &reference, 1, "softmax_reference")
}

fn online_equals_three_pass(input: &[f32], block: usize) -> Result<(), TestCaseError> {
    let (got, blocks) = online(input, block);
    check_against_oracle(input, &got, blocks, "online")?;
    let mut three = input.to_vec();
    softmax(&mut three);
    let want = softmax64(input);
    let finite: Vec<f64> = input.iter().filter(|x| x.is_finite()).map(|x| *x as f64).collect();
    let (max, min) = finite.iter().fold((f64::NEG_INFINITY, f64::INFINITY), |(a, b), x| (a.max(*x), b.min(*x)));
    for j in 0..input.len() {
        if !input[j].is_finite() {
            prop_assert!(got[j].to_bits() == 0 && three[j].to_bits() == 0);
            continue;
        }
        let t = input[j] as f64 - max;
        let n = finite.len();
        let bound =
            softmax_weight_bound(want[j], t, max - min, n, 1) + softmax_weight_bound(want[j], t, max - min, n, blocks);
        prop_assert!(
            (got[j] as f64 - three[j] as f64).abs() <= bound,
            "online {} vs three-pass {} at {j} (block {block}), bound {bound:e}",
            got[j],
            three[j]
        );
    }
    Ok(())
}

/// A softmax form by name: row and online block size in, weights out.
type Kernel = (&'static str, fn(&[f32], usize) -> Vec<f32>);

/// `x + c` is exact for every element (multiples of `2^e` below `2^22·2^e`),
/// so `x − max` is bit-identical and so is every weight.
fn shift_invariance(ints: &[i32], e: i32, shift: i32, block: usize) -> Result<(), TestCaseError> {
    let unit = 2f32.powi(e);
    let x: Vec<f32> = ints.iter().map(|m| *m as f32 * unit).collect();
    let y: Vec<f32> = ints.iter().map(|m| (m + shift) as f32 * unit).collect();
    for (a, b) in x.iter().zip(&y) {
        prop_assert_eq!((*b as f64) - (*a as f64), shift as f64 * unit as f64, "shift not exact");
    }
    let kernels: [Kernel; 3] = [
        ("softmax", |v, _| {
            let mut v = v.to_vec();
            softmax(&mut v);
            v
        }),
        ("softmax_reference", |v, _| {
            let mut v = v.to_vec();
            softmax_reference(&mut v);
            v
        }),
        ("online", |v, block| online(v, block).0),
    ];
    for (name, kernel) in kernels {
        let (a, b) = (kernel(&x, block), kernel(&y, block));
        for j in 0..x.len() {
            prop_assert_eq!(a[j].to_bits(), b[j].to_bits(), "{}: weight {} changed under an exact shift", name, j);
        }
    }
    Ok(())
}

/// Three-pass forms: `xᵢ < xⱼ ⇒ wᵢ ≤ wⱼ` and `xᵢ = xⱼ ⇒ wᵢ = wⱼ` exactly
/// (`x − max` is monotone, so this needs only a monotone `exp`, which
/// `tests/exp_exhaustive.rs` checks on every input). The online form rescales
/// earlier blocks once more per later maximum, so two equal scores in
/// different blocks may differ by rounding: there `xᵢ ≤ xⱼ ⇒ wᵢ ≤ wⱼ` up
/// to the two weights' bounds.
fn order_preserving(input: &[f32], block: usize) -> Result<(), TestCaseError> {
    let mut three = input.to_vec();
    softmax(&mut three);
    let mut reference = input.to_vec();
    softmax_reference(&mut reference);
    for weights in [&three, &reference] {
        for i in 0..input.len() {
            for j in 0..input.len() {
                if input[i] < input[j] {
                    prop_assert!(weights[i] <= weights[j], "x[{i}] < x[{j}] but w {} > {}", weights[i], weights[j]);
                } else if input[i] == input[j] {
                    prop_assert_eq!(weights[i].to_bits(), weights[j].to_bits(), "equal inputs {} and {}", i, j);
                }
            }
        }
    }
    let (online_w, blocks) = online(input, block);
    let want = softmax64(input);
    let finite: Vec<f64> = input.iter().filter(|x| x.is_finite()).map(|x| *x as f64).collect();
    let (max, min) = finite.iter().fold((f64::NEG_INFINITY, f64::INFINITY), |(a, b), x| (a.max(*x), b.min(*x)));
    let bound = |j: usize| softmax_weight_bound(want[j], input[j] as f64 - max, max - min, finite.len(), blocks);
    for i in 0..input.len() {
        for j in 0..input.len() {
            if input[i] <= input[j] {
                let slack = bound(i) + bound(j);
                prop_assert!(
                    online_w[i] as f64 <= online_w[j] as f64 + slack,
                    "online: x[{i}] <= x[{j}] but w {} > {} + {slack:e}",
                    online_w[i],
                    online_w[j]
                );
            }
        }
    }
    Ok(())
}

/// Any NaN or `+∞` makes every weight NaN, in every form.
fn poisoned(input: &[f32], at: usize, bad: f32, block: usize) -> Result<(), TestCaseError> {
    let mut x = input.to_vec();
    let at = at % x.len();
    x[at] = bad;
    let mut a = x.clone();
    softmax(&mut a);
    let mut b = x.clone();
    softmax_reference(&mut b);
    let (c, _) = online(&x, block);
    for (name, w) in [("softmax", a), ("softmax_reference", b), ("online", c)] {
        prop_assert!(w.iter().all(|w| w.is_nan()), "{name}: {bad} at {at} did not poison the row: {w:?}");
    }
    Ok(())
}

macro_rules! lengths {
    ($($name:ident: $n:literal),* $(,)?) => {$(
        mod $name {
            use super::*;
            proptest! {
                #![proptest_config(config(REGRESSIONS))]

                #[test]
                fn weights_are_probabilities_close_to_f64(input in row($n)) {
                    probabilities(&input)?;
                }

                #[test]
                fn online_agrees_with_three_pass(input in row($n), block in 1usize..=$n) {
                    online_equals_three_pass(&input, block)?;
                }

                #[test]
                fn exact_shifts_change_nothing(
                    ints in prop::collection::vec(-(1i32 << 21)..=(1 << 21), $n),
                    e in -30i32..=8,
                    shift in -(1i32 << 21)..=(1 << 21),
                    block in 1usize..=$n,
                ) {
                    shift_invariance(&ints, e, shift, block)?;
                }

                #[test]
                fn order_is_preserved(input in row($n), block in 1usize..=$n) {
                    order_preserving(&input, block)?;
                }

                #[test]
                fn nan_and_plus_infinity_poison_the_row(
                    input in row($n),
                    at in 0usize..$n,
                    bad in prop::sample::select(vec![f32::NAN, f32::INFINITY, -f32::NAN]),
                    block in 1usize..=$n,
                ) {
                    poisoned(&input, at, bad, block)?;
                }
            }
        }
    )*};
}

lengths! {
    n1: 1, n2: 2, n3: 3, n7: 7, n8: 8, n15: 15, n16: 16, n17: 17,
    n31: 31, n32: 32, n33: 33, n64: 64, n65: 65, n100: 100,
}
