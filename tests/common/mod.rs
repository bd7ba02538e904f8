//! Test support shared by the integration tests: a seeded generator and the
//! f64 reference (oracle) for attention with every option.
#![allow(dead_code)] // each test binary uses its own subset

pub mod bounds;
pub mod kernels64;
pub mod problem;
pub mod prop;

use sdpa::{Alignment, Settings};

/// SplitMix64: small, seeded, reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * unit
    }

    pub fn bool(&mut self, p_true: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p_true
    }

    pub fn fill(&mut self, xs: &mut [f32], lo: f32, hi: f32) {
        for x in xs {
            *x = self.uniform(lo, hi);
        }
    }
}

/// The inputs of one attention problem, flat and row-major.
#[derive(Clone, Debug)]
pub struct Case {
    pub nq: usize,
    pub nk: usize,
    pub d: usize,
    pub dv: usize,
    pub q: Vec<f32>,
    pub k: Vec<f32>,
    pub v: Vec<f32>,
    pub settings: Settings,
    /// Full `nq × nk` boolean mask, `true` = attend.
    pub mask: Option<Vec<bool>>,
    /// Full `nq × nk` additive mask.
    pub bias: Option<Vec<f32>>,
}

/// Key-axis position of query `i`.
pub fn position(case: &Case, i: usize) -> i64 {
    match case.settings.alignment {
        Alignment::TopLeft => i as i64,
        Alignment::BottomRight => i as i64 + case.nk as i64 - case.nq as i64,
    }
}

/// Whether query `i` may attend key `j` under every masking rule.
pub fn visible(case: &Case, i: usize, j: usize) -> bool {
    let p = position(case, i);
    let j64 = j as i64;
    let s = &case.settings;
    let causal_ok = !s.causal || j64 <= p;
    let window_ok = s.window.is_none_or(|w| j64 >= p - w.left as i64 && j64 <= p + w.right as i64);
    let mask_ok = case.mask.as_ref().is_none_or(|m| m[i * case.nk + j]);
    let bias_ok = case.bias.as_ref().is_none_or(|b| b[i * case.nk + j] != f32::NEG_INFINITY);
    causal_ok && window_ok && mask_ok && bias_ok
}

/// Scale the settings ask for, computed as the crate documents (`1/√D` in f32).
pub fn scale(case: &Case) -> f64 {
    case.settings.scale.unwrap_or(1.0 / (case.d as f32).sqrt()) as f64
}

/// The f64 scores of row `i` (`None` for keys the row may not see).
pub fn scores64(case: &Case, i: usize) -> Vec<Option<f64>> {
    let scale = scale(case);
    let q = &case.q[i * case.d..(i + 1) * case.d];
    (0..case.nk)
        .map(|j| {
            if !visible(case, i, j) {
                return None;
            }
            let k = &case.k[j * case.d..(j + 1) * case.d];
            let dot: f64 = q.iter().zip(k).map(|(a, b)| *a as f64 * *b as f64).sum();
            let mut s = dot * scale;
            if let Some(slope) = case.settings.alibi_slope {
                s -= slope as f64 * (position(case, i) - j as i64).abs() as f64;
            }
            if let Some(b) = &case.bias {
                s += b[i * case.nk + j] as f64;
            }
            Some(s)
        })
        .collect()
}

/// f64 softmax weights of row `i`; all zeros when nothing is visible.
pub fn weights64(case: &Case, i: usize) -> Vec<f64> {
    let scores = scores64(case, i);
    let max = scores.iter().flatten().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return vec![0.0; case.nk];
    }
    let e: Vec<f64> = scores.iter().map(|s| s.map_or(0.0, |s| (s - max).exp())).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|x| x / sum).collect()
}

/// f64 reference output, `nq × dv`.
pub fn attention64(case: &Case) -> Vec<f64> {
    let mut out = vec![0.0; case.nq * case.dv];
    for i in 0..case.nq {
        let w = weights64(case, i);
        for (j, wj) in w.iter().enumerate() {
            if *wj == 0.0 {
                continue;
            }
            for c in 0..case.dv {
                out[i * case.dv + c] += wj * case.v[j * case.dv + c] as f64;
            }
        }
    }
    out
}

/// Tolerance for output row `i`, derived from the error sources:
///
/// - each score is off by at most `Δs = |scale|·(D + 2)·u·maxⱼ Σ|q·k|`
///   (dot product, `u = 2⁻²⁴`) plus `4u·|bias + ALiBi|` (the additions);
/// - a weight `wⱼ = e^{sⱼ−m}/Σ` then carries relative error `2Δs` plus
///   `(NK + 8)·u` from exp (≤ 2 ulp), the running sum and the rescales;
/// - the weighted sum of values adds `NK·u·Σ wⱼ|vⱼ|`.
///
/// So `|out − ref| ≤ max|v| · (2Δs + (2·NK + 8)·u)`, plus `1e-30` so an exact
/// zero row compares.
pub fn tolerance(case: &Case, i: usize) -> f64 {
    let u = f32::EPSILON as f64 / 2.0;
    let scale = scale(case).abs();
    let q = &case.q[i * case.d..(i + 1) * case.d];
    let mut ds: f64 = 0.0;
    for j in 0..case.nk {
        if !visible(case, i, j) {
            continue;
        }
        let k = &case.k[j * case.d..(j + 1) * case.d];
        let abs_dot: f64 = q.iter().zip(k).map(|(a, b)| (*a as f64 * *b as f64).abs()).sum();
        let mut extra = 0.0;
        if let Some(slope) = case.settings.alibi_slope {
            extra += (slope as f64 * (position(case, i) - j as i64).abs() as f64).abs();
        }
        if let Some(b) = &case.bias {
            extra += (b[i * case.nk + j] as f64).abs();
        }
        ds = ds.max(scale * (case.d as f64 + 2.0) * u * abs_dot + 4.0 * u * extra);
    }
    let vmax = case.v.iter().fold(0.0f64, |m, x| m.max((*x as f64).abs()));
    vmax * (2.0 * ds + (2.0 * case.nk as f64 + 8.0) * u) + 1e-30
}
