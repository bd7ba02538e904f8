//! `Matrix<R, C>`: fixed-size, row-major `f32` storage.

/// An `R × C` matrix of `f32`, row-major over `[[f32; C]; R]`, aligned to 64
/// bytes (one cache line, one AVX-512 register).
///
/// The alignment is a convenience, not a requirement: every SIMD backend
/// loads and stores unaligned (`_mm512_loadu_ps`, `_mm256_loadu_ps`, `wide`'s
/// `f32x4` from arrays, plain arrays on the portable backend) and no result
/// depends on an address, so the const-generic calls take any
/// `&[[f32; C]; R]` as well (a `Matrix` dereferences to one). `Matrix` is
/// for owning such data: `const fn` constructors for `static` weights in
/// flash, byte decoding, a cache-line start for every 16-float row.
///
/// Shapes are types: passing a `Matrix<3, 4>` where a `Matrix<3, 5>` is
/// expected does not compile, and a zero dimension fails at compile time as
/// soon as a constructor is used. Constructors are `const fn`, so weights can
/// live in a `static` in flash with no start-up cost:
///
/// ```
/// use sdpa::Matrix;
/// static WQ: Matrix<2, 3> = Matrix::from_rows([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
/// assert_eq!(WQ.rows()[1], [0.0, 1.0, 0.0]);
/// assert_eq!(WQ.as_slice().len(), 6);
/// ```
///
/// A zero dimension is rejected when the constructor is instantiated:
///
/// ```compile_fail
/// let empty = sdpa::Matrix::<0, 4>::zeros();
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C, align(64))]
pub struct Matrix<const R: usize, const C: usize> {
    rows: [[f32; C]; R],
}

impl<const R: usize, const C: usize> Matrix<R, C> {
    const NON_EMPTY: () = assert!(R > 0 && C > 0, "sdpa::Matrix dimensions must be non-zero");

    /// The all-zero matrix.
    ///
    /// ```
    /// let m = sdpa::Matrix::<2, 2>::zeros();
    /// assert_eq!(m.as_slice(), &[0.0; 4]);
    /// ```
    pub const fn zeros() -> Self {
        Self::from_rows([[0.0; C]; R])
    }

    /// Wraps row-major data, at no cost.
    ///
    /// ```
    /// let m = sdpa::Matrix::from_rows([[1.0, 2.0], [3.0, 4.0]]);
    /// assert_eq!(m.get(1, 0), Some(3.0));
    /// ```
    pub const fn from_rows(rows: [[f32; C]; R]) -> Self {
        let () = Self::NON_EMPTY;
        Self { rows }
    }

    /// Builds each element from its `(row, column)`.
    ///
    /// ```
    /// let eye = sdpa::Matrix::<3, 3>::from_fn(|r, c| if r == c { 1.0 } else { 0.0 });
    /// assert_eq!(eye.rows()[2], [0.0, 0.0, 1.0]);
    /// ```
    pub fn from_fn(mut f: impl FnMut(usize, usize) -> f32) -> Self {
        Self::from_rows(core::array::from_fn(|r| core::array::from_fn(|c| f(r, c))))
    }

    /// Copies `R·C` row-major values from a flat slice; `None` unless the
    /// length is exactly `R·C`.
    ///
    /// ```
    /// let m = sdpa::Matrix::<2, 3>::from_slice(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    /// assert_eq!(m.rows()[1], [4.0, 5.0, 6.0]);
    /// assert!(sdpa::Matrix::<2, 3>::from_slice(&[1.0; 5]).is_none());
    /// ```
    pub const fn from_slice(values: &[f32]) -> Option<Self> {
        if values.len() != R * C {
            return None;
        }
        let mut m = Self::zeros();
        let mut i = 0;
        while i < R * C {
            m.rows[i / C][i % C] = values[i];
            i += 1;
        }
        Some(m)
    }

    /// Decodes `R·C` little-endian `f32` from bytes (for instance an
    /// `include_bytes!` weight file); `None` unless the length is exactly
    /// `4·R·C`. Usable in a `static` initializer.
    ///
    /// ```
    /// const BYTES: [u8; 8] = [0, 0, 128, 63, 0, 0, 0, 64]; // 1.0, 2.0
    /// static M: sdpa::Matrix<1, 2> = match sdpa::Matrix::from_le_bytes(&BYTES) {
    ///     Some(m) => m,
    ///     None => panic!("weight file has the wrong size"),
    /// };
    /// assert_eq!(M.as_slice(), &[1.0, 2.0]);
    /// ```
    pub const fn from_le_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 4 * R * C {
            return None;
        }
        let mut m = Self::zeros();
        let mut i = 0;
        while i < R * C {
            let b = [bytes[4 * i], bytes[4 * i + 1], bytes[4 * i + 2], bytes[4 * i + 3]];
            m.rows[i / C][i % C] = f32::from_le_bytes(b);
            i += 1;
        }
        Some(m)
    }

    /// The rows, as the nested array they are stored in.
    ///
    /// ```
    /// let m = sdpa::Matrix::from_rows([[1.0], [2.0]]);
    /// assert_eq!(m.rows()[1][0], 2.0);
    /// ```
    pub const fn rows(&self) -> &[[f32; C]; R] {
        &self.rows
    }

    /// The rows, mutable.
    ///
    /// ```
    /// let mut m = sdpa::Matrix::<2, 1>::zeros();
    /// m.rows_mut()[1][0] = 5.0;
    /// assert_eq!(m.get(1, 0), Some(5.0));
    /// ```
    pub const fn rows_mut(&mut self) -> &mut [[f32; C]; R] {
        &mut self.rows
    }

    /// Row `r`, or `None` past the last row.
    ///
    /// ```
    /// let m = sdpa::Matrix::from_rows([[1.0, 2.0]]);
    /// assert_eq!(m.row(0), Some(&[1.0, 2.0]));
    /// assert_eq!(m.row(1), None);
    /// ```
    pub const fn row(&self, r: usize) -> Option<&[f32; C]> {
        if r < R { Some(&self.rows[r]) } else { None }
    }

    /// Element `(r, c)`, or `None` out of range.
    ///
    /// ```
    /// let m = sdpa::Matrix::from_rows([[1.0, 2.0]]);
    /// assert_eq!(m.get(0, 1), Some(2.0));
    /// assert_eq!(m.get(0, 2), None);
    /// ```
    pub const fn get(&self, r: usize, c: usize) -> Option<f32> {
        if r < R && c < C { Some(self.rows[r][c]) } else { None }
    }

    /// All `R·C` elements, row-major.
    ///
    /// ```
    /// let m = sdpa::Matrix::from_rows([[1.0, 2.0], [3.0, 4.0]]);
    /// assert_eq!(m.as_slice(), &[1.0, 2.0, 3.0, 4.0]);
    /// ```
    pub const fn as_slice(&self) -> &[f32] {
        self.rows.as_flattened()
    }

    /// All `R·C` elements, row-major, mutable.
    ///
    /// ```
    /// let mut m = sdpa::Matrix::<1, 2>::zeros();
    /// m.as_mut_slice()[1] = 3.0;
    /// assert_eq!(m.get(0, 1), Some(3.0));
    /// ```
    pub const fn as_mut_slice(&mut self) -> &mut [f32] {
        self.rows.as_flattened_mut()
    }
}

impl<const R: usize, const C: usize> Default for Matrix<R, C> {
    fn default() -> Self {
        Self::zeros()
    }
}

impl<const R: usize, const C: usize> From<[[f32; C]; R]> for Matrix<R, C> {
    fn from(rows: [[f32; C]; R]) -> Self {
        Self::from_rows(rows)
    }
}

impl<const R: usize, const C: usize> AsRef<[[f32; C]; R]> for Matrix<R, C> {
    fn as_ref(&self) -> &[[f32; C]; R] {
        &self.rows
    }
}

/// A `Matrix` is its nested array: `&Matrix<R, C>` coerces to
/// `&[[f32; C]; R]`, which is what the const-generic calls take, so a
/// matrix, a plain array, or anything that dereferences to one (a
/// `Box<Matrix>`) is passed without a copy.
///
/// ```
/// use sdpa::Matrix;
/// let m = Matrix::from_rows([[1.0, 2.0], [3.0, 4.0]]);
/// let rows: &[[f32; 2]; 2] = &m;
/// assert_eq!(rows[1][0], 3.0);
/// assert_eq!(m[0], [1.0, 2.0]);
/// ```
impl<const R: usize, const C: usize> core::ops::Deref for Matrix<R, C> {
    type Target = [[f32; C]; R];

    #[inline(always)]
    fn deref(&self) -> &[[f32; C]; R] {
        &self.rows
    }
}

/// `&mut Matrix<R, C>` coerces to `&mut [[f32; C]; R]`.
///
/// ```
/// let mut m = sdpa::Matrix::<2, 2>::zeros();
/// m[1][0] = 5.0;
/// assert_eq!(m.get(1, 0), Some(5.0));
/// ```
impl<const R: usize, const C: usize> core::ops::DerefMut for Matrix<R, C> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [[f32; C]; R] {
        &mut self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_row_major_and_aligned() {
        let m = Matrix::<3, 5>::from_fn(|r, c| (10 * r + c) as f32);
        assert_eq!(m.as_slice()[7], 12.0);
        assert_eq!(core::mem::align_of::<Matrix<3, 5>>(), 64);
        assert_eq!(m.as_slice().as_ptr() as usize % 64, 0);
    }

    #[test]
    fn byte_decoding_round_trips() {
        let m = Matrix::<2, 2>::from_rows([[1.5, -2.0], [f32::MIN_POSITIVE, 1e30]]);
        let mut bytes = [0u8; 16];
        for (chunk, x) in bytes.chunks_exact_mut(4).zip(m.as_slice()) {
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        assert_eq!(Matrix::<2, 2>::from_le_bytes(&bytes), Some(m));
        assert_eq!(Matrix::<2, 2>::from_le_bytes(&bytes[..15]), None);
    }
}
