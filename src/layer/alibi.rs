//! ALiBi head slopes (Press, Smith and Lewis 2022, "Train Short, Test Long"),
//! computed at compile time.
//!
//! For `n` heads, a power of two, head `h` (0-based) gets slope
//! `2^(−8(h+1)/n)`: a geometric sequence starting at and with ratio
//! `2^(−8/n)`. For other head counts the paper takes the slopes of the
//! largest power of two `n' < n`, then the first `n − n'` of every other
//! slope of `2n'` heads: head `n' + k` gets `2^(−8(2k+1)/(2n'))`.

/// Slope of ALiBi head `head` out of `heads`, as in the paper (including
/// head counts that are not powers of two). `const`, so slopes can be
/// tables in flash; computed in `f64` and rounded once to `f32`.
///
/// `heads == 0` gives `0.0`. `head >= heads` continues the sequence.
///
/// ```
/// use sdpa::layer::alibi_slope;
/// const S: f32 = alibi_slope(0, 8);
/// assert_eq!(S, 0.5); // 2^(-8/8)
/// assert_eq!(alibi_slope(7, 8), 1.0 / 256.0);
/// // 12 heads: the 8-head slopes, then the odd slopes of 16 heads.
/// assert_eq!(alibi_slope(7, 12), alibi_slope(7, 8));
/// assert_eq!(alibi_slope(8, 12), alibi_slope(0, 16));
/// assert_eq!(alibi_slope(9, 12), alibi_slope(2, 16));
/// ```
pub const fn alibi_slope(head: usize, heads: usize) -> f32 {
    let Some(log2) = heads.checked_ilog2() else {
        return 0.0; // no heads
    };
    let base = 1usize << log2; // largest power of two ≤ heads
    // slope = 2^(−numerator / denominator)
    let (numerator, denominator) =
        if head < base { (8 * (head + 1), base) } else { (8 * (2 * (head - base) + 1), 2 * base) };
    exp2_neg_ratio(numerator, denominator) as f32
}

/// The slopes of all `H` heads, [`alibi_slope`]`(h, H)` for each `h`.
///
/// ```
/// const SLOPES: [f32; 4] = sdpa::layer::alibi_slopes::<4>();
/// assert_eq!(SLOPES, [0.25, 0.0625, 0.015625, 0.00390625]);
/// ```
pub const fn alibi_slopes<const H: usize>() -> [f32; H] {
    let mut slopes = [0.0; H];
    let mut h = 0;
    while h < H {
        slopes[h] = alibi_slope(h, H);
        h += 1;
    }
    slopes
}

/// `2^(−n/d)` in `f64` for `d > 0`: whole halvings for the integer part, then
/// a Taylor series of `e^(−f·ln 2)` for the fraction `f ∈ [0, 1)`, whose
/// truncation error (below `0.7^30/30!`) is far under one `f64` ulp.
const fn exp2_neg_ratio(n: usize, d: usize) -> f64 {
    let (Some(whole), Some(rest)) = (n.checked_div(d), n.checked_rem(d)) else {
        return 0.0; // d = 0 is never passed
    };
    let fraction = rest as f64 / d as f64;
    let y = -fraction * core::f64::consts::LN_2;
    let mut sum = 1.0;
    let mut term = 1.0;
    let mut k = 1;
    while k < 30 {
        term = term * y / k as f64;
        sum += term;
        k += 1;
    }
    let mut i = 0;
    while i < whole {
        sum *= 0.5;
        i += 1;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powers_of_two_are_geometric_from_two_to_the_minus_eight_over_n() {
        for n in [1usize, 2, 4, 8, 16, 32, 64] {
            let start = libm::exp2(-8.0 / n as f64);
            for h in 0..n {
                let want = libm::pow(start, (h + 1) as f64) as f32;
                assert_eq!(alibi_slope(h, n), want, "n {n}, h {h}");
            }
        }
    }

    #[test]
    fn other_counts_take_every_other_slope_of_the_next_power() {
        for n in [3usize, 5, 6, 7, 12, 20, 40] {
            let base = 1usize << n.ilog2();
            for h in 0..n {
                let want = if h < base { alibi_slope(h, base) } else { alibi_slope(2 * (h - base), 2 * base) };
                assert_eq!(alibi_slope(h, n), want, "n {n}, h {h}");
            }
        }
    }

    #[test]
    fn zero_heads_gives_zero() {
        assert_eq!(alibi_slope(0, 0), 0.0);
        assert_eq!(alibi_slopes::<0>(), []);
    }
}
