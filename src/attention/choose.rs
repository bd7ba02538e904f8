//! The one place that decides which engine runs a problem, once per call,
//! from an exhaustive look at its settings (a new setting does not compile
//! here until it is decided for). The choice depends on the problem and the
//! backend only, never on the rows asked for, so row ranges reassemble the
//! whole bit for bit.
//!
//! Keys and values stored in 16 bits ([`F16`](crate::F16),
//! [`Bf16`](crate::Bf16)) run on the row engine, whatever the shape: it
//! widens each K and V vector in registers as it loads it. (The tiled,
//! lanes and tiny engines read `f32` K/V; decode, where the bytes of K and
//! V bound the time, runs on the row engine anyway.)

use super::problem::{OutRows, Problem};
use super::{lanes, rows, tiled, tiny};
use crate::KvElement;
use crate::options::Settings;
use crate::parallel;
use crate::simd::Simd;

/// The attention engines (test support: see [`with_engine`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// Keys in lanes, for small const shapes with nothing masked.
    Tiny,
    /// Blocks of queries in lanes with GEMM register tiles; range masks only.
    Tiled,
    /// Four queries in lanes on the portable backend; range masks only.
    Lanes,
    /// One query row at a time; every mask, bias and ALiBi, and every
    /// problem with 16-bit keys and values.
    Rows,
}

/// What in a problem limits the engines that can take it.
struct Needs {
    /// A boolean mask, an additive bias or ALiBi: per-key masking or terms.
    per_key: bool,
    /// A causal mask or a window: key ranges per query.
    ranges: bool,
}

fn needs(problem: &Problem<'_>) -> Needs {
    // Exhaustive on purpose: a new setting must be decided for here.
    let Settings { scale: _, causal, alignment: _, window, alibi_slope } = problem.settings;
    Needs {
        per_key: problem.mask.is_some() || problem.bias.is_some() || alibi_slope.is_some(),
        ranges: causal || window.is_some(),
    }
}

/// Whether `engine` can compute `problem` on backend `S` (`tiny_fits`: the
/// const dimensions fit the tiny engine).
fn accepts<const L: usize, S: Simd<L>>(engine: Engine, problem: &Problem<'_>, tiny_fits: bool) -> bool {
    let needs = needs(problem);
    match engine {
        Engine::Tiny => tiny_fits && !needs.per_key && !needs.ranges,
        // The portable backend keeps the row engine: less stack and code.
        Engine::Tiled => S::REGISTERS >= 16 && !needs.per_key && tiled::fits(problem.d, problem.dv),
        // Its tiles are sized for the portable backend's registers.
        Engine::Lanes => S::REGISTERS < 16 && !needs.per_key && lanes::fits::<L>(problem.d, problem.dv),
        Engine::Rows => true,
    }
}

/// The engine for `problem`: the override of [`with_engine`] if it accepts
/// the problem, else tiny where it fits, tiled (SIMD hosts) where there are
/// queries to fill half a vector, lanes (the portable backend) where there
/// are three or more, else rows.
fn choose<const L: usize, S: Simd<L>>(problem: &Problem<'_>, tiny_fits: bool) -> Engine {
    #[cfg(feature = "std")]
    if let Some(engine) = OVERRIDE.with(|o| o.get()).filter(|&e| accepts::<L, S>(e, problem, tiny_fits)) {
        return engine;
    }
    if accepts::<L, S>(Engine::Tiny, problem, tiny_fits) {
        Engine::Tiny
    } else if accepts::<L, S>(Engine::Tiled, problem, tiny_fits) && problem.nq * 2 >= L {
        Engine::Tiled
    } else if accepts::<L, S>(Engine::Lanes, problem, tiny_fits) && problem.nq >= 3 {
        Engine::Lanes
    } else {
        Engine::Rows
    }
}

/// Multiply-adds below which a call is not split across threads.
const PARALLEL_MACS: usize = 1 << 21;

/// Rows `first_row ..` of `problem` into `out` with [`attend`], split over
/// blocks of rows on all cores with the `rayon` feature (same bits).
#[inline(always)]
pub(crate) fn attend_rows<const L: usize, S: Simd<L>, E: KvElement, T: tiny::Dims>(
    s: S,
    dims: T,
    problem: &Problem<'_, E>,
    first_row: usize,
    out: OutRows<'_>,
) {
    let rows = out.len().min(problem.nq.saturating_sub(first_row));
    parallel::row_blocks(out, rows, 2 * L, min_rows(problem), |first, part| {
        s.vectorize(
            #[inline(always)]
            || attend(s, dims, problem, first_row + first, part),
        )
    });
}

/// The fewest rows worth a parallel split: rows with at least
/// [`PARALLEL_MACS`] multiply-adds between them.
fn min_rows<E>(problem: &Problem<'_, E>) -> usize {
    let per_row = problem.nk.saturating_mul(problem.d + problem.dv).max(1);
    PARALLEL_MACS.div_ceil(per_row)
}

/// Rows `first_row ..` of `problem` into `out`, its dimensions as `dims`
/// has them: [`tiny::ConstDims`] specialises the tiny engine by const
/// dimensions ([`tiny::RuntimeDims`] reads the problem's; the other engines
/// are shared).
#[inline(always)]
pub(crate) fn attend<const L: usize, S: Simd<L>, E: KvElement, T: tiny::Dims>(
    s: S,
    dims: T,
    problem: &Problem<'_, E>,
    first_row: usize,
    out: OutRows<'_>,
) {
    let Some(problem) = problem.as_f32() else {
        return rows::attend(s, problem, first_row, out);
    };
    let problem = &problem;
    match choose::<L, S>(problem, dims.fits(problem)) {
        Engine::Tiny => tiny::attend(s, dims, problem, first_row, out),
        // The guards are constants of the backend: the engine a backend
        // never chooses is not compiled into it, whatever gets inlined.
        Engine::Tiled if S::REGISTERS >= 16 => tiled::attend(s, problem, first_row, out),
        Engine::Lanes if S::REGISTERS < 16 => lanes::attend(s, problem, first_row, out),
        Engine::Tiled | Engine::Lanes | Engine::Rows => rows::attend(s, problem, first_row, out),
    }
}

/// The fewest keys any engine folds into the online softmax at once on
/// `backend` (the rows engine's block of `4·L`; the tiled engine's tiles are
/// `TILE_KEYS` = 48, the tiny engine folds every key at once): the
/// error bounds count one rescale per such block.
#[cfg(feature = "std")]
pub fn min_block_keys(backend: crate::Backend) -> usize {
    rows::block_keys(backend.lanes()).min(tiled::TILE_KEYS)
}

#[cfg(feature = "std")]
std::thread_local! {
    static OVERRIDE: core::cell::Cell<Option<Engine>> = const { core::cell::Cell::new(None) };
}

/// Runs `f` with this thread's attention calls on `engine` wherever it
/// accepts the problem (elsewhere the usual choice), for tests that run
/// every engine on every problem it takes. Not a tuning knob: the
/// automatic choice is the fast one.
#[cfg(feature = "std")]
pub fn with_engine<R>(engine: Engine, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Engine>);
    impl Drop for Restore {
        fn drop(&mut self) {
            OVERRIDE.with(|o| o.set(self.0));
        }
    }
    let _restore = Restore(OVERRIDE.with(|o| o.replace(Some(engine))));
    f()
}
