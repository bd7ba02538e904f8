//! The self-attention layer with every dimension chosen at run time.
//!
//! [`sdpa::layer::SelfAttention`] takes its sizes as const generics (and
//! its token count too), which a C library cannot offer for every model.
//! This is the same composition over runtime sizes, built only from sdpa's
//! slice kernels: [`sdpa::kernels::linear`] for the projections,
//! [`sdpa::layer::Rope::rotate`], [`sdpa::layer::alibi_slope`] and
//! attention per head ([`sdpa::runtime`] in a forward,
//! [`sdpa::multihead::runtime`] in a decode step, whose cache may hold K and
//! V in 16 bits), on the caller's buffers without copying. Each step calls the kernel the const layer calls, with the same
//! operands in the same order, so the outputs are bit for bit the const
//! layer's (the tests check this at every configuration of the layer's
//! numpy vectors).
//!
//! Buffers: the scratch of a forward is `tokens · (2·D + 2·KVH·HD)` floats
//! (query heads, key heads, value heads, merged heads); of a decode step
//! `2·D + capacity`; a cache `2·KVH·capacity·HD` values (`f32`, or 16-bit
//! for a cache of [`sdpa::F16`] or [`sdpa::Bf16`]).

use crate::check::{add, mul, non_zero};
use crate::types::{LAYER_FLAGS, LAYER_MASK_FLAGS};
use crate::{
    SDPA_DEFAULT_ROPE_THETA, SDPA_FLAG_BIASES, SDPA_FLAG_CAUSAL, SDPA_FLAG_SCALE, SDPA_FLAG_WINDOW, SdpaCacheMode,
    SdpaLayer, SdpaLayerMask, SdpaPositions, SdpaStatus,
};
use sdpa::kernels::linear;
use sdpa::layer::{CacheMode, Positions, Rope, alibi_slope};
use sdpa::multihead::runtime::{RuntimeHeadOptions, Shape as HeadShape, View, ViewMut};
use sdpa::multihead::{self, Broadcast, Strides};
use sdpa::runtime::{self, Bias, Mask, RuntimeOptions, Shape};
use sdpa::{Alignment, KvElement, Settings, Window};

/// A layer's shape and settings, checked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Spec {
    /// Model width.
    pub(crate) d: usize,
    /// Query heads.
    pub(crate) qh: usize,
    /// Key/value heads.
    pub(crate) kvh: usize,
    /// Head dimension.
    pub(crate) hd: usize,
    /// Query heads per key/value head.
    group: usize,
    positions: Positions,
    scale: Option<f32>,
    biases: bool,
}

impl Spec {
    /// Checks flags and encoding (`InvalidOption`), sizes (`ZeroDimension`)
    /// and head arithmetic (`UnsupportedShape`).
    pub(crate) fn of(l: &SdpaLayer) -> Result<Spec, SdpaStatus> {
        if l.flags & !LAYER_FLAGS != 0 {
            return Err(SdpaStatus::InvalidOption);
        }
        let theta = if l.rope_theta == 0.0 { SDPA_DEFAULT_ROPE_THETA } else { l.rope_theta };
        let positions = match l.positions {
            p if p == SdpaPositions::None as u32 => Positions::None,
            p if p == SdpaPositions::RopeInterleaved as u32 => Positions::Rope(Rope::interleaved().theta(theta)),
            p if p == SdpaPositions::RopeHalfSplit as u32 => Positions::Rope(Rope::half_split().theta(theta)),
            p if p == SdpaPositions::Alibi as u32 => Positions::Alibi,
            _ => return Err(SdpaStatus::InvalidOption),
        };
        non_zero(&[l.d_model, l.q_heads, l.kv_heads, l.head_dim])?;
        let width = l.q_heads.checked_mul(l.head_dim);
        let group = l.q_heads.checked_div(l.kv_heads).filter(|_| l.q_heads.is_multiple_of(l.kv_heads));
        let (Some(group), true) = (group, width == Some(l.d_model)) else {
            return Err(SdpaStatus::UnsupportedShape);
        };
        let spec = Spec {
            d: l.d_model,
            qh: l.q_heads,
            kvh: l.kv_heads,
            hd: l.head_dim,
            group,
            positions,
            scale: (l.flags & SDPA_FLAG_SCALE != 0).then_some(l.scale),
            biases: l.flags & SDPA_FLAG_BIASES != 0,
        };
        // Every buffer size derives from these; refuse now what overflows.
        spec.packed_len()?;
        Ok(spec)
    }

    /// `KVH · HD`, the width of the K and V projections.
    fn kv_width(&self) -> usize {
        self.kvh * self.hd // ≤ QH·HD = D: cannot overflow
    }

    /// Floats of the packed weights: `2·D·D + 2·KVH·HD·D`, plus
    /// `2·D + 2·KVH·HD` with biases.
    pub(crate) fn packed_len(&self) -> Result<usize, SdpaStatus> {
        let square = mul(self.d, self.d)?;
        let weights = add(mul(square, 2)?, mul(mul(self.kv_width(), self.d)?, 2)?)?;
        if self.biases { add(weights, 2 * self.d + 2 * self.kv_width()) } else { Ok(weights) }
    }

    /// Floats of a forward's scratch over `tokens` tokens.
    pub(crate) fn forward_scratch_len(&self, tokens: usize) -> Result<usize, SdpaStatus> {
        mul(tokens, add(mul(self.d, 2)?, 2 * self.kv_width())?)
    }

    /// Floats of a decode step's scratch for a cache of `capacity` tokens.
    pub(crate) fn decode_scratch_len(&self, capacity: usize) -> Result<usize, SdpaStatus> {
        add(mul(self.d, 2)?, capacity)
    }

    /// Floats of a cache's keys (and of its values) for `capacity` tokens.
    pub(crate) fn cache_half_len(&self, capacity: usize) -> Result<usize, SdpaStatus> {
        mul(self.kv_width(), capacity)
    }

    /// Floats of a cache's storage (keys, then values) for `capacity` tokens.
    pub(crate) fn cache_len(&self, capacity: usize) -> Result<usize, SdpaStatus> {
        let half = self.cache_half_len(capacity)?;
        add(half, half)
    }

    /// Head `h`'s ALiBi slope, if the layer uses ALiBi.
    fn alibi(&self, h: usize) -> Option<f32> {
        match self.positions {
            Positions::Alibi => Some(alibi_slope(h, self.qh)),
            _ => None,
        }
    }
}

/// The four projections of a layer, borrowed from the packed buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layer<'w> {
    spec: Spec,
    wq: &'w [f32],
    wk: &'w [f32],
    wv: &'w [f32],
    wo: &'w [f32],
    bq: Option<&'w [f32]>,
    bk: Option<&'w [f32]>,
    bv: Option<&'w [f32]>,
    bo: Option<&'w [f32]>,
}

/// The next `len` values of `rest`, or `BadLength`.
fn take<'w>(rest: &mut &'w [f32], len: usize) -> Result<&'w [f32], SdpaStatus> {
    let (head, tail) = rest.split_at_checked(len).ok_or(SdpaStatus::BadLength)?;
    *rest = tail;
    Ok(head)
}

/// Row `i` of `len` values of `data`, or `BadLength`.
fn row<T>(data: &[T], i: usize, len: usize) -> Result<&[T], SdpaStatus> {
    let start = mul(i, len)?;
    data.get(start..add(start, len)?).ok_or(SdpaStatus::BadLength)
}

/// Mutable row `i` of `len` values of `data`, or `BadLength`.
fn row_mut<T>(data: &mut [T], i: usize, len: usize) -> Result<&mut [T], SdpaStatus> {
    let start = mul(i, len)?;
    data.get_mut(start..add(start, len)?).ok_or(SdpaStatus::BadLength)
}

/// The first `len` values of `data`, or `BadLength`.
fn prefix(data: &mut [f32], len: usize) -> Result<(&mut [f32], &mut [f32]), SdpaStatus> {
    data.split_at_mut_checked(len).ok_or(SdpaStatus::BadLength)
}

/// Which keys each token sees in a forward.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sequence<'a> {
    pub(crate) causal: bool,
    pub(crate) window: Option<Window>,
    /// Per key, `false` = padding.
    pub(crate) padding: Option<&'a [bool]>,
}

impl Sequence<'_> {
    /// The causal flag, window and padding pointer of a layer mask (NULL:
    /// bidirectional, no padding); `InvalidOption` for unknown flags.
    pub(crate) fn settings(m: Option<&SdpaLayerMask>) -> Result<(bool, Option<Window>, Option<*const u8>), SdpaStatus> {
        let Some(m) = m else {
            return Ok((false, None, None));
        };
        if m.flags & !LAYER_MASK_FLAGS != 0 {
            return Err(SdpaStatus::InvalidOption);
        }
        let window = (m.flags & SDPA_FLAG_WINDOW != 0).then_some(Window { left: m.window_left, right: m.window_right });
        Ok((m.flags & SDPA_FLAG_CAUSAL != 0, window, (!m.padding.is_null()).then_some(m.padding)))
    }
}

/// `to = from`, each value rounded to `E`.
fn store<E: KvElement>(from: &[f32], to: &mut [E]) {
    for (to, &x) in to.iter_mut().zip(from) {
        *to = E::from_f32(x);
    }
}

/// A KV cache over the caller's storage, its K and V stored as `E`.
#[derive(Debug)]
pub(crate) struct Cache<'c, E> {
    /// `KVH` blocks of `capacity × HD`.
    pub(crate) keys: &'c mut [E],
    /// As `keys`.
    pub(crate) values: &'c mut [E],
    pub(crate) capacity: usize,
    pub(crate) len: usize,
    pub(crate) next_position: usize,
    pub(crate) mode: CacheMode,
}

/// The mode of a cache whose `len` and `next_position` can be a state of a
/// cache in `mode` (an `SdpaCacheMode` value): a fixed cache holds every
/// token since its start, a sliding one the last `capacity`. `None` for an
/// unknown mode or an impossible state.
pub(crate) fn cache_mode(capacity: usize, len: usize, next_position: usize, mode: u32) -> Option<CacheMode> {
    let mode = match mode {
        m if m == SdpaCacheMode::Fixed as u32 => CacheMode::Fixed,
        m if m == SdpaCacheMode::Sliding as u32 => CacheMode::Sliding,
        _ => return None,
    };
    let ok = match mode {
        CacheMode::Fixed => len == next_position && len <= capacity,
        _ => len == next_position.min(capacity),
    };
    ok.then_some(mode)
}

impl<'w> Layer<'w> {
    /// Borrows the tensors from `packed` (state-dict order), which must hold
    /// exactly [`Spec::packed_len`] values (`BadLength`).
    pub(crate) fn new(spec: Spec, packed: &'w [f32]) -> Result<Layer<'w>, SdpaStatus> {
        if packed.len() != spec.packed_len()? {
            return Err(SdpaStatus::BadLength);
        }
        let (d, kv) = (spec.d, spec.kv_width());
        let (qb, kvb) = if spec.biases { (d, kv) } else { (0, 0) };
        let mut rest = packed;
        let wq = take(&mut rest, d * d)?;
        let bq = take(&mut rest, qb)?;
        let wk = take(&mut rest, kv * d)?;
        let bk = take(&mut rest, kvb)?;
        let wv = take(&mut rest, kv * d)?;
        let bv = take(&mut rest, kvb)?;
        let wo = take(&mut rest, d * d)?;
        let bo = take(&mut rest, qb)?;
        let bias = |b: &'w [f32]| spec.biases.then_some(b);
        Ok(Layer { spec, wq, wk, wv, wo, bq: bias(bq), bk: bias(bk), bv: bias(bv), bo: bias(bo) })
    }

    /// The layer over `tokens` tokens `x` (`tokens × D`) into `out`
    /// (`tokens × D`), as [`sdpa::layer::SelfAttention::forward`].
    pub(crate) fn forward(
        &self,
        x: &[f32],
        tokens: usize,
        mask: &Sequence<'_>,
        scratch: &mut [f32],
        out: &mut [f32],
    ) -> Result<(), SdpaStatus> {
        let Spec { d, qh, kvh, hd, .. } = self.spec;
        let head = mul(tokens, hd)?; // one head's T × HD block
        let (q, rest) = prefix(scratch, mul(qh, head)?)?;
        let (k, rest) = prefix(rest, mul(kvh, head)?)?;
        let (v, rest) = prefix(rest, mul(kvh, head)?)?;
        let (merged, _) = prefix(rest, mul(tokens, d)?)?;

        // Projections, one head (HD weight rows) at a time, head-major.
        let projections =
            [(self.wq, self.bq, &mut *q, qh), (self.wk, self.bk, &mut *k, kvh), (self.wv, self.bv, &mut *v, kvh)];
        for (weight, bias, dst, heads) in projections {
            for h in 0..heads {
                let b = match bias {
                    Some(b) => Some(row(b, h, hd)?),
                    None => None,
                };
                linear(x, row(weight, h, hd * d)?, b, row_mut(dst, h, head)?, d);
            }
        }
        if let Positions::Rope(rope) = self.spec.positions {
            for t in 0..tokens {
                for h in 0..qh {
                    rope.rotate(t, row_mut(row_mut(q, h, head)?, t, hd)?);
                }
                for g in 0..kvh {
                    rope.rotate(t, row_mut(row_mut(k, g, head)?, t, hd)?);
                }
            }
        }
        let shape = Shape { queries: tokens, keys: tokens, head_dim: hd, value_dim: hd };
        for h in 0..qh {
            let g = h.checked_div(self.spec.group).ok_or(SdpaStatus::UnsupportedShape)?;
            let settings = Settings {
                scale: self.spec.scale,
                causal: mask.causal,
                alignment: Alignment::TopLeft,
                window: mask.window,
                alibi_slope: self.spec.alibi(h),
            };
            let mut options = RuntimeOptions::new().with_settings(settings);
            if let Some(keep) = mask.padding {
                options = options.mask(Mask::PerKey(keep));
            }
            let (qh_, kg, vg) = (row(q, h, head)?, row(k, g, head)?, row(v, g, head)?);
            for t in 0..tokens {
                let out_row = row_mut(row_mut(merged, t, d)?, h, hd)?;
                runtime::attention_rows(shape, qh_, kg, vg, t, out_row, &options)?;
            }
        }
        linear(merged, self.wo, self.bo, out, d);
        Ok(())
    }

    /// One decode step for the token `x` (`D` values) at position
    /// `cache.next_position`, as [`sdpa::layer::SelfAttention::decode`]:
    /// appends its K and V to `cache`, attends to the cached tokens, writes
    /// `out` (`D` values) and returns the position. `CacheFull` (before
    /// anything is written) when a fixed cache is full.
    pub(crate) fn decode<E: KvElement>(
        &self,
        x: &[f32],
        out: &mut [f32],
        cache: &mut Cache<'_, E>,
        scratch: &mut [f32],
    ) -> Result<usize, SdpaStatus> {
        let Spec { d, kvh, hd, .. } = self.spec;
        let cap = cache.capacity;
        if cache.mode == CacheMode::Fixed && cache.len >= cap {
            return Err(SdpaStatus::CacheFull);
        }
        let position = cache.next_position;
        let slot = position.checked_rem(cap).ok_or(SdpaStatus::CacheInvalid)?;
        let (q, rest) = prefix(scratch, d)?;
        let (merged, rest) = prefix(rest, d)?;
        let (bias, _) = prefix(rest, cap)?;
        let block = mul(cap, hd)?; // one kv head's CAP × HD block
        let rope = match self.spec.positions {
            Positions::Rope(rope) => Some(rope),
            _ => None,
        };

        linear(x, self.wq, self.bq, q, d);
        if let Some(rope) = rope {
            for h in 0..self.spec.qh {
                rope.rotate(position, row_mut(q, h, hd)?);
            }
        }
        // Each new K and V row is computed in f32 in `merged` (not yet in
        // use), K rotated there, then stored as `E`.
        let fresh = row_mut(merged, 0, hd)?;
        for g in 0..kvh {
            let (bk, bv) = (self.bk.map(|b| row(b, g, hd)).transpose()?, self.bv.map(|b| row(b, g, hd)).transpose()?);
            linear(x, row(self.wk, g, hd * d)?, bk, fresh, d);
            if let Some(rope) = rope {
                rope.rotate(position, fresh);
            }
            store(fresh, row_mut(row_mut(cache.keys, g, block)?, slot, hd)?);
            linear(x, row(self.wv, g, hd * d)?, bv, fresh, d);
            store(fresh, row_mut(row_mut(cache.values, g, block)?, slot, hd)?);
        }
        cache.len = cache.len.saturating_add(1).min(cap);
        cache.next_position = position.saturating_add(1);

        let len = cache.len;
        let wrapped = cache.next_position > cap;
        let shape = HeadShape { batch: 1, q_heads: 1, kv_heads: 1, queries: 1, keys: len, head_dim: hd, value_dim: hd };
        let (one, keys_of) = (Strides::bhsd(1, 1, hd), Strides::bhsd(1, len, hd));
        for h in 0..self.spec.qh {
            let g = h.checked_div(self.spec.group).ok_or(SdpaStatus::UnsupportedShape)?;
            let (keys, values) = (row(cache.keys, g, block)?, row(cache.values, g, block)?);
            let (keys, values) = (row(keys, 0, mul(len, hd)?)?, row(values, 0, mul(len, hd)?)?);
            let mut options = RuntimeHeadOptions::new().alignment(Alignment::BottomRight);
            if let Some(scale) = self.spec.scale {
                options = options.scale(scale);
            }
            let slope = self.spec.alibi(h);
            match (&slope, wrapped) {
                (Some(slope), true) => {
                    // Ring order: the distance of each slot back from the newest token.
                    for (s, b) in bias.iter_mut().enumerate() {
                        let back = (slot + cap - s).checked_rem(cap).unwrap_or(0);
                        *b = -(slope * back as f32);
                    }
                    options = options.bias(Bias::PerKey(bias.get(..len).unwrap_or_default()), Broadcast::Shared);
                }
                // Slot j holds position j and the query sits on the last key.
                (Some(slope), false) => options = options.alibi_slopes(core::slice::from_ref(slope)),
                (None, _) => {}
            }
            let (q, keys, values) =
                (View::new(row(q, h, hd)?, one), View::new(keys, keys_of), View::new(values, keys_of));
            multihead::runtime::attention(
                shape,
                q,
                keys,
                values,
                ViewMut::new(row_mut(merged, h, hd)?, one),
                &options,
            )?;
        }
        linear(merged, self.wo, self.bo, out, d);
        Ok(position)
    }
}
