//! The seed notebook's numpy toy: our f32 attention against numpy's float64.
//!
//! Tolerance 1e-5 absolute, from the bound in `sdpa_oracle` with the inputs'
//! own f32 rounding added: scores within `scale·(D + 4)·u·Σ|q·k| ≈ 2e-6`
//! (Σ|q·k| < 9 here), weights within twice that relatively, outputs within
//! `max|V| · (2Δs + (2·NK + 9)·u) ≈ 1e-5` for `max|V| ≈ 2.3`.

use sdpa::{Matrix, Options, attention, attention_weights};

mod seed_toy {
    include!("data/seed_toy.rs");
}

const TOLERANCE: f64 = 1e-5;

fn to_f32<const R: usize, const C: usize>(m: &[[f64; C]; R]) -> Matrix<R, C> {
    Matrix::from_fn(|r, c| m[r][c] as f32)
}

fn max_diff(ours: &[f32], numpy: &[f64]) -> f64 {
    ours.iter().zip(numpy).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max)
}

#[test]
fn matches_numpy_float64() {
    let (q, k, v) = (to_f32(&seed_toy::Q), to_f32(&seed_toy::K), to_f32(&seed_toy::V));
    let mut out = Matrix::<3, 6>::zeros();
    attention(&q, &k, &v, &mut out, &Options::new());
    let fused = max_diff(out.as_slice(), seed_toy::OUT.as_flattened());

    let mut out_w = Matrix::<3, 6>::zeros();
    let mut weights = Matrix::<3, 5>::zeros();
    attention_weights(&q, &k, &v, &mut out_w, &mut weights, &Options::new());
    let via_weights = max_diff(out_w.as_slice(), seed_toy::OUT.as_flattened());
    let w = max_diff(weights.as_slice(), seed_toy::WEIGHTS.as_flattened());

    println!(
        "seed toy vs numpy ({}): out {fused:.2e}, out via weights {via_weights:.2e}, weights {w:.2e}",
        sdpa::backend()
    );
    assert!(fused <= TOLERANCE, "fused output off by {fused}");
    assert!(via_weights <= TOLERANCE, "weights-path output off by {via_weights}");
    assert!(w <= TOLERANCE, "weights off by {w}");
}
