//! From the C structs (copied out of the caller's memory) to sdpa's types:
//! flags and kinds checked, lengths computed with overflow checks.

use crate::check::{mul, non_zero};
use crate::types::ATTENTION_FLAGS;
use crate::{
    SDPA_FLAG_ALIBI, SDPA_FLAG_BOTTOM_RIGHT, SDPA_FLAG_CAUSAL, SDPA_FLAG_SCALE, SDPA_FLAG_WINDOW, SdpaBroadcast,
    SdpaMask, SdpaOptions, SdpaShape, SdpaStatus, SdpaStrides,
};
use sdpa::multihead::{Broadcast, Strides, runtime as mh};
use sdpa::runtime::{Bias, Mask, RuntimeOptions, Shape};
use sdpa::{Alignment, Settings, Window};

/// Which scores a mask or bias covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cover {
    /// One entry per (query, key).
    PerQuery,
    /// One entry per key, shared by all queries.
    PerKey,
}

impl Cover {
    /// The cover an `SdpaMask` value asks for (`None` for no mask).
    pub(crate) fn from_kind(kind: u32) -> Result<Option<Cover>, SdpaStatus> {
        match kind {
            k if k == SdpaMask::None as u32 => Ok(None),
            k if k == SdpaMask::PerQuery as u32 => Ok(Some(Cover::PerQuery)),
            k if k == SdpaMask::PerKey as u32 => Ok(Some(Cover::PerKey)),
            _ => Err(SdpaStatus::InvalidOption),
        }
    }

    /// The caller's (checked) mask bytes as sdpa's mask with this cover.
    pub(crate) fn mask(self, m: &[bool]) -> Mask<'_> {
        match self {
            Cover::PerQuery => Mask::PerQuery(m),
            Cover::PerKey => Mask::PerKey(m),
        }
    }

    /// The caller's additive mask as sdpa's bias with this cover.
    pub(crate) fn bias(self, b: &[f32]) -> Bias<'_> {
        match self {
            Cover::PerQuery => Bias::PerQuery(b),
            Cover::PerKey => Bias::PerKey(b),
        }
    }
}

/// Element counts of an attention call's buffers, all checked for overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lengths {
    /// The shape for [`sdpa::runtime`].
    pub(crate) shape: Shape,
    /// `queries · head_dim`.
    pub(crate) q: usize,
    /// `keys · head_dim`.
    pub(crate) k: usize,
    /// `keys · value_dim`.
    pub(crate) v: usize,
    /// `queries · value_dim`.
    pub(crate) out: usize,
    /// `queries · keys`.
    pub(crate) pairs: usize,
}

impl Lengths {
    /// `ZeroDimension` or `SizeOverflow` for a shape the engine cannot take.
    pub(crate) fn of(s: SdpaShape) -> Result<Lengths, SdpaStatus> {
        non_zero(&[s.queries, s.keys, s.head_dim, s.value_dim])?;
        Ok(Lengths {
            shape: Shape { queries: s.queries, keys: s.keys, head_dim: s.head_dim, value_dim: s.value_dim },
            q: mul(s.queries, s.head_dim)?,
            k: mul(s.keys, s.head_dim)?,
            v: mul(s.keys, s.value_dim)?,
            out: mul(s.queries, s.value_dim)?,
            pairs: mul(s.queries, s.keys)?,
        })
    }

    /// Entries of a mask or bias with this cover.
    pub(crate) fn cover(&self, cover: Cover) -> usize {
        match cover {
            Cover::PerQuery => self.pairs,
            Cover::PerKey => self.shape.keys,
        }
    }
}

/// Options checked for unknown flags and kinds; masks still unread.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Checked {
    pub(crate) settings: Settings,
    pub(crate) mask: Option<Cover>,
    pub(crate) bias: Option<Cover>,
}

/// Checks `o`'s flags and kinds (`InvalidOption`); a NULL options pointer
/// is `None` here and means the defaults.
pub(crate) fn options(o: Option<&SdpaOptions>) -> Result<Checked, SdpaStatus> {
    let Some(o) = o else {
        return Ok(Checked { settings: Settings::default(), mask: None, bias: None });
    };
    if o.flags & !ATTENTION_FLAGS != 0 {
        return Err(SdpaStatus::InvalidOption);
    }
    let has = |flag: u32| o.flags & flag != 0;
    let settings = Settings {
        scale: has(SDPA_FLAG_SCALE).then_some(o.scale),
        causal: has(SDPA_FLAG_CAUSAL),
        alignment: if has(SDPA_FLAG_BOTTOM_RIGHT) { Alignment::BottomRight } else { Alignment::TopLeft },
        window: has(SDPA_FLAG_WINDOW).then_some(Window { left: o.window_left, right: o.window_right }),
        alibi_slope: has(SDPA_FLAG_ALIBI).then_some(o.alibi_slope),
    };
    Ok(Checked { settings, mask: Cover::from_kind(o.mask_kind)?, bias: Cover::from_kind(o.bias_kind)? })
}

/// The runtime options over the caller's (checked) mask and bias.
pub(crate) fn runtime_options<'a>(
    settings: Settings,
    mask: Option<(Cover, &'a [bool])>,
    bias: Option<(Cover, &'a [f32])>,
) -> RuntimeOptions<'a> {
    let mut o = RuntimeOptions::new().with_settings(settings);
    if let Some((cover, m)) = mask {
        o = o.mask(cover.mask(m));
    }
    if let Some((cover, b)) = bias {
        o = o.bias(cover.bias(b));
    }
    o
}

/// The broadcast an `SdpaBroadcast` value asks for.
pub(crate) fn broadcast(kind: u32) -> Result<Broadcast, SdpaStatus> {
    match kind {
        k if k == SdpaBroadcast::Shared as u32 => Ok(Broadcast::Shared),
        k if k == SdpaBroadcast::PerHead as u32 => Ok(Broadcast::PerHead),
        k if k == SdpaBroadcast::PerBatch as u32 => Ok(Broadcast::PerBatch),
        k if k == SdpaBroadcast::PerBatchHead as u32 => Ok(Broadcast::PerBatchHead),
        _ => Err(SdpaStatus::InvalidOption),
    }
}

/// sdpa's strides for the C ones.
pub(crate) fn strides(s: SdpaStrides) -> Strides {
    Strides { batch: s.batch, head: s.head, token: s.token, dim: s.dim }
}

/// The multi-head options over the caller's (checked) mask, bias and slopes.
pub(crate) fn head_options<'a>(
    settings: Settings,
    mask: Option<(Cover, Broadcast, &'a [bool])>,
    bias: Option<(Cover, Broadcast, &'a [f32])>,
    slopes: Option<&'a [f32]>,
) -> mh::RuntimeHeadOptions<'a> {
    let mut o = mh::RuntimeHeadOptions::new().with_settings(settings);
    if let Some((cover, spread, m)) = mask {
        o = o.mask(cover.mask(m), spread);
    }
    if let Some((cover, spread, b)) = bias {
        o = o.bias(cover.bias(b), spread);
    }
    if let Some(slopes) = slopes {
        o = o.alibi_slopes(slopes);
    }
    o
}
