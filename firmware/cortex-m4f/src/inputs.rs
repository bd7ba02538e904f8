//! Inputs built at compile time, so they sit in flash as `static` matrices
//! (no start-up cost, no RAM): the seed toy converted to `f32`, and uniform
//! pseudo-random matrices for the stack measurements.

use sdpa::Matrix;

/// An `f64` table (as the host generators write them) as an `f32` matrix.
pub const fn to_f32<const R: usize, const C: usize>(m: &[[f64; C]; R]) -> Matrix<R, C> {
    let mut rows = [[0.0f32; C]; R];
    let mut r = 0;
    while r < R {
        let mut c = 0;
        while c < C {
            rows[r][c] = m[r][c] as f32;
            c += 1;
        }
        r += 1;
    }
    Matrix::from_rows(rows)
}

/// Values uniform in `[-1, 1)` from SplitMix64, a different stream per `seed`.
pub const fn uniform<const R: usize, const C: usize>(seed: u64) -> Matrix<R, C> {
    let mut rows = [[0.0f32; C]; R];
    let mut state = seed;
    let mut r = 0;
    while r < R {
        let mut c = 0;
        while c < C {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            // 24 random bits: exactly representable, so the value is in [-1, 1).
            rows[r][c] = (z >> 40) as f32 * (2.0 / 16_777_216.0) - 1.0;
            c += 1;
        }
        r += 1;
    }
    Matrix::from_rows(rows)
}
