//! Every backend this build and CPU support, against the documented
//! semantics of [`Simd`]: lane sums and maxima in the halving order, the
//! transposing sum, `max`/`min`/selections exactly as specified.

use super::{Simd, each_backend};

/// Lanes of mixed magnitude and sign, so any other summation order rounds
/// differently somewhere in the run.
fn lanes<const L: usize>(seed: u32) -> [f32; L] {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    core::array::from_fn(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let exponent = (x >> 24) as i32 % 40 - 20;
        let mantissa = (x & 0xff_ffff) as f32 / (1 << 23) as f32 - 1.0;
        mantissa * libm::exp2f(exponent as f32)
    })
}

/// The documented order: lane `i` op= lane `i + n` for n = L/2, L/4, … 1.
fn upper_into_lower<const L: usize>(mut a: [f32; L], op: impl Fn(f32, f32) -> f32) -> f32 {
    let mut n = L / 2;
    while n > 0 {
        for i in 0..n {
            a[i] = op(a[i + n], a[i]);
        }
        n /= 2;
    }
    a[0]
}

fn reductions<const L: usize, S: Simd<L>>(s: S) {
    let max = |a: f32, b: f32| if a > b { a } else { b };
    for seed in 0..20_000 {
        let a = lanes::<L>(seed);
        let name = S::BACKEND;
        assert_eq!(
            s.reduce_add(s.load(&a)).to_bits(),
            upper_into_lower(a, |x, y| x + y).to_bits(),
            "{name} seed {seed}"
        );
        assert_eq!(s.reduce_max(s.load(&a)).to_bits(), upper_into_lower(a, max).to_bits(), "{name} seed {seed}");
    }
}

#[test]
fn reduce_add_and_max_fold_upper_halves_into_lower_bit_for_bit() {
    each_backend!(|s| reductions(s));
}

fn transposing_sum<const L: usize, S: Simd<L>>(s: S) {
    for seed in 0..2_000 {
        let rows: [[f32; L]; L] = core::array::from_fn(|j| lanes::<L>(seed * 64 + j as u32));
        let got = s.to_array(s.reduce_add_each(rows.map(|r| s.load(&r))));
        for (j, (row, got)) in rows.iter().zip(got).enumerate() {
            let exact: f64 = row.iter().map(|&x| x as f64).sum();
            let abs: f64 = row.iter().map(|&x| (x as f64).abs()).sum();
            let bound = abs * (L.trailing_zeros() as f64) * f64::from(f32::EPSILON) / 2.0 * 1.0001;
            assert!((got as f64 - exact).abs() <= bound, "{} seed {seed} lane {j}", S::BACKEND);
        }
        // A permutation of the inputs' lanes within pairs changes nothing the
        // tree depends on: the sum of identical rows is the same in every lane.
        let same = s.to_array(s.reduce_add_each([s.load(&rows[0]); L]));
        assert!(same.iter().all(|&x| x.to_bits() == same[0].to_bits()), "{}", S::BACKEND);
    }
}

#[test]
fn reduce_add_each_is_a_log_depth_sum_per_lane() {
    each_backend!(|s| transposing_sum(s));
}

fn selections<const L: usize, S: Simd<L>>(s: S) {
    let values = [f32::NAN, f32::NEG_INFINITY, -1.5, -0.0, 0.0, 2.0, f32::INFINITY, 1e-40];
    for &a in &values {
        for &b in &values {
            let (va, vb) = (s.splat(a), s.splat(b));
            let lane = |v| s.to_array(v)[L - 1];
            let bits = |x: f32| x.to_bits();
            // Of +0 and −0 either may come back (documented): they are equal.
            let zeros = a == 0.0 && b == 0.0;
            let (max, min) = (lane(s.max(va, vb)), lane(s.min(va, vb)));
            let (want_max, want_min) = (if a > b { a } else { b }, if a < b { a } else { b });
            assert!(bits(max) == bits(want_max) || (zeros && max == 0.0), "{} max({a}, {b}) = {max}", S::BACKEND);
            assert!(bits(min) == bits(want_min) || (zeros && min == 0.0), "{} min({a}, {b}) = {min}", S::BACKEND);
            let (t, o) = (s.splat(1.0), s.splat(2.0));
            assert_eq!(lane(s.select_lt(va, vb, t, o)), if a < b { 1.0 } else { 2.0 });
            assert_eq!(lane(s.select_eq(va, vb, t, o)), if a == b { 1.0 } else { 2.0 });
            assert_eq!(lane(s.select_nan(va, t, o)), if a.is_nan() { 1.0 } else { 2.0 });
        }
    }
    for n in -127i32..=127 {
        let shifted = s.splat(n as f32 + super::ROUNDING_SHIFTER);
        let want = if n == -127 { 0.0 } else { libm::exp2f(n as f32) };
        assert_eq!(s.to_array(s.pow2_of_shifted(shifted))[0], want, "{} 2^{n}", S::BACKEND);
    }
}

#[test]
fn selections_and_powers_of_two_follow_the_documented_semantics() {
    each_backend!(|s| selections(s));
}

#[test]
fn every_supported_backend_runs_here() {
    let mut seen = 0;
    each_backend!(|s| {
        seen += 1;
        let _ = s;
    });
    assert_eq!(seen, super::Backend::ALL.iter().filter(|b| b.is_supported()).count());
    assert!(seen >= 1);
}

fn widening<const L: usize, S: Simd<L>>(s: S) {
    use crate::element::{Bf16, F16};
    for first in (0..=u16::MAX as usize).step_by(L) {
        let bits: [u16; L] = core::array::from_fn(|i| (first + i) as u16);
        let halves = s.to_array(s.load_f16(&bits.map(F16::from_bits)));
        let brains = s.to_array(s.load_bf16(&bits.map(Bf16::from_bits)));
        for (i, &b) in bits.iter().enumerate() {
            assert_eq!(halves[i].to_bits(), F16::from_bits(b).to_f32().to_bits(), "{} f16 {b:#06x}", S::BACKEND);
            assert_eq!(brains[i].to_bits(), Bf16::from_bits(b).to_f32().to_bits(), "{} bf16 {b:#06x}", S::BACKEND);
        }
    }
}

#[test]
fn sixteen_bit_loads_widen_exactly_as_the_scalar_conversion() {
    each_backend!(|s| widening(s));
}
