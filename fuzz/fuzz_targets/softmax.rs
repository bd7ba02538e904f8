//! The exact three-pass `softmax`, its `softmax_reference`, and
//! `OnlineSoftmax` fed in arbitrary blocks (weights alone, and fused with an
//! accumulator of value rows), against f64 and the non-finite rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdpa::kernels::{OnlineSoftmax, softmax, softmax_reference};
use sdpa_fuzz::input::Input;
use sdpa_oracle::bounds::log_weight_tolerance;
use sdpa_oracle::{Softmax64, U, same};

fuzz_target!(init: sdpa_fuzz::announce("softmax"), |data: &[u8]| {
    let mut inp = Input::new(data);
    let mut xs = vec![0.0; usize::from(inp.byte())];
    inp.fill(&mut xs);
    let mut blocks = Vec::new();
    let mut left = xs.len();
    while left > 0 {
        let size = if blocks.len() < 64 { inp.below(41).min(left) } else { left };
        blocks.push(size);
        left -= size;
    }
    let dv = inp.below(20);
    let mut values = vec![0.0; xs.len() * dv];
    inp.fill(&mut values);

    let want = Expected::new(&xs);
    let mut three = xs.clone();
    softmax(&mut three);
    want.check(&three, 0, "softmax");
    let mut reference = xs.clone();
    softmax_reference(&mut reference);
    want.check(&reference, 0, "softmax_reference");

    let rescales = blocks.iter().filter(|&&b| b > 0).count();
    let (state, online) = online_weights(&xs, &blocks);
    want.check(&online, rescales, "OnlineSoftmax::update");
    want.check_state(&state);
    if dv > 0 {
        let (state_acc, acc) = online_accumulate(&xs, &blocks, &values, dv);
        assert!(same(state.max(), state_acc.max()) && same(state.sum(), state_acc.sum()), "accumulate != update");
        want.check_values(&acc, &values, dv, rescales);
    }
});

/// What the f64 reference says about one score vector.
struct Expected {
    scores: Vec<f32>,
    /// Some NaN or `+∞`: every weight is NaN.
    poisoned: bool,
    /// Empty, or every score `−∞`: every weight is `+0`.
    empty: bool,
    weights: Vec<f64>,
    log_weights: Vec<f64>,
    gaps: Vec<f64>,
}

impl Expected {
    fn new(xs: &[f32]) -> Self {
        let poisoned = xs.iter().any(|x| x.is_nan() || *x == f32::INFINITY);
        let empty = xs.iter().all(|x| *x == f32::NEG_INFINITY);
        let scores64: Vec<f64> = xs.iter().map(|x| f64::from(*x)).collect();
        let Softmax64 { weights, gaps, log_weights } = Softmax64::of(&scores64);
        Self { scores: xs.to_vec(), poisoned, empty, weights, log_weights, gaps }
    }

    /// Weight `i` may be off by a factor `e^{u·gap}` (the rounding of
    /// `x − max`; the online form splits it over its rescales) and by
    /// `(n + 16 + 10·rescales)·u` relative: [`log_weight_tolerance`] with
    /// exact scores.
    fn tolerance(&self, i: usize, rescales: usize) -> f64 {
        log_weight_tolerance(self.log_weights[i], self.gaps[i], 0.0, self.scores.len(), rescales)
    }

    fn check(&self, got: &[f32], rescales: usize, what: &str) {
        if self.poisoned {
            assert!(got.iter().all(|x| x.is_nan()), "{what}: NaN or +inf makes every weight NaN: {got:?}");
        } else if self.empty {
            assert!(got.iter().all(|x| x.to_bits() == 0), "{what}: all -inf gives +0 weights: {got:?}");
        } else {
            for (i, (&w, &x)) in got.iter().zip(&self.scores).enumerate() {
                if x == f32::NEG_INFINITY {
                    assert_eq!(w.to_bits(), 0, "{what}: a -inf score weighs exactly +0, weight {i} is {w:e}");
                    continue;
                }
                let (want, tol) = (self.weights[i], self.tolerance(i, rescales));
                let err = (f64::from(w) - want).abs();
                assert!(err <= tol, "{what}: weight {i} = {w:e} vs f64 {want:e}: error {err:e} > {tol:e}");
            }
        }
    }

    fn check_state(&self, state: &OnlineSoftmax) {
        let max = self.scores.iter().copied().filter(|x| !x.is_nan()).fold(f32::NEG_INFINITY, f32::max);
        assert_eq!(state.max(), max, "OnlineSoftmax::max must be the largest non-NaN score");
        if self.empty {
            assert_eq!(state.sum(), 0.0, "nothing but -inf: the sum stays 0");
        } else if !self.poisoned {
            let n = self.scores.len() as f32;
            assert!(state.sum() >= 1.0 && state.sum() <= n * 1.001, "sum {} of {n} weights", state.sum());
        }
    }

    /// The accumulated, normalised `Σ wᵢ·vᵢ` of [`OnlineSoftmax::accumulate`].
    fn check_values(&self, acc: &[f32], values: &[f32], dv: usize, rescales: usize) {
        if self.poisoned {
            assert!(acc.iter().all(|x| x.is_nan()), "accumulate: NaN or +inf scores make the result NaN: {acc:?}");
            return;
        }
        if self.empty {
            assert!(acc.iter().all(|x| x.to_bits() == 0), "accumulate: all -inf finishes to +0: {acc:?}");
            return;
        }
        let vmax = values.iter().fold(0.0f64, |m, x| m.max(f64::from(*x).abs()));
        let n = self.scores.len();
        if !values.iter().all(|x| x.is_finite()) || vmax * n as f64 > f64::from(f32::MAX) / 4.0 {
            return;
        }
        for (c, &got) in acc.iter().enumerate() {
            let mut want = 0.0;
            let mut err_bound = 0.0;
            for i in 0..n {
                let v = f64::from(values[i * dv + c]);
                want += self.weights[i] * v;
                err_bound += self.tolerance(i, rescales) * v.abs();
            }
            // The weighted sum adds n roundings of at most u·Σ|wᵢvᵢ| each.
            let tol = err_bound + (n as f64 + 2.0) * U * vmax + 1e-30;
            let err = (f64::from(got) - want).abs();
            assert!(err <= tol, "accumulate col {c}: {got:e} vs f64 {want:e}: error {err:e} > {tol:e}");
        }
    }
}

/// Weights through `update` alone, rescaling what came before by hand.
fn online_weights(xs: &[f32], blocks: &[usize]) -> (OnlineSoftmax, Vec<f32>) {
    let mut state = OnlineSoftmax::new();
    let mut out = xs.to_vec();
    let mut done = 0;
    for &size in blocks {
        let before = state.max();
        let (old, rest) = out.split_at_mut(done);
        let rescale = state.update(&mut rest[..size]);
        if state.max() == before {
            assert_eq!(rescale, 1.0, "an unchanged maximum must rescale by exactly 1");
        }
        if before == f32::NEG_INFINITY && state.max() != before {
            assert_eq!(rescale, 0.0, "nothing accumulated before the first finite maximum");
        }
        old.iter_mut().for_each(|w| *w *= rescale);
        done += size;
    }
    state.finish(&mut out);
    (state, out)
}

/// The same through the fused `accumulate`, with value rows of width `dv`.
fn online_accumulate(xs: &[f32], blocks: &[usize], values: &[f32], dv: usize) -> (OnlineSoftmax, Vec<f32>) {
    let mut state = OnlineSoftmax::new();
    let mut scores = xs.to_vec();
    let mut acc = vec![0.0; dv];
    let mut done = 0;
    for &size in blocks {
        let rows = &values[done * dv..(done + size) * dv];
        state.accumulate(&mut scores[done..done + size], rows, &mut acc);
        done += size;
    }
    state.finish(&mut acc);
    (state, acc)
}
