//! Error bounds, each derived in its doc comment from the kernels' operation
//! counts. `u = 2⁻²⁴`, `γ(k) = k·u/(1 − k·u)`.
//!
//! Three families, kept apart because they are different statements (none
//! is uniformly tighter than another; see the crate docs):
//!
//! - the per-column bounds of [`RowBounds`] and the kernel bounds
//!   ([`dot_bound`], [`softmax_weight_bound`], …), which the integration
//!   tests enforce: first-order terms summed and then inflated by 1 %
//!   ([`SECOND_ORDER`]), which covers every product of two first-order
//!   terms while they stay below 1 % (they are below 10⁻³ in every test);
//! - the per-row [`Problem::first_order_tolerance`] of `tests/attention_vs_f64.rs`;
//! - the bounds of the fuzz targets, which also hold for inputs far from
//!   1 (in the log domain, with `expm1`): [`crate::RowRef::tolerance`],
//!   [`log_weight_tolerance`], [`dot_depth_bound`] and [`projection_bound`].

use crate::float::{TINY, U, gamma};
use crate::kernels::abs_dot64;
use crate::problem::Problem;

/// Inflation of a first-order bound that covers the second-order terms.
pub const SECOND_ORDER: f64 = 1.01;

/// Keys per online block that [`RowBounds::blocks`] assumes: a copy of
/// `BLOCK_KEYS` in `src/attention/engine.rs` (the per-row engine).
///
/// Only a block whose maximum is a new running maximum adds rounding (a
/// rescale by exactly 1 is exact), so the rescales of a row are at most
/// both its number of blocks and the number of times its running maximum
/// can grow. The second count needs no engine constant but is larger on
/// rows whose scores rise with the key index (ALiBi, causal rows), so
/// using it alone would loosen the bounds; this constant stays until the
/// engine exports its block size. The tiled engine folds tiles of 8 or 16
/// keys (`TILE_KEYS` in `src/attention/tiled.rs`), so there the count is an
/// assumption the bounds' slack covers rather than a derived fact.
pub const ASSUMED_BLOCK_KEYS: usize = 32;

/// `|dot − Σ a·b| ≤ γ(n)·Σ|a·b| + n·2⁻¹⁴⁹`: any summation order of `n`
/// products, fused or not, rounds each term at most `n` times (Higham
/// Lemma 3.4); the last term covers underflowing products.
pub fn dot_bound(n: usize, abs_dot: f64) -> f64 {
    gamma(n) * abs_dot + n as f64 * TINY
}

/// The bound `dot`'s rustdoc states for `L` lanes and four accumulators:
/// `γ(⌈n/L⌉ + 2·log₂L + 2)·Σ|a·b|`.
pub fn dot_documented_bound(n: usize, lanes: usize, abs_dot: f64) -> f64 {
    let k = n.div_ceil(lanes) + 2 * lanes.trailing_zeros() as usize + 2;
    gamma(k) * abs_dot + n as f64 * TINY
}

/// The bound `dot_rows`' rustdoc states: `γ(⌈d/L⌉ + log₂L + 1)·Σ|q·k|`.
pub fn dot_rows_documented_bound(d: usize, lanes: usize, abs_dot: f64) -> f64 {
    let k = d.div_ceil(lanes) + lanes.trailing_zeros() as usize + 1;
    gamma(k) * abs_dot + d as f64 * TINY
}

/// The fuzz target `dot`'s form of a documented dot bound with depth
/// `depth` (`n/L + 2·log₂L + 2` for `dot`, `n + 1` for `dot_reference`,
/// `d/L + log₂L + 1` for `dot_rows`, `L` the lanes): `depth·u·Σ|a·b|`,
/// inflated by `10⁻⁶` for the second order, plus `2·(n + 8)·2⁻¹⁴⁹` for
/// gradual underflow. Unlike [`dot_documented_bound`] it takes the depth
/// unrounded (`n/L`, not `⌈n/L⌉`) and first-order (not `γ`), and allows more
/// underflow; `abs_dot` is [`crate::finite_abs_dot64`].
pub fn dot_depth_bound(depth: f64, n: usize, abs_dot: f64) -> f64 {
    depth * U * abs_dot * (1.0 + 1e-6) + 2.0 * (n as f64 + 8.0) * 2f64.powi(-149)
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

/// The fuzz targets' bound on one f32 softmax weight, from its f64
/// `ln w` (`log_weight`), its gap `max − s` and a bound `score_error` on
/// the error of every score, with `n` scores folded in `rescales` online
/// rescales (0 for the three-pass form):
///
/// the weight `e^{s−m}/Σ` is off by a factor `e^{2Δs + u·(gap + 2Δs)}`
/// (score errors, then the rounding of `s − m`; the online form splits it
/// over its rescales) and by `(n + 16 + 10·rescales)·u` relative (exp ≤ 2
/// ulp on the weight and on every summand, the blocked sum, the reciprocal
/// and the product, and per rescale one more exp and one more product),
/// plus `2⁻¹⁴⁷` absolute where results are subnormal; capped at 1, as
/// weights lie in `[0, 1]`. The product `w·rel` is formed in the log domain:
/// a weight that underflows f64 may still be large in f32 when the score
/// error is large.
pub fn log_weight_tolerance(log_weight: f64, gap: f64, score_error: f64, n: usize, rescales: usize) -> f64 {
    let rel =
        (2.0 * score_error + U * (gap + 2.0 * score_error)).exp_m1() + (n as f64 + 16.0 + 10.0 * rescales as f64) * U;
    (log_weight + rel.ln()).exp().min(1.0) + 2f64.powi(-147)
}

/// The fuzz target `layer_decode`'s bound on `|a − b|` for two f32
/// evaluations of one output of a linear layer `Σₖ wₖ·xₖ + bias` whose
/// inputs `xₖ` each come from an attention within `tolerance[k]` of the same
/// f64 value and are at most `magnitude[k]` in size: `Σ|wₖ|·2·tolerance[k]`
/// (the inputs may differ by both tolerances) plus each evaluation's own
/// rounding, `γ(n + 2)·(Σ|wₖ|·magnitude[k] + |bias|)`, twice; plus `10⁻³⁰`.
pub fn projection_bound(weights: &[f32], tolerance: &[f64], magnitude: &[f64], bias: f64) -> f64 {
    let spread: f64 = weights.iter().zip(tolerance).map(|(w, t)| w.abs() as f64 * 2.0 * t).sum();
    let size: f64 = weights.iter().zip(magnitude).map(|(w, m)| w.abs() as f64 * m).sum::<f64>() + bias;
    spread + 2.0 * gamma(weights.len() + 2) * size + 1e-30
}

/// What the bounds on one attention output row are made of.
#[derive(Clone, Debug)]
pub struct RowBounds {
    /// Keys the row may see.
    pub n: usize,
    /// Online blocks the fused engine folds (`⌈span/32⌉` at most, plus one
    /// for a span that does not start on a block boundary; see
    /// [`ASSUMED_BLOCK_KEYS`]).
    pub blocks: usize,
    /// `Δ = maxⱼ |ŝⱼ − sⱼ|`, the score error bound ([`Problem::score_error`]).
    pub delta: f64,
    /// Range of the visible scores, widened by `2Δ` (the computed range).
    pub range: f64,
    /// Per column: the smallest visible value.
    pub vmin: Vec<f64>,
    /// Per column: the largest visible value.
    pub vmax: Vec<f64>,
    /// Per column: the largest visible `|v|`.
    pub vabs: Vec<f64>,
}

impl Problem<'_> {
    /// The score error of row `i`, key `j`:
    /// `|ŝ − s| ≤ γ(D + 3)·|scale|·Σ|q·k| + 3u·(|ALiBi| + |bias|)`:
    /// the dot product (`γ(D)`), the scale (`u`), the ALiBi product and
    /// subtraction and the bias addition (`u` each, on `|s| + |ALiBi| + |bias|`).
    pub fn score_error(&self, i: usize, j: usize) -> f64 {
        let abs_dot = abs_dot64(self.q_row(i), self.k_row(j));
        gamma(self.d + 3) * (self.scale() as f64).abs() * abs_dot + 3.0 * U * self.additive_magnitude(i, j)
    }

    /// Everything row `i`'s bounds need.
    pub fn row_bounds(&self, i: usize) -> RowBounds {
        let scores = self.scores64(i);
        let visible_keys: Vec<usize> = (0..self.nk).filter(|&j| self.visible(i, j)).collect();
        let n = visible_keys.len();
        let delta = visible_keys.iter().map(|&j| self.score_error(i, j)).fold(0.0, f64::max);
        let (lo, hi) =
            scores.iter().flatten().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| (lo.min(*s), hi.max(*s)));
        let range = if n == 0 { 0.0 } else { hi - lo + 2.0 * delta };
        let first = visible_keys.first().copied().unwrap_or(0);
        let last = visible_keys.last().copied().unwrap_or(0);
        let blocks = if n == 0 { 0 } else { (last - first + 1).div_ceil(ASSUMED_BLOCK_KEYS) + 1 };
        let values = self.visible_values(i);
        RowBounds { n, blocks, delta, range, vmin: values.lo, vmax: values.hi, vabs: values.abs }
    }

    /// A first-order score error of row `i`, key `j`, with `ops` roundings
    /// besides the dot product's `D`:
    /// `Δs = |scale|·(D + ops)·u·Σ|q·k| + 4u·(|ALiBi| + |bias|)`.
    pub fn first_order_score_error(&self, i: usize, j: usize, ops: f64) -> f64 {
        let abs_dot = abs_dot64(self.q_row(i), self.k_row(j));
        (self.scale() as f64).abs() * (self.d as f64 + ops) * U * abs_dot + 4.0 * U * self.additive_magnitude(i, j)
    }

    /// The largest [`Self::first_order_score_error`] over row `i`'s visible keys.
    pub fn first_order_row_error(&self, i: usize, ops: f64) -> f64 {
        (0..self.nk)
            .filter(|&j| self.visible(i, j))
            .map(|j| self.first_order_score_error(i, j, ops))
            .fold(0.0, f64::max)
    }

    /// Tolerance for output row `i` (`tests/attention_vs_f64.rs`), derived
    /// from the error sources:
    ///
    /// - each score is off by at most `Δs = |scale|·(D + 2)·u·maxⱼ Σ|q·k|`
    ///   (dot product, `u = 2⁻²⁴`) plus `4u·|bias + ALiBi|` (the additions);
    /// - a weight `wⱼ = e^{sⱼ−m}/Σ` then carries relative error `2Δs` plus
    ///   `(NK + 8)·u` from exp (≤ 2 ulp), the running sum and the rescales;
    /// - the weighted sum of values adds `NK·u·Σ wⱼ|vⱼ|`.
    ///
    /// So `|out − ref| ≤ max|v| · (2Δs + (2·NK + 8)·u)`, `max|v|` over every
    /// value, plus `1e-30` so an exact zero row compares. First order: for
    /// small `Δs` only (the fuzz form, [`crate::RowRef::tolerance`], holds
    /// for any).
    pub fn first_order_tolerance(&self, i: usize) -> f64 {
        let ds = self.first_order_row_error(i, 2.0);
        let vmax = self.v.iter().fold(0.0f64, |m, x| m.max((*x as f64).abs()));
        vmax * (2.0 * ds + (2.0 * self.nk as f64 + 8.0) * U) + 1e-30
    }
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
