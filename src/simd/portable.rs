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
    // Every operation names the four lanes one by one (no indexing, no
    // `array::from_fn`): nothing for the optimizer to leave out of line at
    // opt-level "s", so no bounds check and no panic path, and on Cortex-M
    // each lane stays in its own FPU register.

    #[inline(always)]
    fn map(self, f: impl Fn(f32) -> f32) -> Self {
        let [a, b, c, d] = self.0;
        Lanes([f(a), f(b), f(c), f(d)])
    }

    #[inline(always)]
    fn zip(self, other: Self, f: impl Fn(f32, f32) -> f32) -> Self {
        let ([a, b, c, d], [e, g, h, i]) = (self.0, other.0);
        Lanes([f(a, e), f(b, g), f(c, h), f(d, i)])
    }

    /// `then` in the lanes where `cond(self, b)`, `otherwise` elsewhere.
    #[inline(always)]
    fn pick(self, b: Self, then: Self, otherwise: Self, cond: impl Fn(f32, f32) -> bool) -> Self {
        let ([a0, a1, a2, a3], [b0, b1, b2, b3]) = (self.0, b.0);
        let ([t0, t1, t2, t3], [o0, o1, o2, o3]) = (then.0, otherwise.0);
        let pick = |a, b, t, o| if cond(a, b) { t } else { o };
        Lanes([pick(a0, b0, t0, o0), pick(a1, b1, t1, o1), pick(a2, b2, t2, o2), pick(a3, b3, t3, o3)])
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
