//! One decode step: the newest token attends to the cached prefix.

use super::forward::project;
use super::rope::{Rotation, frequencies};
use super::{CacheError, DecodeScratch, Heads, KvCache, Positions, SelfAttention};
use crate::KvElement;
use crate::attention::{OutRows, Problem, Rows, RuntimeDims, choose};
use crate::options::{Alignment, Bias, Settings};
use crate::simd::{Simd, dispatch};

impl<const D: usize, const QH: usize, const KVH: usize, const HD: usize> SelfAttention<'_, D, QH, KVH, HD> {
    /// One decode step for the token `x` at position
    /// [`cache.next_position()`](KvCache::next_position): projects its Q, K
    /// and V, appends K (after RoPE) and V to `cache`, attends its query to
    /// every cached token (causal by construction; the last `CAP` tokens in
    /// sliding mode) and writes the layer output to `out`. Returns the
    /// token's position. With a 16-bit cache ([`KvCache`]'s `E`) the
    /// new K and V are computed in `f32` and rounded as they are stored.
    ///
    /// Gives the output row that [`forward`](Self::forward) with
    /// [`LayerMask::causal`](crate::layer::LayerMask::causal) gives for that
    /// position (with [`LayerMask::sliding_window`](crate::layer::LayerMask::sliding_window)`(CAP)`
    /// for a sliding cache), up to rounding: the single decode query may run
    /// on another attention engine than the forward's rows, summing in
    /// another order (on every backend, the portable one included).
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
    pub fn decode<const CAP: usize, E: KvElement>(
        &self,
        x: &[f32; D],
        out: &mut [f32; D],
        cache: &mut KvCache<CAP, KVH, HD, E>,
        scratch: &mut DecodeScratch<D, CAP>,
    ) -> Result<usize, CacheError> {
        let () = Heads::<D, QH, KVH, HD>::CHECK;
        let slot = cache.next_slot()?;
        let position = cache.next_position();
        dispatch!(|s| self.decode_with(s, x, out, cache, scratch, slot));
        Ok(position)
    }

    /// [`decode`](Self::decode) on backend `s`, into cache slot `slot`.
    #[inline(always)]
    fn decode_with<const L: usize, S: Simd<L>, const CAP: usize, E: KvElement>(
        &self,
        s: S,
        x: &[f32; D],
        out: &mut [f32; D],
        cache: &mut KvCache<CAP, KVH, HD, E>,
        scratch: &mut DecodeScratch<D, CAP>,
        slot: usize,
    ) {
        let w = &self.weights;
        let position = cache.next_position();
        let turn = match self.positions {
            Positions::Rope(rope) => Some(Rotation::<HD>::new(&rope, position, &frequencies::<HD>(&rope))),
            _ => None,
        };
        project(s, x, w.q.as_flattened().as_flattened(), w.q_bias.map(|b| b.as_flattened()), &mut scratch.q, D);
        if let Some(turn) = &turn {
            for head in scratch.q.as_chunks_mut::<HD>().0 {
                turn.apply(head);
            }
        }
        let kv = cache.keys.iter_mut().zip(cache.values.iter_mut());
        for (g, ((keys, values), (wk, wv))) in kv.zip(w.k.iter().zip(w.v)).enumerate() {
            let bk = w.k_bias.and_then(|b| b.get(g)).map(|b| &b[..]);
            let bv = w.v_bias.and_then(|b| b.get(g)).map(|b| &b[..]);
            if let (Some(k), Some(v)) = (keys.get_mut(slot), values.get_mut(slot)) {
                // Computed in f32 (K after RoPE), then rounded to the cache's type.
                let (mut kf, mut vf) = ([0.0; HD], [0.0; HD]);
                project(s, x, wk.as_flattened(), bk, &mut kf, HD);
                project(s, x, wv.as_flattened(), bv, &mut vf, HD);
                if let Some(turn) = &turn {
                    turn.apply(&mut kf);
                }
                *k = kf.map(E::from_f32);
                *v = vf.map(E::from_f32);
            }
        }
        cache.commit();

        let len = cache.len();
        let heads = scratch.q.as_chunks::<HD>().0.iter().zip(scratch.merged.as_chunks_mut::<HD>().0);
        for (h, (q, head_out)) in heads.enumerate() {
            let g = h / Heads::<D, QH, KVH, HD>::GROUP;
            let (Some(k), Some(v)) = (cache.keys(g), cache.values(g)) else {
                continue;
            };
            let slope = self.alibi(h);
            let mut settings = Settings { scale: self.scale, alignment: Alignment::BottomRight, ..Settings::default() };
            let mut bias = None;
            match slope {
                // Ring order: distances from the absolute positions.
                Some(slope) if cache.wrapped() => {
                    let distances = scratch.bias.get_mut(..len).unwrap_or_default();
                    cache.alibi_bias(slope, distances);
                    bias = Some(Bias::PerKey(distances));
                }
                // Slot j holds position j and the query sits on the last key.
                _ => settings.alibi_slope = slope,
            }
            let problem = Problem {
                nq: 1,
                nk: len,
                d: HD,
                dv: HD,
                q: Rows::contiguous(q, HD),
                k: Rows::contiguous(k.as_flattened(), HD),
                v: Rows::contiguous(v.as_flattened(), HD),
                settings,
                mask: None,
                bias,
            };
            choose::attend(s, RuntimeDims, &problem, 0, OutRows::contiguous(head_out, HD));
        }
        project(s, &scratch.merged, w.o.as_flattened(), w.o_bias.map(|b| &b[..]), out, D);
    }
}
