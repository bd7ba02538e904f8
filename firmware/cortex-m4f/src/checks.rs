//! The two correctness checks against values computed on the host in float64,
//! independently of the crate: the seed notebook's toy (numpy, through
//! `scripts/seed_values.py`) and a causal self-attention (plain Python floats,
//! through `firmware/scripts/expected_values.py`).

use crate::expected;
use crate::inputs::to_f32;
use sdpa::runtime::{self, Shape};
use sdpa::{Matrix, Options, attention, attention_weights};

mod seed_toy {
    include!("../../../tests/data/seed_toy.rs");
}

/// Tolerance for the seed toy, the host test's (tests/seed_toy.rs explains it).
pub const SEED_TOLERANCE: f64 = 1e-5;

static SEED_Q: Matrix<3, 4> = to_f32(&seed_toy::Q);
static SEED_K: Matrix<5, 4> = to_f32(&seed_toy::K);
static SEED_V: Matrix<5, 6> = to_f32(&seed_toy::V);

// The causal case's inputs, exactly the f32 values the generator used.
static CAUSAL_Q: Matrix<32, 16> = Matrix::from_rows(expected::Q);
static CAUSAL_K: Matrix<32, 16> = Matrix::from_rows(expected::K);
static CAUSAL_V: Matrix<32, 16> = Matrix::from_rows(expected::V);

/// Largest `|ours − numpy|` of the seed toy: fused output, output through
/// the weights path, and the weights.
pub struct SeedToy {
    pub out: f64,
    pub out_via_weights: f64,
    pub weights: f64,
}

impl SeedToy {
    pub fn passed(&self) -> bool {
        self.out <= SEED_TOLERANCE && self.out_via_weights <= SEED_TOLERANCE && self.weights <= SEED_TOLERANCE
    }
}

pub fn seed_toy() -> SeedToy {
    let mut out = Matrix::<3, 6>::zeros();
    attention(&SEED_Q, &SEED_K, &SEED_V, &mut out, &Options::new());
    let mut out_w = Matrix::<3, 6>::zeros();
    let mut weights = Matrix::<3, 5>::zeros();
    attention_weights(&SEED_Q, &SEED_K, &SEED_V, &mut out_w, &mut weights, &Options::new());
    SeedToy {
        out: max_diff(out.as_slice(), seed_toy::OUT.as_flattened()),
        out_via_weights: max_diff(out_w.as_slice(), seed_toy::OUT.as_flattened()),
        weights: max_diff(weights.as_slice(), seed_toy::WEIGHTS.as_flattened()),
    }
}

/// The causal case: largest error, and the largest error relative to its
/// row's bound (`≤ 1` passes), for the const-generic and the runtime API.
pub struct Causal {
    pub max_error: f64,
    pub worst_fraction_of_bound: f64,
    pub runtime_matches: bool,
}

impl Causal {
    pub fn passed(&self) -> bool {
        self.worst_fraction_of_bound <= 1.0 && self.runtime_matches
    }
}

pub fn causal() -> Causal {
    let mut out = Matrix::<32, 16>::zeros();
    attention(&CAUSAL_Q, &CAUSAL_K, &CAUSAL_V, &mut out, &Options::new().causal());
    let (mut max_error, mut worst) = (0.0f64, 0.0f64);
    for ((ours, numpy), tol) in out.rows().iter().zip(&expected::OUT).zip(&expected::TOL) {
        let e = max_diff(ours, numpy);
        max_error = max_error.max(e);
        worst = worst.max(e / tol);
    }
    // NaN anywhere must fail, and `max` would skip it.
    if out.as_slice().iter().any(|x| !x.is_finite()) {
        worst = f64::INFINITY;
    }
    let shape = Shape { queries: 32, keys: 32, head_dim: 16, value_dim: 16 };
    let mut flat = [0.0f32; 32 * 16];
    let opts = runtime::RuntimeOptions::new().causal();
    let ran =
        runtime::attention(shape, CAUSAL_Q.as_slice(), CAUSAL_K.as_slice(), CAUSAL_V.as_slice(), &mut flat, &opts);
    Causal { max_error, worst_fraction_of_bound: worst, runtime_matches: ran.is_ok() && flat == *out.as_slice() }
}

fn max_diff(ours: &[f32], numpy: &[f64]) -> f64 {
    let diff = |(a, b): (&f32, &f64)| {
        let d = (f64::from(*a) - b).abs();
        if d.is_nan() { f64::INFINITY } else { d }
    };
    ours.iter().zip(numpy).map(diff).fold(0.0, f64::max)
}
