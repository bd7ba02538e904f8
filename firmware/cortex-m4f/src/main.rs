//! sdpa on a Cortex-M4F: runs on QEMU's `mps2-an386` board and reports over
//! semihosting; exits with a failing status if any check fails.
//!
//! 1. the seed toy and a causal self-attention (NQ = NK = 32, D = DV = 16)
//!    against float64 values computed on the host (numpy for the toy, the
//!    generator `firmware/scripts/expected_values.py` for the causal case);
//! 2. stack high-water marks of the same attention at NK = 16, 32 and 256
//!    (they must agree within [`STACK_SLACK`] bytes);
//! 3. instructions executed per attention call (needs QEMU `-icount`).
//!
//! Run from `firmware/`: `cargo run --release --bin report`.

#![no_std]
#![no_main]

mod checks;
#[rustfmt::skip]
mod expected;
mod exit;
mod icount;
mod inputs;
mod spin;
mod stack;

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use inputs::uniform;
use sdpa::{Matrix, Options, attention};

const D: usize = 16;
const DV: usize = 16;
/// Largest allowed difference between the stack figures at NK = 16 and 256.
const STACK_SLACK: usize = 16;

// Inputs of the stack and instruction measurements, in flash.
static Q16: Matrix<16, D> = uniform(1);
static K16: Matrix<16, D> = uniform(2);
static V16: Matrix<16, DV> = uniform(3);
static Q256: Matrix<256, D> = uniform(4);
static K256: Matrix<256, D> = uniform(5);
static V256: Matrix<256, DV> = uniform(6);
static Q32: Matrix<32, D> = uniform(7);
static K32: Matrix<32, D> = uniform(8);
static V32: Matrix<32, DV> = uniform(9);
/// Key padding mask for the masked path: every third key is padding.
static KEEP16: [bool; 16] = keep_mask();
static KEEP256: [bool; 256] = keep_mask();

const fn keep_mask<const N: usize>() -> [bool; N] {
    let mut keep = [true; N];
    let mut j = 2;
    while j < N {
        keep[j] = false;
        j += 3;
    }
    keep
}

#[entry]
fn main() -> ! {
    hprintln!("sdpa firmware report: backend {}, Cortex-M4F (QEMU mps2-an386)", sdpa::backend());
    let mut ok = true;

    let seed = checks::seed_toy();
    ok &= verdict(
        seed.passed(),
        format_args!(
            "seed toy (NQ 3, NK 5, D 4, DV 6) vs numpy float64: max error out {:.1e}, out via weights {:.1e}, weights {:.1e} (tolerance {:.0e})",
            seed.out,
            seed.out_via_weights,
            seed.weights,
            checks::SEED_TOLERANCE
        ),
    );
    let causal = checks::causal();
    ok &= verdict(
        causal.passed(),
        format_args!(
            "causal self-attention (NQ = NK = 32, D = DV = 16) vs float64 reference: max error {:.1e}, worst row at {:.1}% of its bound; runtime API identical: {}",
            causal.max_error,
            100.0 * causal.worst_fraction_of_bound,
            causal.runtime_matches
        ),
    );

    ok &= stack_report();
    ok &= instruction_report();

    exit::finish!("firmware", ok)
}

fn verdict(passed: bool, line: core::fmt::Arguments<'_>) -> bool {
    hprintln!("  [{}] {}", if passed { "ok" } else { "FAIL" }, line);
    passed
}

/// Stack high-water marks at NK = 16, 32, 256; equal within [`STACK_SLACK`].
fn stack_report() -> bool {
    let mut out16 = Matrix::<16, DV>::zeros();
    let mut out32 = Matrix::<32, DV>::zeros();
    let mut out256 = Matrix::<256, DV>::zeros();
    let plain = [
        stack::high_water(&mut || attention(&Q16, &K16, &V16, &mut out16, &Options::new().causal())),
        stack::high_water(&mut || attention(&Q32, &K32, &V32, &mut out32, &Options::new().causal())),
        stack::high_water(&mut || attention(&Q256, &K256, &V256, &mut out256, &Options::new().causal())),
    ];
    let mut sane = plausible(&out16, &V16) && plausible(&out32, &V32) && plausible(&out256, &V256);
    let masked = [
        stack::high_water(&mut || {
            attention(&Q16, &K16, &V16, &mut out16, &Options::new().causal().key_mask(&KEEP16));
        }),
        stack::high_water(&mut || {
            attention(&Q256, &K256, &V256, &mut out256, &Options::new().causal().key_mask(&KEEP256));
        }),
    ];
    sane &= plausible(&out16, &V16) && plausible(&out256, &V256);
    hprintln!("  stack high-water mark of one attention call (causal, NQ = NK, D = DV = 16), painted stack:");
    let known = stack::self_test().unwrap_or(stack::WINDOW);
    let mut ok = sane
        & verdict(
            (1024..=1024 + 128).contains(&known),
            format_args!("stack meter self-test: a call with a 1024 B local array reads {known} B"),
        );
    match (plain, masked) {
        ([Some(s16), Some(s32), Some(s256)], [Some(m16), Some(m256)]) => {
            hprintln!("      NK = 16: {} B   NK = 32: {} B   NK = 256: {} B", s16, s32, s256);
            hprintln!("      with a key padding mask: NK = 16: {} B   NK = 256: {} B", m16, m256);
            let spread = s16.abs_diff(s256).max(m16.abs_diff(m256));
            ok &= verdict(
                spread <= STACK_SLACK && sane,
                format_args!(
                    "stack does not grow with NK: NK = 16 vs 256 differ by {} B (allowed {} B); outputs plausible: {}",
                    spread, STACK_SLACK, sane
                ),
            );
        }
        _ => ok &= verdict(false, format_args!("a call used all {} B of painted stack", stack::WINDOW)),
    }
    ok
}

/// Every output is finite and inside the range of its value column
/// (a convex combination of value rows cannot leave it).
fn plausible<const N: usize>(out: &Matrix<N, DV>, v: &Matrix<N, DV>) -> bool {
    (0..DV).all(|c| {
        let (lo, hi) =
            v.rows().iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), r| (lo.min(r[c]), hi.max(r[c])));
        out.rows().iter().all(|r| r[c].is_finite() && r[c] >= lo - 1e-6 && r[c] <= hi + 1e-6)
    })
}

/// Instructions per attention call, from SysTick under QEMU `-icount`.
fn instruction_report() -> bool {
    let Some(syst) = cortex_m::Peripherals::take().map(|p| p.SYST) else {
        return verdict(false, format_args!("SysTick unavailable"));
    };
    let Some(mut counter) = icount::Counter::calibrate(syst) else {
        hprintln!("  instruction counts skipped: timing is not deterministic (run QEMU with -icount shift=5)");
        return true;
    };
    let mut out32 = Matrix::<32, DV>::zeros();
    let mut out256 = Matrix::<256, DV>::zeros();
    let n32 = counter.instructions(&mut || attention(&Q32, &K32, &V32, &mut out32, &Options::new().causal()));
    let n256 = counter.instructions(&mut || attention(&Q256, &K256, &V256, &mut out256, &Options::new().causal()));
    hprintln!(
        "  instructions executed per call (QEMU -icount, SysTick calibrated at {:.4} ticks/instruction):",
        counter.ticks_per_instruction()
    );
    let mut ok = true;
    for (n, count) in [(32usize, n32), (256, n256)] {
        // Causal NQ = NK = n: query i sees i + 1 keys; each visible pair costs
        // D multiply-adds for its score and DV for its share of the output.
        let pairs = n * (n + 1) / 2;
        let macs = pairs * (D + DV);
        match count {
            Some(count) => hprintln!(
                "      causal NQ = NK = {:3}: {:8} instructions, {:6} visible pairs, {:7} MACs: {:.2} instructions/MAC, {:.1} instructions/pair",
                n,
                count,
                pairs,
                macs,
                count as f64 / macs as f64,
                count as f64 / pairs as f64
            ),
            None => ok &= verdict(false, format_args!("NK = {n}: SysTick wrapped")),
        }
    }
    ok & kernel_breakdown(&mut counter)
}

/// Instructions of the kernels on one block of 32 keys (D = DV = 16), to
/// see where an attention call spends them.
fn kernel_breakdown(counter: &mut icount::Counter) -> bool {
    use sdpa::kernels::{OnlineSoftmax, axpy_rows, dot_rows, exp_in_place};
    let query = Q32.rows()[0];
    let (keys, values) = (K32.as_slice(), V32.as_slice());
    let mut scores = [0.0f32; 32];
    let mut acc = [0.0f32; DV];
    let counts = [
        ("dot_rows (32 keys x 16: 512 MACs)", counter.instructions(&mut || dot_rows(&query, keys, &mut scores))),
        ("exp_in_place (32 scores)", counter.instructions(&mut || exp_in_place(&mut scores))),
        ("axpy_rows (32 rows x 16: 512 MACs)", counter.instructions(&mut || axpy_rows(&mut acc, &scores, values))),
        (
            "OnlineSoftmax::accumulate (max, exp, sum, rescale, axpy_rows)",
            counter.instructions(&mut || {
                let mut state = OnlineSoftmax::new();
                state.accumulate(&mut scores, values, &mut acc);
            }),
        ),
    ];
    hprintln!("  instructions of the kernels on one block of 32 keys, D = DV = 16:");
    let mut ok = true;
    for (what, count) in counts {
        match count {
            Some(n) => hprintln!("      {:8} {}", n, what),
            None => ok &= verdict(false, format_args!("{what}: SysTick wrapped")),
        }
    }
    ok
}
