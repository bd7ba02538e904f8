//! Exhaustive accuracy of `sdpa::kernels::exp` against `f64::exp`, over every
//! `f32` in the working range `[-87.3, 0]` (about 1.1·10⁹ values), on every
//! backend this machine runs.
//!
//! The backends round in two ways only: with a fused multiply-add (AVX2 and
//! AVX-512 on x86-64, NEON) or without (the portable backend, SSE2). Each
//! sweep runs once per rounding, on the first supported backend that rounds
//! that way (the others of the same rounding give the same bits: checked on
//! a sample by `same_rounding_same_bits`). The backend is chosen with
//! `sdpa::set_backend`, process-wide, so the sweep's worker threads use it
//! too; the tests that switch it take `BACKEND` first.
//!
//! `wide`'s own `exp` is the accuracy peer, compared only where it rounds
//! as the backend does: `wide::f32x4` without FMA (x86-64 builds without
//! the `fma` target feature) against the unfused backends.
//!
//! Runs in release builds only (`cargo test --release`); a debug build would
//! take hours. Prints the measured maximum so the figures of docs/ACCURACY.md can be
//! reproduced: `cargo test --release --test exp_exhaustive -- --nocapture`.

use sdpa::Backend;
use sdpa::kernels::{exp, exp_in_place};
use std::sync::Mutex;

/// Held by every test that switches the process's backend.
static BACKEND: Mutex<()> = Mutex::new(());

/// One supported backend per way of rounding (`fused_mul_add`), widest first.
fn one_per_rounding() -> Vec<Backend> {
    let mut picked: Vec<Backend> = Vec::new();
    for b in Backend::ALL.into_iter().rev().filter(|b| b.is_supported()) {
        if !picked.iter().any(|p| p.fused_mul_add() == b.fused_mul_add()) {
            picked.push(b);
        }
    }
    picked
}

/// Runs `f` on backend `b` (process-wide), then goes back to the widest.
fn on_backend<R>(b: Backend, f: impl FnOnce() -> R) -> R {
    sdpa::set_backend(Some(b)).expect("a supported backend");
    let r = f();
    sdpa::set_backend(None).expect("no limit");
    r
}

/// Whether `wide::f32x4` rounds as backend `b`: both without FMA.
fn wide_rounds_like(b: Backend) -> bool {
    !b.fused_mul_add() && cfg!(all(any(target_arch = "x86_64", target_arch = "x86"), not(target_feature = "fma")))
}

/// The bound the tests enforce, in units in the last place of the exact result.
const MAX_ULP: f64 = 2.0;

/// One ulp of the exact positive `want` as an `f32`: `2^(⌊log₂ want⌋ − 23)`,
/// read from the f64 exponent bits (subnormal results: the smallest
/// subnormal, `2⁻¹⁴⁹`).
fn ulp_of(want: f64) -> f64 {
    let exponent = ((want.to_bits() >> 52) & 0x7ff) as i64 - 1023;
    f64::from_bits(((exponent.max(-126) - 23 + 1023) as u64) << 52)
}

/// What one pass over a range of inputs measured.
#[derive(Clone, Copy, Default)]
struct Stats {
    /// Worst error of `sdpa::kernels::exp` and its input.
    sdpa: (f64, f32),
    /// Worst error of `wide`'s `exp` at the backend's lane count.
    wide: (f64, f32),
    /// Inputs `x` (in bit order) where `sdpa`'s exp moves against `x`.
    non_monotone: u64,
}

impl Stats {
    fn merge(self, other: Stats) -> Stats {
        let worse = |a: (f64, f32), b: (f64, f32)| if b.0 > a.0 { b } else { a };
        Stats {
            sdpa: worse(self.sdpa, other.sdpa),
            wide: worse(self.wide, other.wide),
            non_monotone: self.non_monotone + other.non_monotone,
        }
    }
}

/// `wide`'s own `exp` over `xs`, four lanes at a time (`wide::f32x4`).
fn wide_exp(xs: &[f32], out: &mut [f32]) {
    xs.chunks_exact(4)
        .zip(out.chunks_exact_mut(4))
        .for_each(|(x, y)| y.copy_from_slice(&wide::f32x4::new(x.try_into().unwrap()).exp().to_array()));
}

/// Every `f32` bit pattern `lo..=hi` (one sign), through the crate's
/// vectorized exp and `wide`'s exp, against one f64
/// reference per input; also counts steps where the crate's exp is not
/// monotone (`e^x` must not decrease as `x` grows).
fn measure(lo: u32, hi: u32) -> Stats {
    let mut stats = Stats::default();
    let mut buf = [0.0f32; 4096];
    let mut theirs = [0.0f32; 4096];
    // Bits grow with |x|: for negative x, e^x must not grow with the bits.
    let negative = f32::from_bits(lo).is_sign_negative();
    let mut previous: Option<f32> = None;
    let mut bits = lo;
    loop {
        let n = ((hi - bits) as usize + 1).min(buf.len());
        for (i, x) in buf[..n].iter_mut().enumerate() {
            *x = f32::from_bits(bits + i as u32);
        }
        let inputs = buf;
        wide_exp(&inputs, &mut theirs);
        exp_in_place(&mut buf[..n]);
        for i in 0..n {
            let (x, y) = (inputs[i], buf[i]);
            let want = (x as f64).exp();
            let ulp = ulp_of(want);
            for (slot, got) in [(&mut stats.sdpa, y), (&mut stats.wide, theirs[i])] {
                let e = (got as f64 - want).abs() / ulp;
                if e > slot.0 || e.is_nan() {
                    *slot = (if e.is_nan() { f64::INFINITY } else { e }, x);
                }
            }
            if let Some(p) = previous
                && ((negative && y > p) || (!negative && y < p))
            {
                stats.non_monotone += 1;
            }
            previous = Some(y);
        }
        if hi - bits < n as u32 {
            return stats;
        }
        bits += n as u32;
    }
}

/// Splits the bit range over two threads (the CI machines have two cores);
/// the one step across the split is checked for monotonicity too.
fn measure_parallel(lo: u32, hi: u32) -> Stats {
    let mid = lo + (hi - lo) / 2;
    let upper = std::thread::spawn(move || measure(mid + 1, hi));
    let lower = measure(lo, mid);
    let upper = upper.join().expect("worker thread");
    let seam = measure(mid, mid + 1);
    lower.merge(upper).merge(Stats { non_monotone: seam.non_monotone, ..Stats::default() })
}

fn report(range: &str, count: u32, backend: Backend, stats: &Stats, unit: &str) {
    let peer = if wide_rounds_like(backend) {
        format!("wide f32x4 {:.3} {unit} at x = {:e}", stats.wide.0, stats.wide.1)
    } else {
        "wide: not compared (it rounds differently)".to_string()
    };
    println!(
        "exp on {range} ({count} values, backend {backend}, fused mul_add {}): sdpa {:.3} {unit} at x = {:e}; \
         {peer}; sdpa non-monotone steps: {}",
        backend.fused_mul_add(),
        stats.sdpa.0,
        stats.sdpa.1,
        stats.non_monotone
    );
}

/// Measures `lo..=hi` on one backend per rounding, and checks each.
fn sweep(range: &str, lo: u32, hi: u32, unit: &str, check: impl Fn(Backend, &Stats)) {
    let _guard = BACKEND.lock().unwrap_or_else(|e| e.into_inner());
    for b in one_per_rounding() {
        let stats = on_backend(b, || measure_parallel(lo, hi));
        report(range, hi - lo + 1, b, &stats, unit);
        check(b, &stats);
    }
}

#[test]
#[cfg_attr(debug_assertions, ignore = "exhaustive: run with --release")]
fn within_two_ulp_on_every_f32_in_minus_87_3_to_0() {
    // Negative floats: bits grow with magnitude, from -0.0 to -87.3.
    let (lo, hi) = ((-0.0f32).to_bits(), (-87.3f32).to_bits());
    sweep("[-87.3, 0]", lo, hi, "ulp", |b, stats| {
        let (worst, at) = stats.sdpa;
        assert!(worst <= MAX_ULP, "{b}: max error {worst} ulp at x = {at:e}");
        assert_eq!(stats.non_monotone, 0, "{b}: exp is not monotone on [-87.3, 0]");
        // docs/ACCURACY.md: where `wide` rounds as the backend does, the
        // crate's exp is as accurate as `wide`'s (within 0.01 ulp) on the
        // range softmax uses; it is kept for running the same algorithm on
        // every backend. If `wide` pulls ahead, reconsider.
        if wide_rounds_like(b) {
            assert!(
                worst <= stats.wide.0 + 0.01,
                "{b}: wide's exp is now more accurate ({} ulp): reconsider",
                stats.wide.0
            );
        }
    });
}

#[test]
#[cfg_attr(debug_assertions, ignore = "exhaustive: run with --release")]
fn within_two_ulp_on_every_positive_f32_below_overflow() {
    let (lo, hi) = (0.0f32.to_bits(), 88.72f32.to_bits());
    sweep("[0, 88.72]", lo, hi, "ulp", |b, stats| {
        let (worst, at) = stats.sdpa;
        assert!(worst <= MAX_ULP, "{b}: max error {worst} ulp at x = {at:e}");
        assert_eq!(stats.non_monotone, 0, "{b}: exp is not monotone on [0, 88.72]");
    });
}

#[test]
#[cfg_attr(debug_assertions, ignore = "exhaustive: run with --release")]
fn subnormal_results_within_one_unit_of_the_smallest_subnormal() {
    let (lo, hi) = ((-87.3f32).to_bits() + 1, (-103.98f32).to_bits());
    sweep("[-103.98, -87.3) (subnormal results)", lo, hi, "units of 2^-149", |b, stats| {
        let (worst, at) = stats.sdpa;
        assert_eq!(stats.non_monotone, 0, "{b}: exp is not monotone on [-103.98, -87.3)");
        // Below 2^-126 the result's ulp is 2^-149: one rounding of an accurate
        // significand is at most 1 unit off.
        assert!(worst <= 1.0, "{b}: max error {worst} at x = {at:e}");
    });
}

/// Backends of the same rounding give the same bits (on a sample of every
/// range), which is why one sweep per rounding covers them all.
#[test]
fn same_rounding_same_bits() {
    let _guard = BACKEND.lock().unwrap_or_else(|e| e.into_inner());
    let xs: Vec<f32> = (0..1 << 16).map(|i| f32::from_bits((i as u32).wrapping_mul(0x9e37_79b9) >> 1)).collect();
    let xs: Vec<f32> = xs.iter().flat_map(|&x| [x, -x]).collect();
    let on = |b: Backend| {
        on_backend(b, || {
            let mut ys = xs.clone();
            exp_in_place(&mut ys);
            ys.iter().map(|y| y.to_bits()).collect::<Vec<u32>>()
        })
    };
    for b in Backend::ALL.into_iter().filter(|b| b.is_supported()) {
        let first = one_per_rounding().into_iter().find(|p| p.fused_mul_add() == b.fused_mul_add()).unwrap();
        if first != b {
            let (mine, theirs) = (on(b), on(first));
            let differ = mine
                .iter()
                .zip(&theirs)
                .filter(|(a, c)| a != c && !(f32::from_bits(**a).is_nan() && f32::from_bits(**c).is_nan()))
                .count();
            assert_eq!(differ, 0, "{b} and {first} round alike but give different exp bits");
        }
    }
}

#[test]
fn ulp_of_matches_its_definition() {
    for want in [1.0f64, 1.5, 2.0, 0.75, 3e-39, 1e-44, 1e38, core::f64::consts::E] {
        let exponent = want.log2().floor().max(-126.0);
        assert_eq!(ulp_of(want), 2f64.powi(exponent as i32 - 23), "{want}");
    }
}

/// The special values, on every supported backend.
#[test]
fn special_values() {
    let _guard = BACKEND.lock().unwrap_or_else(|e| e.into_inner());
    for b in Backend::ALL.into_iter().filter(|b| b.is_supported()) {
        on_backend(b, special_values_here);
    }
}

fn special_values_here() {
    assert_eq!(exp(f32::NEG_INFINITY).to_bits(), 0.0f32.to_bits());
    assert_eq!(exp(0.0).to_bits(), 1.0f32.to_bits());
    assert_eq!(exp(-0.0).to_bits(), 1.0f32.to_bits());
    assert!(exp(f32::NAN).is_nan());
    assert!(exp(f32::from_bits(0xffc0_0001)).is_nan());
    assert_eq!(exp(f32::INFINITY), f32::INFINITY);
    for x in [-103.98f32, -104.0, -150.0, -1e10, -f32::MAX] {
        assert_eq!(exp(x).to_bits(), 0, "x = {x}");
    }
    for x in [88.73f32, 100.0, f32::MAX] {
        assert_eq!(exp(x), f32::INFINITY, "x = {x}");
    }
    assert_eq!(exp(-f32::from_bits(1)), 1.0);
    assert_eq!(exp(f32::from_bits(1)), 1.0);
}

/// Every input the working ranges leave out: each `f32` below `-103.98`
/// gives `+0`, each above `88.73` gives `+∞`, every NaN payload gives NaN.
#[test]
#[cfg_attr(debug_assertions, ignore = "exhaustive: run with --release")]
fn every_input_outside_the_working_range() {
    let check = |lo: u32, hi: u32, ok: fn(f32) -> bool, what: &str| {
        let mut buf = [0.0f32; 4096];
        let mut bits = lo;
        while bits <= hi {
            let n = ((hi - bits) as usize + 1).min(buf.len());
            for (i, x) in buf[..n].iter_mut().enumerate() {
                *x = f32::from_bits(bits + i as u32);
            }
            exp_in_place(&mut buf[..n]);
            if let Some(i) = buf[..n].iter().position(|y| !ok(*y)) {
                panic!("{what}: exp({:e}) = {:e}", f32::from_bits(bits + i as u32), buf[i]);
            }
            match bits.checked_add(n as u32) {
                Some(next) => bits = next,
                None => break,
            }
        }
    };
    let _guard = BACKEND.lock().unwrap_or_else(|e| e.into_inner());
    for b in one_per_rounding() {
        on_backend(b, || {
            let underflow = std::thread::spawn(move || {
                check((-103.98f32).to_bits() + 1, f32::NEG_INFINITY.to_bits(), |y| y.to_bits() == 0, "underflow")
            });
            check(88.73f32.to_bits(), f32::INFINITY.to_bits(), |y| y == f32::INFINITY, "overflow");
            check(f32::INFINITY.to_bits() + 1, 0x7fff_ffff, f32::is_nan, "NaN");
            check(f32::NEG_INFINITY.to_bits() + 1, u32::MAX, f32::is_nan, "negative NaN");
            underflow.join().expect("worker thread");
        });
    }
}

/// `wide`'s exp on the special values, for the comparison in docs/ACCURACY.md; the
/// crate's own are pinned by `special_values` above.
#[test]
fn wide_exp_special_values_are_reported() {
    let xs = [f32::NEG_INFINITY, -200.0, -100.0, -0.0, 0.0, f32::INFINITY, f32::NAN, 89.0];
    let mine: Vec<f32> = xs.iter().map(|x| exp(*x)).collect();
    let mut lanes = [0.0f32; 8];
    lanes.copy_from_slice(&xs);
    let wide8 = wide::f32x8::new(lanes).exp().to_array();
    println!("x: {xs:?}\nsdpa exp: {mine:?}\nwide f32x8 exp: {wide8:?}");
    for ((x, a), b) in xs.iter().zip(&mine).zip(&wide8) {
        if !(-103.0..=88.0).contains(x) && !x.is_nan() {
            assert!(a == b, "specials differ at {x}: sdpa {a}, wide {b}");
        }
    }
    // e^-100 is subnormal (3.7e-44): the crate keeps it, within one unit.
    assert!(mine[2] > 0.0);
}
