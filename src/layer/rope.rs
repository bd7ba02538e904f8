//! Rotary position embedding (RoPE, Su et al. 2021): rotates pairs of a
//! query or key head by angles proportional to the token's position, so
//! `q(m)·k(n)` depends on `m − n` only.

/// Which components of a head form the rotated pairs.
///
/// ```
/// use sdpa::layer::Rope;
/// // Head dimension 4 at position 1: pair 0 turns by 1 rad, pair 1 by 1/100 rad.
/// // Interleaved pairs (x0, x1): the 1 in x0 turns towards x1.
/// let mut x = [1.0, 0.0, 0.0, 0.0];
/// Rope::interleaved().rotate(1, &mut x);
/// assert!((x[0] - 1f32.cos()).abs() < 1e-7 && (x[1] - 1f32.sin()).abs() < 1e-7 && x[2] == 0.0);
/// // Half-split pairs (x0, x2): the same 1 turns towards x2 instead.
/// let mut x = [1.0, 0.0, 0.0, 0.0];
/// Rope::half_split().rotate(1, &mut x);
/// assert!((x[0] - 1f32.cos()).abs() < 1e-7 && (x[2] - 1f32.sin()).abs() < 1e-7 && x[1] == 0.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RopeLayout {
    /// Pairs `(2i, 2i + 1)`: the paper, Meta's llama code, llama2.c, ggml's default mode.
    Interleaved,
    /// Pairs `(i, i + HD/2)`: Hugging Face llama/Mistral/Qwen (`rotate_half`), GPT-NeoX.
    HalfSplit,
}

/// RoPE settings: pair layout and base `θ`. Pair `i` of a head of dimension
/// `HD` at position `p` turns by `p·θ^(−2i/HD)`:
/// `(a, b) → (a·cos − b·sin, a·sin + b·cos)`.
///
/// Angles are computed in `f32` as `p · θ^(−2i/HD)` then `cos`/`sin` (libm),
/// the order Hugging Face and llama2.c use. With an odd `HD` the last
/// component is left as it is.
///
/// ```
/// use sdpa::layer::Rope;
/// // The last pair of a head of 4 turns by p·θ^(−1/2): 1/100 rad at p = 1 with θ = 10⁴.
/// let mut x = [0.0, 0.0, 1.0, 0.0];
/// Rope::interleaved().rotate(1, &mut x);
/// assert!((x[3] - 0.01f32.sin()).abs() < 1e-7);
/// let mut y = [0.0, 0.0, 1.0, 0.0];
/// Rope::interleaved().theta(100.0).rotate(1, &mut y); // 1/10 rad
/// assert!((y[3] - 0.1f32.sin()).abs() < 1e-7);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rope {
    /// Which components are paired.
    pub layout: RopeLayout,
    /// Base `θ` of the frequencies (10000 in the paper and llama 1/2).
    pub theta: f32,
}

impl Rope {
    /// The paper's base, `θ = 10000`.
    pub const DEFAULT_THETA: f32 = 10_000.0;

    /// Pairs `(2i, 2i + 1)` (llama2.c), `θ = 10000`.
    ///
    /// ```
    /// use sdpa::layer::Rope;
    /// let mut x = [0.0, 1.0, 0.0, 0.0];
    /// Rope::interleaved().rotate(2, &mut x); // pair (x0, x1) by 2 rad
    /// assert!((x[0] + 2f32.sin()).abs() < 1e-7 && (x[1] - 2f32.cos()).abs() < 1e-7);
    /// ```
    pub const fn interleaved() -> Self {
        Self { layout: RopeLayout::Interleaved, theta: Self::DEFAULT_THETA }
    }

    /// Pairs `(i, i + HD/2)` (Hugging Face llama), `θ = 10000`.
    ///
    /// ```
    /// use sdpa::layer::Rope;
    /// let mut x = [0.0, 0.0, 1.0, 0.0];
    /// Rope::half_split().rotate(2, &mut x); // pair (x0, x2) by 2 rad
    /// assert!((x[0] + 2f32.sin()).abs() < 1e-7 && (x[2] - 2f32.cos()).abs() < 1e-7);
    /// ```
    pub const fn half_split() -> Self {
        Self { layout: RopeLayout::HalfSplit, theta: Self::DEFAULT_THETA }
    }

    /// The same layout with base `theta`.
    ///
    /// ```
    /// use sdpa::layer::Rope;
    /// // Head of 4, pair 1 at position 3 turns by 3·θ^(−1/2): 3/1000 rad with θ = 10⁶.
    /// let mut x = [0.0, 0.0, 1.0, 0.0];
    /// Rope::interleaved().theta(1e6).rotate(3, &mut x);
    /// assert!((x[3] - 0.003f32.sin()).abs() < 1e-7 && (x[2] - 0.003f32.cos()).abs() < 1e-7);
    /// ```
    pub const fn theta(mut self, theta: f32) -> Self {
        self.theta = theta;
        self
    }

    /// Rotates one head vector `x` (its length is the head dimension) for
    /// `position`. The layer computes the angles once per token for all
    /// heads; this is the same rotation for one vector.
    ///
    /// ```
    /// use sdpa::layer::Rope;
    /// let mut x = [1.0, 0.0, 1.0, 0.0];
    /// Rope::interleaved().rotate(0, &mut x); // position 0: identity
    /// assert_eq!(x, [1.0, 0.0, 1.0, 0.0]);
    /// Rope::interleaved().rotate(1, &mut x); // pair 0 turns by 1 rad
    /// assert!((x[0] - 1f32.cos()).abs() < 1e-7 && (x[1] - 1f32.sin()).abs() < 1e-7);
    /// ```
    pub fn rotate(&self, position: usize, x: &mut [f32]) {
        let dim = x.len();
        let pairs = dim / 2;
        let mut chunks = x.chunks_exact_mut(2);
        match self.layout {
            RopeLayout::Interleaved => {
                for (i, pair) in (0..).zip(&mut chunks) {
                    let (cos, sin) = self.angle(position, i, dim);
                    if let [a, b] = pair {
                        (*a, *b) = turn(*a, *b, cos, sin);
                    }
                }
            }
            RopeLayout::HalfSplit => {
                let (lo, hi) = x.split_at_mut_checked(pairs).unwrap_or_default();
                for (i, (a, b)) in (0..).zip(lo.iter_mut().zip(hi.iter_mut())) {
                    let (cos, sin) = self.angle(position, i, dim);
                    (*a, *b) = turn(*a, *b, cos, sin);
                }
            }
        }
    }

    /// `(cos, sin)` of pair `i`'s angle at `position` in a head of dimension `dim`.
    fn angle(&self, position: usize, i: usize, dim: usize) -> (f32, f32) {
        let angle = position as f32 * inverse_frequency(self.theta, i, dim);
        let (sin, cos) = libm::sincosf(angle);
        (cos, sin)
    }
}

/// `θ^(−2i/dim)`, as `1 / θ^(2i/dim)` in `f32`.
fn inverse_frequency(theta: f32, i: usize, dim: usize) -> f32 {
    let exponent = (2 * i) as f32 / dim as f32;
    1.0 / libm::powf(theta, exponent)
}

/// The pair rotation `(a, b) → (a·cos − b·sin, a·sin + b·cos)`.
#[inline(always)]
fn turn(a: f32, b: f32, cos: f32, sin: f32) -> (f32, f32) {
    (a * cos - b * sin, a * sin + b * cos)
}

/// The cosines and sines of one position for every pair of a head of
/// dimension `HD` (entries past `HD / 2` unused), shared by all the heads of
/// one token.
pub(crate) struct Rotation<const HD: usize> {
    layout: RopeLayout,
    cos: [f32; HD],
    sin: [f32; HD],
}

impl<const HD: usize> Rotation<HD> {
    /// Angles of `position` for the frequencies `inv_freq` (from [`frequencies`]).
    pub(crate) fn new(rope: &Rope, position: usize, inv_freq: &[f32; HD]) -> Self {
        let mut r = Self { layout: rope.layout, cos: [0.0; HD], sin: [0.0; HD] };
        let p = position as f32;
        for ((c, s), &f) in r.cos.iter_mut().zip(r.sin.iter_mut()).zip(inv_freq).take(HD / 2) {
            (*s, *c) = libm::sincosf(p * f);
        }
        r
    }

    /// Rotates one head vector. Inlined into the caller's backend where the
    /// backend is chosen at run time (out of line it is compiled for the
    /// SSE2 baseline); elsewhere the optimizer decides (inlining both of
    /// decode's calls costs 672 B of Cortex-M4 `.text` at opt-level 3).
    #[cfg_attr(sdpa_dispatch, inline(always))]
    #[cfg_attr(not(sdpa_dispatch), inline)]
    pub(crate) fn apply(&self, x: &mut [f32; HD]) {
        let half = HD / 2;
        let angles = self.cos.iter().zip(&self.sin).take(half);
        match self.layout {
            RopeLayout::Interleaved => {
                for ([a, b], (&c, &s)) in x.as_chunks_mut::<2>().0.iter_mut().zip(angles) {
                    (*a, *b) = turn(*a, *b, c, s);
                }
            }
            RopeLayout::HalfSplit => {
                let (lo, hi) = x.split_at_mut_checked(half).unwrap_or_default();
                for ((a, b), (&c, &s)) in lo.iter_mut().zip(hi.iter_mut()).zip(angles) {
                    (*a, *b) = turn(*a, *b, c, s);
                }
            }
        }
    }
}

/// The inverse frequencies `θ^(−2i/HD)` of every pair (entries past `HD / 2` zero).
pub(crate) fn frequencies<const HD: usize>(rope: &Rope) -> [f32; HD] {
    let mut f = [0.0; HD];
    for (i, x) in f.iter_mut().enumerate().take(HD / 2) {
        *x = inverse_frequency(rope.theta, i, HD);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_matches_rotate_for_both_layouts() {
        for rope in [Rope::interleaved(), Rope::half_split().theta(500.0)] {
            let inv = frequencies::<8>(&rope);
            for pos in [0, 1, 7, 1000] {
                let mut a = [0.3, -1.0, 0.5, 2.0, -0.7, 0.1, 1.5, -0.25];
                let mut b = a;
                Rotation::<8>::new(&rope, pos, &inv).apply(&mut a);
                rope.rotate(pos, &mut b);
                assert_eq!(a, b, "{rope:?} at {pos}");
            }
        }
    }

    #[test]
    fn odd_head_dimension_leaves_the_last_component() {
        for rope in [Rope::interleaved(), Rope::half_split()] {
            let mut x = [1.0, 2.0, 3.0, 4.0, 5.0];
            rope.rotate(3, &mut x);
            assert_eq!(x[4], 5.0);
            let mut y = [1.0, 2.0, 3.0, 4.0, 5.0];
            Rotation::<5>::new(&rope, 3, &frequencies::<5>(&rope)).apply(&mut y);
            assert_eq!(y, x);
        }
    }
}
