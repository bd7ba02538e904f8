//! Portable backend: four `f32` lanes in a plain array, no target features.
//!
//! Used on targets without a vector unit `wide` can drive (Cortex-M, RISC-V
//! without V) and under the `force-scalar` feature. Four independent lanes
//! give the compiler four independent dependency chains, which an in-order
//! FPU such as the Cortex-M4F's needs to stay busy; LLVM keeps them in
//! scalar registers.

use super::{Elementwise, ROUNDING_SHIFTER, pow2_bits};
use core::ops::{Add, AddAssign, Mul, Sub};

/// Lanes in one [`F32s`].
pub(crate) const LANES: usize = 4;

pub(crate) const BACKEND: &str = "scalar";

/// Vector registers the tiling may plan on: the Cortex-M4F's 32 single
/// registers hold eight 4-lane values.
pub(crate) const REGISTERS: usize = 8;

/// Four `f32` lanes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct F32s([f32; LANES]);

impl F32s {
    #[inline(always)]
    fn map(self, f: impl Fn(f32) -> f32) -> Self {
        F32s(self.0.map(f))
    }

    #[inline(always)]
    fn zip(self, other: Self, f: impl Fn(f32, f32) -> f32) -> Self {
        let mut out = self.0;
        for (o, b) in out.iter_mut().zip(other.0) {
            *o = f(*o, b);
        }
        F32s(out)
    }
}

impl Add for F32s {
    type Output = Self;
    #[inline(always)]
    fn add(self, rhs: Self) -> Self {
        self.zip(rhs, |a, b| a + b)
    }
}

impl AddAssign for F32s {
    #[inline(always)]
    fn add_assign(&mut self, rhs: Self) {
        *self = *self + rhs;
    }
}

impl Sub for F32s {
    type Output = Self;
    #[inline(always)]
    fn sub(self, rhs: Self) -> Self {
        self.zip(rhs, |a, b| a - b)
    }
}

impl Mul for F32s {
    type Output = Self;
    #[inline(always)]
    fn mul(self, rhs: Self) -> Self {
        self.zip(rhs, |a, b| a * b)
    }
}

/// All lanes equal to `x`.
#[inline(always)]
pub(crate) fn splat(x: f32) -> F32s {
    F32s([x; LANES])
}

/// Loads one full vector.
#[inline(always)]
pub(crate) fn load(lanes: &[f32; LANES]) -> F32s {
    F32s(*lanes)
}

/// Stores one full vector.
#[inline(always)]
pub(crate) fn store(v: F32s, lanes: &mut [f32; LANES]) {
    *lanes = v.0;
}

/// `a * b + c` with two roundings.
#[inline(always)]
pub(crate) fn mul_add(a: F32s, b: F32s, c: F32s) -> F32s {
    a * b + c
}

/// `a * b + c` on one scalar, rounded exactly as a lane of [`mul_add`].
#[inline(always)]
pub(crate) fn mul_add_one(a: f32, b: f32, c: f32) -> f32 {
    a * b + c
}

/// Lane-wise maximum ignoring NaN: where one operand is NaN the other wins.
#[inline(always)]
pub(crate) fn max(a: F32s, b: F32s) -> F32s {
    a.zip(b, f32::max)
}

/// `0` in the lanes where `v` is `−∞`, `v` elsewhere (NaN stays NaN).
#[inline(always)]
pub(crate) fn zero_if_neg_inf(v: F32s) -> F32s {
    v.map(|x| if x == f32::NEG_INFINITY { 0.0 } else { x })
}

/// Sum of all lanes, pairwise like the vector backends.
#[inline(always)]
pub(crate) fn reduce_add(v: F32s) -> f32 {
    let [a, b, c, d] = v.0;
    (a + c) + (b + d)
}

/// Maximum of all lanes, ignoring NaN lanes.
#[inline(always)]
pub(crate) fn reduce_max(v: F32s) -> f32 {
    v.0.into_iter().fold(f32::NEG_INFINITY, f32::max)
}

impl Elementwise for F32s {
    #[inline(always)]
    fn splat(x: f32) -> Self {
        splat(x)
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        mul_add(self, b, c)
    }
    #[inline(always)]
    fn clamp_to(self, lo: f32, hi: f32) -> Self {
        self.map(|x| x.max(lo).min(hi))
    }
    #[inline(always)]
    fn select_below(self, lo: f32, then: Self, otherwise: Self) -> Self {
        let mut out = otherwise.0;
        for ((o, x), t) in out.iter_mut().zip(self.0).zip(then.0) {
            if x < lo {
                *o = t;
            }
        }
        F32s(out)
    }
    #[inline(always)]
    fn max_keep_nan(self, lo: f32) -> Self {
        self.map(|x| if x < lo { lo } else { x })
    }
    #[inline(always)]
    fn pow2_of_shifted(self) -> Self {
        self.map(|s| f32::from_bits(pow2_bits(s.to_bits())))
    }
    #[inline(always)]
    fn pow2i(self) -> Self {
        self.map(|n| f32::from_bits(pow2_bits((n + ROUNDING_SHIFTER).to_bits())))
    }
    #[inline(always)]
    fn nan_or(self, value: Self) -> Self {
        self.zip(value, |x, v| if x.is_nan() { x } else { v })
    }
}
