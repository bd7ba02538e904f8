//! One decode step: the newest token attends to the cached prefix.

use super::rope::{Rotation, frequencies};
use super::{CacheError, DecodeScratch, Heads, KvCache, Positions, SelfAttention};
use crate::Alignment;
use crate::kernels::linear;
use crate::runtime::{self, Bias, Options, Shape};

impl<const D: usize, const QH: usize, const KVH: usize, const HD: usize> SelfAttention<'_, D, QH, KVH, HD> {
    /// One decode step for the token `x` at position
    /// [`cache.next_position()`](KvCache::next_position): projects its Q, K
    /// and V, appends K (after RoPE) and V to `cache`, attends its query to
    /// every cached token (causal by construction; the last `CAP` tokens in
    /// sliding mode) and writes the layer output to `out`. Returns the
    /// token's position.
    ///
    /// Gives the output row that [`forward`](Self::forward) with
    /// [`LayerMask::causal`](crate::layer::LayerMask::causal) gives for that
    /// position (with [`LayerMask::sliding_window`](crate::layer::LayerMask::sliding_window)`(CAP)`
    /// for a sliding cache), up to rounding: the single decode query may run
    /// on another attention engine than the forward's rows (bit for bit on
    /// the portable backend while the cache has not wrapped).
    ///
    /// # Errors
    /// [`CacheError::Full`] when a [`CacheMode::Fixed`](crate::layer::CacheMode::Fixed)
    /// cache holds `CAP` tokens; nothing is changed then.
    ///
    /// ```
    /// use sdpa::layer::{CacheError, DecodeScratch, KvCache, Positions, Rope, SelfAttention, Weights};
    /// let w: Vec<f32> = (0..64).map(|i| ((i % 9) as f32 - 4.0) * 0.1).collect();
    /// let layer = SelfAttention::new(Weights::<8, 2, 1, 4>::new(&w, &w[..32], &w[32..], &w).unwrap(), Positions::Rope(Rope::interleaved()));
    /// let mut cache = KvCache::<2, 1, 4>::new();
    /// let mut scratch = DecodeScratch::new();
    /// let mut out = [0.0; 8];
    /// let x = [0.5; 8];
    /// assert_eq!(layer.decode(&x, &mut out, &mut cache, &mut scratch), Ok(0));
    /// assert_eq!(layer.decode(&x, &mut out, &mut cache, &mut scratch), Ok(1));
    /// assert_eq!(layer.decode(&x, &mut out, &mut cache, &mut scratch), Err(CacheError::Full));
    /// ```
    pub fn decode<const CAP: usize>(
        &self,
        x: &[f32; D],
        out: &mut [f32; D],
        cache: &mut KvCache<CAP, KVH, HD>,
        scratch: &mut DecodeScratch<D, CAP>,
    ) -> Result<usize, CacheError> {
        let () = Heads::<D, QH, KVH, HD>::CHECK;
        let slot = cache.next_slot()?;
        let position = cache.next_position();
        let w = &self.weights;
        let s = scratch;

        let q_bias = w.q_bias.map(|b| b.as_flattened());
        linear(x, w.q.as_flattened().as_flattened(), q_bias, &mut s.q, D);
        let kv = cache.keys.iter_mut().zip(cache.values.iter_mut());
        for (g, ((keys, values), (wk, wv))) in kv.zip(w.k.iter().zip(w.v)).enumerate() {
            let bk = w.k_bias.and_then(|b| b.get(g)).map(|b| &b[..]);
            let bv = w.v_bias.and_then(|b| b.get(g)).map(|b| &b[..]);
            if let (Some(k), Some(v)) = (keys.rows_mut().get_mut(slot), values.rows_mut().get_mut(slot)) {
                linear(x, wk.as_flattened(), bk, k, D);
                linear(x, wv.as_flattened(), bv, v, D);
            }
        }
        if let Positions::Rope(rope) = self.positions {
            let turn = Rotation::<HD>::new(&rope, position, &frequencies::<HD>(&rope));
            for head in s.q.as_chunks_mut::<HD>().0 {
                turn.apply(head);
            }
            for keys in &mut cache.keys {
                if let Some(k) = keys.rows_mut().get_mut(slot) {
                    turn.apply(k);
                }
            }
        }
        cache.commit();

        let len = cache.len();
        let shape = Shape { queries: 1, keys: len, head_dim: HD, value_dim: HD };
        let heads = s.q.as_chunks::<HD>().0.iter().zip(s.merged.as_chunks_mut::<HD>().0);
        for (h, (q, head_out)) in heads.enumerate() {
            let g = h / Heads::<D, QH, KVH, HD>::GROUP;
            let (Some(k), Some(v)) = (cache.keys(g), cache.values(g)) else {
                continue;
            };
            let mut options = Options::new().alignment(Alignment::BottomRight);
            if let Some(scale) = self.scale {
                options = options.scale(scale);
            }
            if let Some(slope) = self.alibi(h) {
                if cache.wrapped() {
                    // Ring order: distances from the absolute positions.
                    let newest = position % CAP + CAP;
                    for (slot, b) in s.bias.iter_mut().enumerate() {
                        *b = -(slope * ((newest - slot) % CAP) as f32);
                    }
                    options = options.bias(Bias::PerKey(s.bias.get(..len).unwrap_or_default()));
                } else {
                    // Slot j holds position j and the query sits on the last key.
                    options = options.alibi(slope);
                }
            }
            let (k, v) = (k.as_flattened(), v.as_flattened());
            runtime::attention(shape, q, k, v, head_out, &options).map_err(CacheError::Attention)?;
        }
        let o_bias = w.o_bias.map(|b| &b[..]);
        linear(&s.merged, w.o.as_flattened(), o_bias, out, D);
        Ok(position)
    }
}
