//! The code-size probes' common program (`src/bin/size_*.rs`): each probe
//! is a minimal cortex-m-rt firmware whose `main` runs some of the parts
//! below, inlined, then loops. `.ci/firmware.sh` subtracts their `.text`
//! sizes (arm-none-eabi-size):
//!
//! | probe | parts | difference measured |
//! |---|---|---|
//! | size_base | `base` | |
//! | size_one | `one` | one attention instance: size_one − size_base |
//! | size_two | `one`, `second` | a second shape: size_two − size_one |
//! | size_three | `one`, `second`, `third` | a third shape: size_three − size_two |
//! | size_same | `one`, `same` | a shape on the first one's engine: size_same − size_one |
//! | size_decode | `base`, `decode` | one layer decode instance: size_decode − size_base |
//!
//! Inputs go through `black_box`, so nothing is constant-folded away; the
//! baseline builds and hides the first shape's inputs without calling
//! attention, so the first difference is the attention call alone. The
//! parts are statement macros, expanded one after the other into `main`
//! (every part's locals live to the end of `main`, as in one hand-written
//! function, so the stack layout and the code are those of one).

// Each probe expands some of the parts and uses only their items.
#![allow(unused_macros, unused_imports, dead_code)]

use sdpa::layer::{Positions, Rope, SelfAttention, Weights};

/// The program of a probe: `main` runs the given parts in order, then
/// loops; panics loop too.
macro_rules! probe {
    ($($part:ident),+) => {
        // What the parts name (each probe uses some).
        #[allow(unused_imports)]
        use core::hint::black_box;
        #[allow(unused_imports)]
        use probe::{LAYER, LAYER_CAP, LAYER_D, LAYER_HD, LAYER_HEADS, Layer};
        #[allow(unused_imports)]
        use sdpa::layer::{DecodeScratch, KvCache};
        #[allow(unused_imports)]
        use sdpa::{Alignment, Matrix, Options, attention};

        #[cortex_m_rt::entry]
        fn main() -> ! {
            $(probe::$part!();)+
            #[allow(clippy::empty_loop)]
            loop {}
        }

        #[panic_handler]
        fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
            #[allow(clippy::empty_loop)]
            loop {}
        }
    };
}
pub(crate) use probe;

/// The first shape's inputs and options, built and hidden; no attention.
macro_rules! base {
    () => {
        let q = black_box(Matrix::<32, 16>::zeros());
        let k = black_box(Matrix::<32, 16>::zeros());
        let v = black_box(Matrix::<32, 16>::zeros());
        let mut out = Matrix::<32, 16>::zeros();
        black_box((&q, &k, &v, &mut out, &Options::<32, 32>::new().causal()));
        black_box(&out);
    };
}
pub(crate) use base;

/// One attention call on hidden zero inputs: Q is `NQ x D`, K `NK x D`, V
/// `NK x DV`, with `options`; the output is hidden after the call. Each
/// expansion's locals are its own and live to the end of `main`.
macro_rules! attend {
    (NQ $nq:literal, NK $nk:literal, D $d:literal, DV $dv:literal, $options:expr) => {
        let q = black_box(Matrix::<$nq, $d>::zeros());
        let k = black_box(Matrix::<$nk, $d>::zeros());
        let v = black_box(Matrix::<$nk, $dv>::zeros());
        let mut out = Matrix::<$nq, $dv>::zeros();
        attention(&q, &k, &v, &mut out, &$options);
        black_box(&out);
    };
}
pub(crate) use attend;

/// The first shape: causal, NQ = NK = 32, D = DV = 16.
macro_rules! one {
    () => {
        probe::attend!(NQ 32, NK 32, D 16, DV 16, Options::new().causal());
    };
}
pub(crate) use one;

/// The second shape: a decode step, NQ = 1, NK = 128, D = DV = 32.
macro_rules! second {
    () => {
        probe::attend!(NQ 1, NK 128, D 32, DV 32, Options::new().causal().alignment(Alignment::BottomRight));
    };
}
pub(crate) use second;

/// The third shape: the seed toy, NQ = 3, NK = 5, D = 4, DV = 6.
macro_rules! third {
    () => {
        probe::attend!(NQ 3, NK 5, D 4, DV 6, Options::new());
    };
}
pub(crate) use third;

/// A shape on the first shape's engine (lanes): causal, NQ = NK = 64, D = DV = 16.
macro_rules! same {
    () => {
        probe::attend!(NQ 64, NK 64, D 16, DV 16, Options::new().causal());
    };
}
pub(crate) use same;

/// Width, heads and head size of the decode probe's layer (multi-head, no GQA).
pub const LAYER_D: usize = 32;
pub const LAYER_HEADS: usize = 2;
pub const LAYER_HD: usize = 16;
/// Tokens its KV cache holds.
pub const LAYER_CAP: usize = 32;
pub type Layer = SelfAttention<'static, LAYER_D, LAYER_HEADS, LAYER_HEADS, LAYER_HD>;

/// The layer's packed weights (Q, K, V, O; no biases), in flash.
static LAYER_WEIGHTS: [f32; Weights::<'static, LAYER_D, LAYER_HEADS, LAYER_HEADS, LAYER_HD>::packed_len(false)] =
    [0.5; Weights::<'static, LAYER_D, LAYER_HEADS, LAYER_HEADS, LAYER_HD>::packed_len(false)];
/// The layer, with RoPE (half-split, as Llama), built at compile time.
pub static LAYER: Layer = match Weights::from_packed(&LAYER_WEIGHTS, false) {
    Ok(w) => SelfAttention::new(w, Positions::Rope(Rope::half_split())),
    Err(_) => panic!("LAYER_WEIGHTS has the wrong length"),
};

/// One decode step of a small layer: D 32, 2 heads of 16, KV cache of 32
/// tokens, RoPE. The layer is reached through `black_box`, so its weights
/// are unknown to the optimizer, as are the token and the cache.
macro_rules! decode {
    () => {
        let layer: &Layer = black_box(&LAYER);
        let x = black_box([0.25f32; LAYER_D]);
        let mut out = [0.0f32; LAYER_D];
        let mut cache = KvCache::<LAYER_CAP, LAYER_HEADS, LAYER_HD>::new();
        let mut scratch = DecodeScratch::<LAYER_D, LAYER_CAP>::new();
        black_box((&mut cache, &mut scratch));
        let position = layer.decode(&x, &mut out, &mut cache, &mut scratch);
        black_box((&out, &position));
    };
}
pub(crate) use decode;
