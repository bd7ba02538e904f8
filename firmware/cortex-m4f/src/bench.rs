//! Instruction-count benchmark of sdpa's const-generic API (issue 13):
//! each workload's attention call runs once between the empty marker
//! functions [`bench_start`] and [`bench_stop`], so the QEMU plugin
//! `shared/tools/qemu-insn-count` counts exactly the instructions it
//! executes (per address and per control-flow edge). Without the plugin the
//! markers do nothing and this is a plain firmware that checks its outputs.
//!
//! The log names each counted region, in order, for
//! `firmware/scripts/insn_report.py`:
//!
//! ```text
//! bench region <n> empty                                   markers only
//! bench region <n> spin <iterations>                       2 instructions per iteration
//! bench region <n> <impl> <workload> <nq> <nk> <d> <dv> <causal>
//! bench output <impl> <workload> <fnv-1a of the output bits> <ok|FAIL>
//! ```
//!
//! The inputs are SplitMix64 streams (`inputs::uniform`, the same streams
//! and seeds as the C firmware `capi/tests/firmware/bench.c`) and the seed
//! toy; outputs are checked against numpy (the toy) and for plausibility
//! (every output inside its value column's range; the C firmware checks its
//! two implementations against a float64 reference).
//!
//! On the Cortex-M4F (`mps2-an386`) it runs all five workloads; on the
//! Cortex-M0 (`microbit`, 16 KiB of RAM, cfg `board_microbit` from build.rs)
//! the two small ones.
//!
//! Run from `firmware/`: `bash scripts/count.sh` (builds, runs with the
//! plugin, prints the table).

#![no_std]
#![no_main]

mod exit;
mod inputs;
mod spin;

use core::hint::black_box;
use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use inputs::{to_f32, uniform};
use sdpa::{Matrix, Options, attention};

#[allow(dead_code)] // WEIGHTS: the bench checks the fused output only
mod seed_toy {
    include!("../../../tests/data/seed_toy.rs");
}

/// Iterations of the spin region (the plugin must count exactly twice this).
const SPIN: u32 = 1000;

/// Counting begins when this function's first instruction executes. Its body
/// is an opaque use of a constant: the call cannot be optimized away, and the
/// two markers differ (identical bodies could be merged into one address).
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn bench_start() {
    black_box(0x5354_4152u32);
}

/// Counting ends when this function's first instruction executes.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn bench_stop() {
    black_box(0x5354_4f50u32);
}

// The workloads: the seed toy, causal top-left NQ = NK = 32 and 256 with
// D = DV = 16, a full 64 x 64 with D = DV = 32, a decode step (one query,
// 256 keys) with D = DV = 32. Seeds as in the C firmware.
static TOY_Q: Matrix<3, 4> = to_f32(&seed_toy::Q);
static TOY_K: Matrix<5, 4> = to_f32(&seed_toy::K);
static TOY_V: Matrix<5, 6> = to_f32(&seed_toy::V);
static C32_Q: Matrix<32, 16> = uniform(101);
static C32_K: Matrix<32, 16> = uniform(102);
static C32_V: Matrix<32, 16> = uniform(103);
#[cfg(not(board_microbit))]
static C256_Q: Matrix<256, 16> = uniform(201);
#[cfg(not(board_microbit))]
static C256_K: Matrix<256, 16> = uniform(202);
#[cfg(not(board_microbit))]
static C256_V: Matrix<256, 16> = uniform(203);
#[cfg(not(board_microbit))]
static F64_Q: Matrix<64, 32> = uniform(301);
#[cfg(not(board_microbit))]
static F64_K: Matrix<64, 32> = uniform(302);
#[cfg(not(board_microbit))]
static F64_V: Matrix<64, 32> = uniform(303);
#[cfg(not(board_microbit))]
static DEC_Q: Matrix<1, 32> = uniform(401);
#[cfg(not(board_microbit))]
static DEC_K: Matrix<256, 32> = uniform(402);
#[cfg(not(board_microbit))]
static DEC_V: Matrix<256, 32> = uniform(403);

// One attention instance per workload, each its own function (the
// disassembly and the per-function breakdown find them by name).
#[inline(never)]
fn sdpa_toy(q: &Matrix<3, 4>, k: &Matrix<5, 4>, v: &Matrix<5, 6>, out: &mut Matrix<3, 6>) {
    attention(q, k, v, out, &Options::new());
}

#[inline(never)]
fn sdpa_causal32(q: &Matrix<32, 16>, k: &Matrix<32, 16>, v: &Matrix<32, 16>, out: &mut Matrix<32, 16>) {
    attention(q, k, v, out, &Options::new().causal());
}

#[cfg(not(board_microbit))]
#[inline(never)]
fn sdpa_causal256(q: &Matrix<256, 16>, k: &Matrix<256, 16>, v: &Matrix<256, 16>, out: &mut Matrix<256, 16>) {
    attention(q, k, v, out, &Options::new().causal());
}

#[cfg(not(board_microbit))]
#[inline(never)]
fn sdpa_full64(q: &Matrix<64, 32>, k: &Matrix<64, 32>, v: &Matrix<64, 32>, out: &mut Matrix<64, 32>) {
    attention(q, k, v, out, &Options::new());
}

#[cfg(not(board_microbit))]
#[inline(never)]
fn sdpa_decode256(q: &Matrix<1, 32>, k: &Matrix<256, 32>, v: &Matrix<256, 32>, out: &mut Matrix<1, 32>) {
    attention(q, k, v, out, &Options::new());
}

/// Numbers the counted regions as the plugin does (from 0) and logs them.
struct Regions {
    next: u32,
    ok: bool,
}

impl Regions {
    /// One region: `label` in the log, then `f` between the markers.
    fn count(&mut self, label: core::fmt::Arguments<'_>, f: impl FnOnce()) {
        hprintln!("bench region {} {}", self.next, label);
        self.next += 1;
        bench_start();
        f();
        bench_stop();
    }

    /// One workload: `call` between the markers, then the output checks.
    /// The input references are hidden from the optimizer before counting.
    #[allow(clippy::too_many_arguments)]
    fn workload<const NQ: usize, const NK: usize, const D: usize, const DV: usize>(
        &mut self,
        name: &str,
        causal: bool,
        call: fn(&Matrix<NQ, D>, &Matrix<NK, D>, &Matrix<NK, DV>, &mut Matrix<NQ, DV>),
        q: &Matrix<NQ, D>,
        k: &Matrix<NK, D>,
        v: &Matrix<NK, DV>,
        out: &mut Matrix<NQ, DV>,
        expected: Option<&[f64]>,
    ) {
        let (q, k, v) = black_box((q, k, v));
        let label = format_args!("sdpa_rust {} {} {} {} {} {}", name, NQ, NK, D, DV, u8::from(causal));
        self.count(label, || call(q, k, v, &mut *out));
        let mut ok = plausible(out, v, causal);
        if let Some(want) = expected {
            ok &= out.as_slice().iter().zip(want).all(|(o, w)| (f64::from(*o) - w).abs() <= 1e-5);
        }
        hprintln!("bench output sdpa_rust {} {:#018x} {}", name, fnv1a(out.as_slice()), if ok { "ok" } else { "FAIL" });
        self.ok &= ok;
    }
}

#[entry]
fn main() -> ! {
    hprintln!("bench: sdpa_rust, backend {}", sdpa::backend());
    let mut regions = Regions { next: 0, ok: true };
    regions.count(format_args!("empty"), || {});
    regions.count(format_args!("spin {SPIN}"), || spin::spin(SPIN));

    let toy = seed_toy::OUT.as_flattened();
    let mut out = Matrix::<3, 6>::zeros();
    regions.workload("toy", false, sdpa_toy, &TOY_Q, &TOY_K, &TOY_V, &mut out, Some(toy));
    let mut out = Matrix::<32, 16>::zeros();
    regions.workload("causal32", true, sdpa_causal32, &C32_Q, &C32_K, &C32_V, &mut out, None);
    #[cfg(not(board_microbit))]
    {
        let mut out = Matrix::<256, 16>::zeros();
        regions.workload("causal256", true, sdpa_causal256, &C256_Q, &C256_K, &C256_V, &mut out, None);
        let mut out = Matrix::<64, 32>::zeros();
        regions.workload("full64", false, sdpa_full64, &F64_Q, &F64_K, &F64_V, &mut out, None);
        let mut out = Matrix::<1, 32>::zeros();
        regions.workload("decode256", false, sdpa_decode256, &DEC_Q, &DEC_K, &DEC_V, &mut out, None);
    }

    exit::finish!("bench", regions.ok)
}

/// Every output is finite and inside the range of the value rows its query
/// sees (a convex combination of value rows cannot leave it).
fn plausible<const NQ: usize, const NK: usize, const DV: usize>(
    out: &Matrix<NQ, DV>,
    v: &Matrix<NK, DV>,
    causal: bool,
) -> bool {
    out.rows().iter().enumerate().all(|(i, row)| {
        let seen = if causal { &v.rows()[..(i + 1).min(NK)] } else { v.rows() };
        row.iter().enumerate().all(|(c, x)| {
            let lo = seen.iter().map(|r| r[c]).fold(f32::INFINITY, f32::min);
            let hi = seen.iter().map(|r| r[c]).fold(f32::NEG_INFINITY, f32::max);
            x.is_finite() && *x >= lo - 1e-6 && *x <= hi + 1e-6
        })
    })
}

/// FNV-1a (64 bit) over the little-endian bytes of the values, as the C
/// firmware computes it: equal hashes mean bit-identical outputs.
fn fnv1a(values: &[f32]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in values.iter().flat_map(|x| x.to_bits().to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
