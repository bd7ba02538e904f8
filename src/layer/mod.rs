//! A multi-head self-attention layer on fixed-size storage: Q/K/V/O
//! projections in PyTorch `nn.Linear` layout, MHA/GQA/MQA heads,
//! RoPE/ALiBi/no positional encoding, encoder and decoder masks, and a
//! key/value cache with compile-time capacity for token-by-token decoding.
//!
//! - [`Weights`]: the four projections (and optional biases) borrowed from
//!   flat `f32` data in PyTorch layout, `const` constructors for flash.
//! - [`SelfAttention`]: the layer; [`SelfAttention::forward`] over a whole
//!   sequence with a [`LayerMask`], [`SelfAttention::decode`] for one token
//!   against a [`KvCache`].
//! - [`Scratch`], [`DecodeScratch`]: caller-owned working memory sized by
//!   the same const generics; nothing allocates.
//! - [`Positions`]: none, [`Rope`] (interleaved or half-split, base `θ`) or
//!   ALiBi with [`alibi_slope`]; [`sinusoidal`] encodings for inputs.
//!
//! Const parameters: `D` model width, `QH` query heads, `KVH` key/value
//! heads, `HD` head dimension, `T` tokens of a forward, `CAP` cache
//! capacity. `QH·HD = D` and `KVH` dividing `QH` are checked at compile time:
//!
//! ```compile_fail
//! // Two heads of dimension 2 do not make a width of 8: a compile error.
//! let scratch = sdpa::layer::Scratch::<4, 8, 2, 2, 2>::new();
//! ```
//!
//! ```
//! use sdpa::Matrix;
//! use sdpa::layer::{DecodeScratch, KvCache, LayerMask, Positions, Rope, Scratch, SelfAttention, Weights};
//!
//! // Width 8, 4 query heads sharing 2 kv heads (GQA) of dimension 2, RoPE.
//! let wq: Vec<f32> = (0..64).map(|i| ((i * 7 % 17) as f32 - 8.0) * 0.04).collect();
//! let wk: Vec<f32> = (0..32).map(|i| ((i * 3 % 13) as f32 - 6.0) * 0.05).collect();
//! let weights = Weights::<8, 4, 2, 2>::new(&wq, &wk, &wk, &wq).unwrap();
//! let layer = SelfAttention::new(weights, Positions::Rope(Rope::half_split()));
//!
//! // The whole sequence at once, causal.
//! let x = Matrix::<6, 8>::from_fn(|t, i| ((3 * t + i) as f32 * 0.21).cos());
//! let mut full = Matrix::zeros();
//! layer.forward(&x, &mut full, &LayerMask::causal(), &mut Scratch::new());
//!
//! // The same, one token at a time with the cache: equal up to rounding
//! // (one decode query may run on another attention engine than the
//! // forward's rows).
//! let mut cache = KvCache::<6, 2, 2>::new();
//! let mut scratch = DecodeScratch::new();
//! for (t, row) in x.rows().iter().enumerate() {
//!     let mut out = [0.0; 8];
//!     assert_eq!(layer.decode(row, &mut out, &mut cache, &mut scratch), Ok(t));
//!     assert!(out.iter().zip(&full.rows()[t]).all(|(a, b)| (a - b).abs() <= 1e-6));
//! }
//! ```

mod alibi;
mod decode;
mod forward;
mod kv_cache;
mod mask;
mod positions;
mod rope;
mod scratch;
mod sinusoidal;
mod weights;

pub use alibi::{alibi_slope, alibi_slopes};
pub use forward::SelfAttention;
pub use kv_cache::{CacheError, CacheMode, KvCache};
pub use mask::LayerMask;
pub use positions::Positions;
pub use rope::{Rope, RopeLayout};
pub use scratch::{DecodeScratch, Scratch};
pub use sinusoidal::{add_sinusoidal, sinusoidal};
pub use weights::{Tensor, Weights, WeightsError, f32s_from_le_bytes};

/// Compile-time checks of a layer shape.
pub(crate) struct Heads<const D: usize, const QH: usize, const KVH: usize, const HD: usize>;

impl<const D: usize, const QH: usize, const KVH: usize, const HD: usize> Heads<D, QH, KVH, HD> {
    /// Fails the build for zero sizes, heads that do not divide, or `QH·HD ≠ D`.
    pub(crate) const CHECK: () = {
        assert!(D > 0 && QH > 0 && KVH > 0 && HD > 0, "sdpa::layer: D, QH, KVH and HD must be non-zero");
        assert!(QH.is_multiple_of(KVH), "sdpa::layer: KVH must divide QH");
        assert!(QH * HD == D, "sdpa::layer: the width D must equal QH × HD");
    };

    /// Query heads per key/value head (`CHECK` rules out `KVH = 0`).
    pub(crate) const GROUP: usize = {
        let () = Self::CHECK;
        QH / KVH
    };
}
