//! Error bounds the property tests enforce, each derived in its doc comment
//! from the kernels' operation counts. `u = 2⁻²⁴`, `γ(k) = k·u/(1 − k·u)`.
//! First-order terms are summed and then inflated by 1 % ([`SECOND_ORDER`]),
//! which covers every product of two first-order terms while they stay
//! below 1 % (they are below 10⁻³ in every test here).

use super::kernels64::{TINY, U, gamma};
use super::{Case, position, scale, scores64, visible};

/// Inflation of a first-order bound that covers the second-order terms.
pub const SECOND_ORDER: f64 = 1.01;

/// Keys per block in the fused engine (`src/attention/engine.rs`).
pub const BLOCK_KEYS: usize = 32;

/// `|dot − Σ a·b| ≤ γ(n)·Σ|a·b| + n·2⁻¹⁴⁹`: any summation order of `n`
/// products, fused or not, rounds each term at most `n` times (Higham
/// Lemma 3.4); the last term covers underflowing products.
pub fn dot_bound(n: usize, abs_dot: f64) -> f64 {
    gamma(n) * abs_dot + n as f64 * TINY
}

/// The bound `dot`'s rustdoc states for `L` lanes and four accumulators:
/// `γ(n/L + 2·log₂L + 2)·Σ|a·b|`.
pub fn dot_documented_bound(n: usize, lanes: usize, abs_dot: f64) -> f64 {
    let k = n.div_ceil(lanes) + 2 * lanes.trailing_zeros() as usize + 2;
    gamma(k) * abs_dot + n as f64 * TINY
}

/// The bound `dot_rows`' rustdoc states: `γ(d/L + log₂L + 1)·Σ|q·k|`.
pub fn dot_rows_documented_bound(d: usize, lanes: usize, abs_dot: f64) -> f64 {
    let k = d.div_ceil(lanes) + lanes.trailing_zeros() as usize + 1;
    gamma(k) * abs_dot + d as f64 * TINY
}

/// Error of one softmax weight against the exact softmax of the same `f32`
/// inputs, for `n` finite inputs split into `blocks` online blocks
/// (`blocks = 1` for the three-pass form).
///
/// With `t = x − max ≤ 0` and `R` the input range:
/// - `fl(x − m)` is off by `u·|t|`, which moves `e^t` by the relative `u·|t|`
///   (online: the block shift and every later rescale argument are rounded
///   once each, and their exact values telescope to `t`, so the total is
///   still `u·|t|`);
/// - `exp` is within 2 ulp (`4u` relative) per call: one call for the weight
///   and one per later rescale, each rescale also one multiply (`5u` each);
/// - the sum `l` of `n` terms and `blocks − 1` rescales: `γ(n + blocks)`,
///   plus the weighted mean of the terms' own errors, at most
///   `u·Σ e^t·|t| / l ≤ u·min(R, (n − 1)/e)` (as `l ≥ 1` and `x·e^−x ≤ 1/e`);
/// - `1/l` and the final product: `2u`.
///
/// So `|ŵ − w| ≤ w·u·(|t| + min(R, (n−1)/e) + n + 9 + 11·(blocks − 1))`, plus
/// `3·2⁻¹⁴⁹` for weights in the subnormal range.
pub fn softmax_weight_bound(w: f64, t: f64, range: f64, n: usize, blocks: usize) -> f64 {
    if w == 0.0 {
        return 3.0 * TINY;
    }
    let spread = range.min((n.saturating_sub(1)) as f64 / core::f64::consts::E);
    let first = U * (t.abs() + spread + n as f64 + 9.0 + 11.0 * (blocks.max(1) - 1) as f64);
    w * first * SECOND_ORDER + 3.0 * TINY
}

/// `|Σ ŵ − 1| ≤ (n + 1)·u`, i.e. `(n + 1)/2` ulp of 1.0, for the three-pass
/// softmax of `n` finite values: `ŵⱼ = êⱼ·fl(1/l̂)·(1 + δⱼ)` with
/// `l̂ = Σ êⱼ·(1 + θ)`, `|θ| ≤ γ(n − 1)`; so `Σ ŵ = (1 + δ̄)(1 + δ)/(1 + θ)`.
/// The exp errors cancel: the weights are normalised by the sum of the very
/// values computed.
pub fn softmax_sum_bound(n: usize) -> f64 {
    (n as f64 + 1.0) * U * SECOND_ORDER + n as f64 * 3.0 * TINY
}

/// What the bounds on one attention output row are made of.
pub struct RowBounds {
    /// Keys the row may see.
    pub n: usize,
    /// Online blocks the fused engine folds (`⌈n/32⌉` at most, plus one for
    /// a range that does not start on a block boundary).
    pub blocks: usize,
    /// `Δ = maxⱼ |ŝⱼ − sⱼ|`, the score error bound.
    pub delta: f64,
    /// Range of the visible scores, widened by `2Δ` (the computed range).
    pub range: f64,
    /// Per column: min and max of the visible values, and max |v|.
    pub vmin: Vec<f64>,
    pub vmax: Vec<f64>,
    pub vabs: Vec<f64>,
}

/// The score error of row `i`, key `j`:
/// `|ŝ − s| ≤ γ(D + 3)·|scale|·Σ|q·k| + 3u·(|ALiBi| + |bias|)`:
/// the dot product (`γ(D)`), the scale (`u`), the ALiBi product and
/// subtraction and the bias addition (`u` each, on `|s| + |ALiBi| + |bias|`).
pub fn score_error(case: &Case, i: usize, j: usize) -> f64 {
    let q = &case.q[i * case.d..(i + 1) * case.d];
    let k = &case.k[j * case.d..(j + 1) * case.d];
    let abs_dot: f64 = q.iter().zip(k).map(|(a, b)| (*a as f64 * *b as f64).abs()).sum();
    let mut extra = 0.0;
    if let Some(slope) = case.settings.alibi_slope {
        extra += (slope as f64 * (position(case, i) - j as i64).abs() as f64).abs();
    }
    if let Some(b) = &case.bias {
        extra += (b[i * case.nk + j] as f64).abs();
    }
    gamma(case.d + 3) * scale(case).abs() * abs_dot + 3.0 * U * extra
}

/// Everything the row's bounds need.
pub fn row_bounds(case: &Case, i: usize) -> RowBounds {
    let scores = scores64(case, i);
    let visible_keys: Vec<usize> = (0..case.nk).filter(|&j| visible(case, i, j)).collect();
    let n = visible_keys.len();
    let delta = visible_keys.iter().map(|&j| score_error(case, i, j)).fold(0.0, f64::max);
    let (lo, hi) =
        scores.iter().flatten().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| (lo.min(*s), hi.max(*s)));
    let range = if n == 0 { 0.0 } else { hi - lo + 2.0 * delta };
    let first = visible_keys.first().copied().unwrap_or(0);
    let last = visible_keys.last().copied().unwrap_or(0);
    let blocks = if n == 0 { 0 } else { (last - first + 1).div_ceil(BLOCK_KEYS) + 1 };
    let mut vmin = vec![f64::INFINITY; case.dv];
    let mut vmax = vec![f64::NEG_INFINITY; case.dv];
    let mut vabs = vec![0.0f64; case.dv];
    for &j in &visible_keys {
        for c in 0..case.dv {
            let x = case.v[j * case.dv + c] as f64;
            vmin[c] = vmin[c].min(x);
            vmax[c] = vmax[c].max(x);
            vabs[c] = vabs[c].max(x.abs());
        }
    }
    RowBounds { n, blocks, delta, range, vmin, vmax, vabs }
}

impl RowBounds {
    /// Relative error the softmax and the weighted sum add on top of the
    /// score errors: twice the weight bound's spread term (once in each
    /// weight, once in the sum `l`), `γ(n + blocks)` for `l`, `γ(n + 1 + blocks)`
    /// for the accumulator (one multiply-add per key and one multiply per
    /// rescale, fused or not), `4u + 5u` per exp call and rescale, `2u` for the
    /// normalisation: `u·(2·min(R, (n−1)/e) + 2n + 12 + 11·blocks)`.
    pub fn kernel_relative(&self) -> f64 {
        let spread = self.range.min(self.n.saturating_sub(1) as f64 / core::f64::consts::E);
        U * (2.0 * spread + 2.0 * self.n as f64 + 12.0 + 11.0 * self.blocks as f64) * SECOND_ORDER
    }

    /// Underflow: each weight may be off by `3·2⁻¹⁴⁹` absolute.
    pub fn absolute(&self, c: usize) -> f64 {
        (3.0 * self.n as f64 + 1.0) * TINY * self.vabs[c].max(1.0)
    }

    /// `|out[c] − f64 reference| ≤ max|v|·((e^{2Δ} − 1) + e^{2Δ}·K)`:
    /// score errors `|δⱼ| ≤ Δ` change each exact weight by the factor
    /// `e^{δⱼ − δ̄}` with `δ̄` a weighted mean of the `δ`, so by at most
    /// `e^{2Δ} − 1` relative; `K` ([`Self::kernel_relative`]) is the rest.
    /// As a function of `D` and of the score range, with `|q|, |k| ≤ a`:
    /// `Δ ≤ γ(D + 3)·|scale|·D·a² + 3u·max(|ALiBi| + |bias|)` and
    /// `R ≤ 2·|scale|·D·a² + 2Δ + range of ALiBi + bias`.
    pub fn oracle(&self, c: usize) -> f64 {
        let grow = (2.0 * self.delta).exp();
        self.vabs[c] * ((grow - 1.0) + grow * self.kernel_relative()) + self.absolute(c)
    }

    /// The output is a convex combination of the visible values up to
    /// `τ = max|v|·u·(2n + 12 + 11·blocks)`: rounding in the scores and
    /// the exponent arguments moves the weights but keeps them a
    /// non-negative family normalised by their own sum; only the sum's and
    /// the accumulator's roundings (`γ(n + blocks)`, `γ(n + 1 + blocks)`),
    /// the rescales and the normalisation move the output outside.
    pub fn convex(&self, c: usize) -> f64 {
        let rel = U * (2.0 * self.n as f64 + 12.0 + 11.0 * self.blocks as f64) * SECOND_ORDER;
        self.vabs[c] * rel + self.absolute(c)
    }

    /// Two evaluations from the *same* rounded scores (a key permutation:
    /// `dot_rows` rounds each row identically wherever it sits) differ by at
    /// most twice the kernel part of [`Self::oracle`], with the range term
    /// taken on the computed scores.
    pub fn same_scores(&self, c: usize) -> f64 {
        2.0 * (self.vabs[c] * self.kernel_relative() + self.absolute(c))
    }
}
