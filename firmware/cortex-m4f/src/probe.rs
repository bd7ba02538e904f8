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

/// The first shape: causal, NQ = NK = 32, D = DV = 16.
macro_rules! one {
    () => {
        let q = black_box(Matrix::<32, 16>::zeros());
        let k = black_box(Matrix::<32, 16>::zeros());
        let v = black_box(Matrix::<32, 16>::zeros());
        let mut out = Matrix::<32, 16>::zeros();
        attention(&q, &k, &v, &mut out, &Options::new().causal());
        black_box(&out);
    };
}
pub(crate) use one;

/// The second shape: a decode step, NQ = 1, NK = 128, D = DV = 32.
macro_rules! second {
    () => {
        let q1 = black_box(Matrix::<1, 32>::zeros());
        let k1 = black_box(Matrix::<128, 32>::zeros());
        let v1 = black_box(Matrix::<128, 32>::zeros());
        let mut out1 = Matrix::<1, 32>::zeros();
        attention(&q1, &k1, &v1, &mut out1, &Options::new().causal().alignment(Alignment::BottomRight));
        black_box(&out1);
    };
}
pub(crate) use second;

/// The third shape: the seed toy, NQ = 3, NK = 5, D = 4, DV = 6.
macro_rules! third {
    () => {
        let q2 = black_box(Matrix::<3, 4>::zeros());
        let k2 = black_box(Matrix::<5, 4>::zeros());
        let v2 = black_box(Matrix::<5, 6>::zeros());
        let mut out2 = Matrix::<3, 6>::zeros();
        attention(&q2, &k2, &v2, &mut out2, &Options::new());
        black_box(&out2);
    };
}
pub(crate) use third;

/// A shape on the first shape's engine (lanes): causal, NQ = NK = 64, D = DV = 16.
macro_rules! same {
    () => {
        let q3 = black_box(Matrix::<64, 16>::zeros());
        let k3 = black_box(Matrix::<64, 16>::zeros());
        let v3 = black_box(Matrix::<64, 16>::zeros());
        let mut out3 = Matrix::<64, 16>::zeros();
        attention(&q3, &k3, &v3, &mut out3, &Options::new().causal());
        black_box(&out3);
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
