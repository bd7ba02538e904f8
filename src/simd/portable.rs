//! Portable backend: four `f32` lanes in a plain array, no target features.
//!
//! The only backend on targets without a vector unit `wide` can drive
//! (Cortex-M, RISC-V without V) and under the `force-scalar` feature; on
//! SIMD hosts it can be chosen at run time (see [`Backend::Scalar`]). Four
//! independent lanes give the compiler four independent dependency chains,
//! which an in-order FPU such as the Cortex-M4F's needs to stay busy; LLVM
//! keeps them in scalar registers. Comparisons are written as `if`s, so on
//! FPv4-SP (no `VMAXNM`) they become compare-and-select, not calls to
//! `fmaxf`/`fminf`.

use super::{Backend, Simd, pow2_bits};
use core::ops::{Add, Mul, Sub};

/// Lanes of the portable backend.
pub(crate) const LANES: usize = 4;

/// The portable backend's token (always available).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Portable;

/// Four `f32` lanes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Lanes([f32; LANES]);

impl Lanes {
    #[inline(always)]
    fn map(self, f: impl Fn(f32) -> f32) -> Self {
        Lanes(self.0.map(f))
    }

    #[inline(always)]
    fn zip(self, other: Self, f: impl Fn(f32, f32) -> f32) -> Self {
        let mut out = self.0;
        for (o, b) in out.iter_mut().zip(other.0) {
            *o = f(*o, b);
        }
        Lanes(out)
    }

    /// `then` in the lanes where `cond(self, b)`, `otherwise` elsewhere.
    #[inline(always)]
    fn pick(self, b: Self, then: Self, otherwise: Self, cond: impl Fn(f32, f32) -> bool) -> Self {
        Lanes(core::array::from_fn(|i| if cond(self.0[i], b.0[i]) { then.0[i] } else { otherwise.0[i] }))
    }
}

impl Add for Lanes {
    type Output = Self;
    #[inline(always)]
    fn add(self, rhs: Self) -> Self {
        self.zip(rhs, |a, b| a + b)
    }
}

impl Sub for Lanes {
    type Output = Self;
    #[inline(always)]
    fn sub(self, rhs: Self) -> Self {
        self.zip(rhs, |a, b| a - b)
    }
}

impl Mul for Lanes {
    type Output = Self;
    #[inline(always)]
    fn mul(self, rhs: Self) -> Self {
        self.zip(rhs, |a, b| a * b)
    }
}

impl Simd<LANES> for Portable {
    type V = Lanes;
    const BACKEND: Backend = Backend::Scalar;
    /// The Cortex-M4F's 32 single registers hold eight 4-lane values.
    const REGISTERS: usize = 8;
    const FUSED: bool = false;

    #[inline(always)]
    fn vectorize<R>(self, f: impl FnOnce() -> R) -> R {
        f()
    }
    #[inline(always)]
    fn splat(self, x: f32) -> Lanes {
        Lanes([x; LANES])
    }
    #[inline(always)]
    fn load(self, lanes: &[f32; LANES]) -> Lanes {
        Lanes(*lanes)
    }
    #[inline(always)]
    fn store(self, v: Lanes, lanes: &mut [f32; LANES]) {
        *lanes = v.0;
    }
    #[inline(always)]
    fn mul_add(self, a: Lanes, b: Lanes, c: Lanes) -> Lanes {
        a * b + c
    }
    #[inline(always)]
    fn max(self, a: Lanes, b: Lanes) -> Lanes {
        a.zip(b, |a, b| if a > b { a } else { b })
    }
    #[inline(always)]
    fn min(self, a: Lanes, b: Lanes) -> Lanes {
        a.zip(b, |a, b| if a < b { a } else { b })
    }
    #[inline(always)]
    fn select_lt(self, a: Lanes, b: Lanes, then: Lanes, otherwise: Lanes) -> Lanes {
        a.pick(b, then, otherwise, |a, b| a < b)
    }
    #[inline(always)]
    fn select_eq(self, a: Lanes, b: Lanes, then: Lanes, otherwise: Lanes) -> Lanes {
        a.pick(b, then, otherwise, |a, b| a == b)
    }
    #[inline(always)]
    fn select_nan(self, a: Lanes, then: Lanes, otherwise: Lanes) -> Lanes {
        a.pick(a, then, otherwise, |a, _| a.is_nan())
    }
    #[inline(always)]
    fn pow2_of_shifted(self, v: Lanes) -> Lanes {
        v.map(|s| f32::from_bits(pow2_bits(s.to_bits())))
    }
    #[inline(always)]
    fn reduce_add(self, v: Lanes) -> f32 {
        let [a, b, c, d] = v.0;
        (a + c) + (b + d)
    }
    #[inline(always)]
    fn reduce_max(self, v: Lanes) -> f32 {
        let [a, b, c, d] = v.0;
        let (x, y) = (if c > a { c } else { a }, if d > b { d } else { b });
        if y > x { y } else { x }
    }
}
