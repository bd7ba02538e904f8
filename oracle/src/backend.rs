//! Which sdpa backend and attention engine a test runs on, read from sdpa's
//! public API, and the loops that run a test body on every backend this
//! build and CPU support, and on every attention engine.
//!
//! # The engine model
//!
//! sdpa picks one of three attention engines per call
//! (`src/attention/choose.rs`); a test can force one with
//! `sdpa::__engines::with_engine`, which takes effect only where that engine
//! accepts the problem. [`engine_for`] restates that choice from the
//! problem's settings, so a test knows which engine ran and so whether two
//! calls ran on the same one (a property that holds bit for bit on one
//! engine holds only within a bound across two). It is a model, written from
//! the documented rules, not read from the library; `tests/engines.rs`
//! checks it against the library: where it says an override is refused,
//! the result must be the unforced one bit for bit, and where it says two
//! engines run, their bits must differ on random data.

use crate::problem::Problem;
pub use sdpa::__engines::{Engine, min_block_keys};
use sdpa::Backend;
use std::cell::Cell;

/// Lanes of the backend the calling thread runs (the portable scalar
/// backend has 4).
pub fn lanes() -> usize {
    sdpa::backend().lanes()
}

/// Whether the backend the calling thread runs fuses multiply-adds
/// (`mul_add` rounds once).
pub fn fused() -> bool {
    sdpa::backend().fused_mul_add()
}

/// Every backend this build compiled and this CPU runs, narrowest first.
pub fn supported() -> Vec<Backend> {
    Backend::ALL.into_iter().filter(|b| b.is_supported()).collect()
}

/// Every attention engine, in the order the loops run them.
pub const ENGINES: [Engine; 4] = [Engine::Tiny, Engine::Tiled, Engine::Lanes, Engine::Rows];

/// A short name of a backend's arithmetic: the backend's name, with
/// `-fma` where its multiply-add fuses (`f32x4` fuses in some builds and
/// not in others, so the two must not be compared bit for bit).
pub fn arithmetic(b: Backend) -> String {
    format!("{}{}", b, if b.fused_mul_add() { "-fma" } else { "" })
}

/// Runs `body` once per supported backend, with this thread's sdpa calls
/// limited to it, and returns what each run gave (in [`supported`] order).
/// A failing assertion names the backend.
pub fn each_backend<R>(mut body: impl FnMut(Backend) -> R) -> Vec<R> {
    supported()
        .into_iter()
        .map(|b| {
            sdpa::with_backend(b, || {
                let guard = Named(format!("sdpa's {b} backend"));
                let r = body(b);
                core::mem::forget(guard);
                r
            })
            .expect("a supported backend")
        })
        .collect()
}

std::thread_local! {
    static FORCED: Cell<Option<Engine>> = const { Cell::new(None) };
}

/// The engine this thread's calls are forced onto by [`with_engine`] (or
/// [`each_engine`]), if any.
pub fn forced_engine() -> Option<Engine> {
    FORCED.with(|f| f.get())
}

/// `sdpa::__engines::with_engine`, remembered for [`engine`]: runs `f` with
/// this thread's attention calls on `engine` wherever it accepts the problem.
pub fn with_engine<R>(engine: Engine, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Engine>);
    impl Drop for Restore {
        fn drop(&mut self) {
            FORCED.with(|f| f.set(self.0));
        }
    }
    let _restore = Restore(FORCED.with(|f| f.replace(Some(engine))));
    sdpa::__engines::with_engine(engine, f)
}

/// Runs `body` once per engine of [`ENGINES`], each forced with
/// [`with_engine`]; a failing assertion names the engine.
pub fn each_engine<R>(mut body: impl FnMut(Engine) -> R) -> Vec<R> {
    ENGINES
        .into_iter()
        .map(|e| {
            with_engine(e, || {
                let guard = Named(format!("the {e:?} engine (forced where it accepts the problem)"));
                let r = body(e);
                core::mem::forget(guard);
                r
            })
        })
        .collect()
}

/// [`each_backend`] × [`each_engine`]: every supported backend with every
/// engine forced.
pub fn each_backend_and_engine<R>(mut body: impl FnMut(Backend, Engine) -> R) -> Vec<R> {
    each_backend(|b| each_engine(|e| body(b, e))).into_iter().flatten().collect()
}

/// Head dimensions the tiled engine is specialised for (with `D = DV`).
pub const TILED_SIZES: [usize; 8] = [16, 32, 48, 64, 80, 96, 128, 256];

/// Whether engine `engine` accepts `problem` on `backend` (the model of
/// `accepts` in `src/attention/choose.rs`): the tiny engine takes problems
/// whose key count, head and value dimensions are each at most 16 with no
/// per-key term (boolean mask, additive bias, ALiBi) and no key range
/// (causal, window); the tiled engine takes problems without a per-key term
/// with `D = DV` one of [`TILED_SIZES`], on every backend but the portable
/// one; the lanes engine takes problems without a per-key term whose head
/// dimension is a multiple of 4 and value dimension a multiple of the
/// lanes, on the portable backend only; the row engine takes everything.
/// A mask or bias counts as present even when it masks or adds nothing,
/// and ALiBi even with slope 0: the choice looks at the options, not at
/// their values.
pub fn accepts(engine: Engine, problem: &Problem<'_>, backend: Backend) -> bool {
    let per_key = problem.mask.is_some() || problem.bias.is_some() || problem.settings.alibi_slope.is_some();
    let ranges = problem.settings.causal || problem.settings.window.is_some();
    let portable = backend == Backend::Scalar;
    match engine {
        Engine::Tiny => problem.nk <= 16 && problem.d <= 16 && problem.dv <= 16 && !per_key && !ranges,
        Engine::Tiled => !portable && !per_key && problem.d == problem.dv && TILED_SIZES.contains(&problem.d),
        Engine::Lanes => {
            portable && !per_key && problem.d.is_multiple_of(4) && problem.dv.is_multiple_of(backend.lanes())
        }
        Engine::Rows => true,
    }
}

/// The engine sdpa runs `problem` on with `backend` and `forced` (the model
/// of `choose`): the forced engine where it accepts the problem, else tiny
/// where it accepts it, else tiled where it accepts it and the problem has
/// at least half a vector of queries (`2·NQ ≥ L`), else lanes where it
/// accepts it and there are three queries or more, else rows. The whole
/// problem decides, never the rows asked for (`attention_rows`).
pub fn engine_for(problem: &Problem<'_>, backend: Backend, forced: Option<Engine>) -> Engine {
    if let Some(e) = forced.filter(|&e| accepts(e, problem, backend)) {
        return e;
    }
    if accepts(Engine::Tiny, problem, backend) {
        Engine::Tiny
    } else if accepts(Engine::Tiled, problem, backend) && 2 * problem.nq >= backend.lanes() {
        Engine::Tiled
    } else if accepts(Engine::Lanes, problem, backend) && problem.nq >= 3 {
        Engine::Lanes
    } else {
        Engine::Rows
    }
}

/// The engine the calling thread's next call on `problem` runs: its backend
/// (`sdpa::backend()`) and its forced engine ([`forced_engine`]).
pub fn engine(problem: &Problem<'_>) -> Engine {
    engine_for(problem, sdpa::backend(), forced_engine())
}

/// Prints where a panicking test body ran.
struct Named(String);

impl Drop for Named {
    fn drop(&mut self) {
        eprintln!("(the failure above ran on {})", self.0);
    }
}
