//! Lowering a checked multi-head call onto the single-head engine: one
//! [`Problem`] per (batch entry, query head), its rows read in place.

use super::Broadcast;
use super::runtime::{RuntimeHeadOptions, Shape, View, ViewMut};
use crate::attention::{OutRows, Problem, Rows};
use crate::options::{Bias, Mask};
use crate::{KvElement, Settings};

/// A call whose views, masks and slopes passed their checks (or whose
/// types guarantee them): every offset computed below is in bounds. K and
/// V are stored as `E`.
pub(crate) struct Call<'a, 'o, E> {
    pub(crate) shape: Shape,
    pub(crate) q: View<'a>,
    pub(crate) k: View<'a, E>,
    pub(crate) v: View<'a, E>,
    pub(crate) out: ViewMut<'o>,
    pub(crate) options: RuntimeHeadOptions<'a>,
}

/// `a·b + c`, `None` on overflow (which the checks ruled out).
fn at(a: usize, b: usize, c: usize) -> Option<usize> {
    a.checked_mul(b)?.checked_add(c)
}

/// Where the rows of head `h` of batch entry `b` sit in a view of `n` rows
/// of `width`: the range of the slice from the first row's start to the
/// last row's end, and the row stride (any stride for a single row).
fn place(view: &super::Strides, b: usize, h: usize, n: usize, width: usize) -> Option<(usize, usize, usize)> {
    let start = at(b, view.batch, 0).and_then(|x| at(h, view.head, x))?;
    let stride = if n > 1 { view.token } else { width };
    let end = at(n.checked_sub(1)?, stride, width)?.checked_add(start)?;
    Some((start, end, stride))
}

/// The `n` rows of `width` of head `h` of batch entry `b`.
fn rows<'a, T>(view: &View<'a, T>, b: usize, h: usize, n: usize, width: usize) -> Rows<'a, T> {
    let placed = place(&view.strides, b, h, n, width);
    let data = placed.and_then(|(start, end, _)| view.data.get(start..end)).unwrap_or_default();
    Rows { data, stride: placed.map_or(width, |(_, _, stride)| stride), width }
}

/// Block `index` of `len` entries.
fn block<T>(all: &[T], index: usize, len: usize) -> &[T] {
    at(index, len, 0).and_then(|start| all.get(start..start.checked_add(len)?)).unwrap_or_default()
}

/// Runs `attend` on every (batch entry, query head) of `call`, in order,
/// with the problem and the output rows of that head.
#[inline(always)]
pub(crate) fn each_head<E: KvElement>(call: Call<'_, '_, E>, mut attend: impl FnMut(&Problem<'_, E>, OutRows<'_>)) {
    let Shape { batch, q_heads, kv_heads, queries: nq, keys: nk, head_dim: d, value_dim: dv } = call.shape;
    let RuntimeHeadOptions { settings, mask, bias, slopes } = call.options;
    let group = q_heads.checked_div(kv_heads).unwrap_or(1);
    let pairs = nq.saturating_mul(nk);
    let ViewMut { data: out, strides: out_strides } = call.out;
    for b in 0..batch {
        for h in 0..q_heads {
            let g = h.checked_div(group).unwrap_or(0);
            let which = |spread: Broadcast| spread.block_of(b, h, q_heads);
            let problem = Problem {
                nq,
                nk,
                d,
                dv,
                q: rows(&call.q, b, h, nq, d),
                k: rows(&call.k, b, g, nk, d),
                v: rows(&call.v, b, g, nk, dv),
                settings: Settings {
                    alibi_slope: slopes.and_then(|s| s.get(h).copied()).or(settings.alibi_slope),
                    ..settings
                },
                mask: mask.map(|(m, spread)| match m {
                    Mask::PerQuery(all) => Mask::PerQuery(block(all, which(spread), pairs)),
                    Mask::PerKey(all) => Mask::PerKey(block(all, which(spread), nk)),
                }),
                bias: bias.map(|(x, spread)| match x {
                    Bias::PerQuery(all) => Bias::PerQuery(block(all, which(spread), pairs)),
                    Bias::PerKey(all) => Bias::PerKey(block(all, which(spread), nk)),
                }),
            };
            let Some((start, end, stride)) = place(&out_strides, b, h, nq, dv) else { continue };
            if let Some(data) = out.get_mut(start..end) {
                attend(&problem, OutRows { data, stride, width: dv });
            }
        }
    }
}
