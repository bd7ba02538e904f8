//! The fixed sinusoidal positional encoding of "Attention Is All You Need"
//! (Vaswani et al. 2017, section 3.5), added to the inputs of the first layer.

use crate::Matrix;

/// Writes the encoding of `position` into `out` (its length is the model
/// width `d`): `out[2i] = sin(position / 10000^(2i/d))`,
/// `out[2i + 1] = cos(position / 10000^(2i/d))`.
///
/// Computed in `f64` (libm) and rounded once, so each entry is within half
/// an `f32` ulp of the exact value plus `f64` rounding.
///
/// ```
/// let mut pe = [0.0; 4];
/// sdpa::layer::sinusoidal(0, &mut pe);
/// assert_eq!(pe, [0.0, 1.0, 0.0, 1.0]);
/// sdpa::layer::sinusoidal(1, &mut pe);
/// assert_eq!(pe[0], 1f64.sin() as f32);
/// assert_eq!(pe[3], (1.0 / 100.0f64).cos() as f32); // 10000^(2/4) = 100
/// ```
pub fn sinusoidal(position: usize, out: &mut [f32]) {
    let d = out.len() as f64;
    let p = position as f64;
    for (i, pair) in (0..).zip(out.chunks_mut(2)) {
        let angle = p / libm::pow(10_000.0, (2 * i) as f64 / d);
        let (sin, cos) = libm::sincos(angle);
        let mut values = [sin, cos].into_iter();
        for (x, v) in pair.iter_mut().zip(&mut values) {
            *x = v as f32;
        }
    }
}

/// Adds the encodings of positions `first_position ..` to the rows of `x`
/// (token embeddings, one row per token).
///
/// ```
/// use sdpa::Matrix;
/// let mut x = Matrix::<3, 8>::zeros();
/// sdpa::layer::add_sinusoidal(&mut x, 5);
/// let mut row = [0.0; 8];
/// sdpa::layer::sinusoidal(7, &mut row);
/// assert_eq!(x.rows()[2], row);
/// ```
pub fn add_sinusoidal<const T: usize, const D: usize>(x: &mut Matrix<T, D>, first_position: usize) {
    let mut pe = [0.0; D];
    for (p, row) in (first_position..).zip(x.rows_mut()) {
        sinusoidal(p, &mut pe);
        for (x, e) in row.iter_mut().zip(&pe) {
            *x += e;
        }
    }
}
