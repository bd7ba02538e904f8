//! Projection over tokens: `out = x·Wᵀ + b`, PyTorch's `nn.Linear` with the
//! weight in its native `[out_features, in_features]` layout.

use crate::simd::{self, F32s, LANES};

/// Tokens one register tile covers: each weight load feeds this many FMAs.
const TILE_TOKENS: usize = 4;
/// Output features one register tile covers: each input load feeds this many FMAs.
const TILE_OUTPUTS: usize = 4;

/// `out[t][o] = bias[o] + Σᵢ x[t][i] · weight[o][i]`: PyTorch's `nn.Linear`
/// (`y = x·Wᵀ + b`) over a block of tokens, with `weight` row-major
/// `[out_features, in_features]` exactly as PyTorch and Hugging Face store it.
///
/// Shapes come from `in_features`: `out_features = weight.len() / in_features`
/// (a partial last weight row is ignored), `out` rows are `out_features` long,
/// and `min(x.len() / in_features, out.len() / out_features)` tokens are
/// computed; the rest of `out` is left untouched. Missing bias entries count
/// as `0`; `bias: None` means no bias. `in_features == 0` writes nothing.
///
/// Register-blocked: a tile of four tokens × four output rows keeps sixteen
/// vector accumulators, so each weight load is reused by four tokens and each
/// input load by four output rows. Every output is computed with the same
/// operation order whatever tile it falls in (so one token alone gives
/// bit-for-bit the row it gets in a block): one vector accumulator over the
/// `in_features / L` full lanes in order, the zero-padded tail, a lane
/// reduction, then the bias. Error per output as [`crate::kernels::dot_rows`]:
/// `γ(n/L + log₂L + 2) · (|b| + Σ|x·w|)` with `γ(k) = k·2⁻²⁴`.
///
/// ```
/// // 2 tokens of 3 features → 2 outputs; weight is [out=2, in=3].
/// let x = [1.0, 2.0, 3.0, /**/ 0.0, 1.0, 0.0];
/// let w = [1.0, 0.0, 0.0, /**/ 0.0, 1.0, 1.0];
/// let mut y = [0.0; 4];
/// sdpa::kernels::linear(&x, &w, Some(&[0.5, -0.5]), &mut y, 3);
/// assert_eq!(y, [1.5, 4.5, /**/ 0.5, 0.5]);
/// ```
pub fn linear(x: &[f32], weight: &[f32], bias: Option<&[f32]>, out: &mut [f32], in_features: usize) {
    let Some(n_out) = weight.len().checked_div(in_features) else {
        return;
    };
    let Some(by_out) = out.len().checked_div(n_out) else {
        return;
    };
    let tokens = x.len().checked_div(in_features).unwrap_or(0).min(by_out);
    let x = x.get(..tokens * in_features).unwrap_or_default();
    let weight = weight.get(..n_out * in_features).unwrap_or_default();
    let out = out.get_mut(..tokens * n_out).unwrap_or_default();
    let bias = bias.unwrap_or_default();

    let panel = panel_tokens(in_features);
    // Zips over `&mut` chunk iterators (here and below): the by-value zip of
    // two chunk iterators divides by the chunk size, a panic path whenever
    // `Zip::new` is not inlined (opt-level "s"/"z").
    let (mut x_panels, mut y_panels) = (x.chunks(size(in_features, panel)), out.chunks_mut(size(n_out, panel)));
    for (xs, ys) in (&mut x_panels).zip(&mut y_panels) {
        token_panel(xs, weight, bias, ys, in_features, n_out);
    }
}

/// Tokens per panel: as many whole tiles as fit in [`PANEL_BYTES`], at least one tile.
fn panel_tokens(n_in: usize) -> usize {
    let fit = PANEL_BYTES / (n_in * core::mem::size_of::<f32>()).max(1);
    (fit / TILE_TOKENS).max(1) * TILE_TOKENS
}

/// Input bytes one panel keeps in L1 while the weight rows stream past it:
/// each group of four weight rows is loaded from L2 once per panel and
/// reused from L1 by every tile of the panel.
const PANEL_BYTES: usize = 16 * 1024;

/// A panel of tokens (`xs`, whole rows of `n_in`) against every weight row:
/// for each group of four weight rows, every four-token tile; then the
/// panel's last one to three tokens one at a time.
fn token_panel(xs: &[f32], weight: &[f32], bias: &[f32], ys: &mut [f32], n_in: usize, n_out: usize) {
    let has_tail = !n_in.is_multiple_of(LANES);
    let tiled = xs.len().checked_div(n_in).unwrap_or(0) / TILE_TOKENS * TILE_TOKENS;
    let (x_tiled, x_rest) = xs.split_at_checked(tiled * n_in).unwrap_or((&[], xs));
    let (y_tiled, y_rest) = ys.split_at_mut_checked(tiled * n_out).unwrap_or_default();
    let mut w_groups = weight.chunks_exact(size(n_in, TILE_OUTPUTS));
    let mut first = 0;
    for group in &mut w_groups {
        if tiled == 0 {
            break;
        }
        let w = split_rows::<TILE_OUTPUTS>(group, n_in).map(|r| r.as_chunks::<LANES>());
        let w_tails = tails(&w, has_tail);
        let b = bias.get(first..).unwrap_or_default();
        let mut x_tiles = x_tiled.chunks_exact(size(n_in, TILE_TOKENS));
        let mut y_tiles = y_tiled.chunks_exact_mut(size(n_out, TILE_TOKENS));
        for (xt, yt) in (&mut x_tiles).zip(&mut y_tiles) {
            let acc = tile4(split_rows::<TILE_TOKENS>(xt, n_in), &w);
            let (mut x_rows, mut y_rows) = (xt.chunks_exact(size(n_in, 1)), yt.chunks_exact_mut(size(n_out, 1)));
            for ((row, x), y) in acc.iter().zip(&mut x_rows).zip(&mut y_rows) {
                let y = y.get_mut(first..).unwrap_or_default();
                store_sums(row, tail(x.as_chunks::<LANES>().1), &w_tails, b, y);
            }
        }
        first += TILE_OUTPUTS;
    }
    // Weight rows past the last full group (out_features not a multiple of 4).
    for (o, w) in (first..).zip(w_groups.remainder().chunks_exact(size(n_in, 1))) {
        let b = bias.get(o).copied().unwrap_or(0.0);
        let (mut x_rows, mut y_rows) = (x_tiled.chunks_exact(size(n_in, 1)), y_tiled.chunks_exact_mut(size(n_out, 1)));
        for (x, y) in (&mut x_rows).zip(&mut y_rows) {
            if let Some(y) = y.get_mut(o) {
                *y = b + single_dot(x, w);
            }
        }
    }
    let (mut x_rows, mut y_rows) = (x_rest.chunks_exact(size(n_in, 1)), y_rest.chunks_exact_mut(size(n_out, 1)));
    for (x, y) in (&mut x_rows).zip(&mut y_rows) {
        single_token(x, weight, bias, y, n_in);
    }
}

/// One token against every weight row (a decode step's projections): four
/// weight rows per pass over the token, as [`crate::kernels::dot_rows`] does.
fn single_token(x: &[f32], weight: &[f32], bias: &[f32], y: &mut [f32], n_in: usize) {
    let n_out = y.len();
    let x_tail = tail(x.as_chunks::<LANES>().1);
    let mut w_groups = weight.chunks_exact(size(n_in, TILE_OUTPUTS));
    let mut y_groups = y.chunks_exact_mut(TILE_OUTPUTS);
    let mut b_groups = bias.chunks(TILE_OUTPUTS);
    for (group, ys) in (&mut w_groups).zip(&mut y_groups) {
        let w = split_rows::<TILE_OUTPUTS>(group, n_in).map(|r| r.as_chunks::<LANES>());
        let acc = tile1(x, &w);
        store_sums(&acc, x_tail, &tails(&w, x_tail.is_some()), b_groups.next().unwrap_or_default(), ys);
    }
    let rest = y_groups.into_remainder();
    let first = n_out.saturating_sub(rest.len());
    for ((o, w), y) in (first..).zip(w_groups.remainder().chunks_exact(size(n_in, 1))).zip(rest) {
        *y = bias.get(o).copied().unwrap_or(0.0) + single_dot(x, w);
    }
}

/// The zero-padded tails of a group's rows (zeros, unused, when rows are whole vectors).
#[inline(always)]
fn tails(w: &Group<'_>, has_tail: bool) -> [F32s; TILE_OUTPUTS] {
    if has_tail { w.map(|(_, t)| simd::load_padded(t, 0.0)) } else { [simd::splat(0.0); TILE_OUTPUTS] }
}

/// Whole vectors and tail of each of a group's four weight rows.
type Group<'a> = [(&'a [[f32; LANES]], &'a [f32]); TILE_OUTPUTS];

/// The register tile: four tokens × four weight rows in sixteen vector
/// accumulators over the rows' whole vectors, in order. Per step: four
/// weight loads and four input loads feed sixteen FMAs.
#[inline(always)]
fn tile4(xs: [&[f32]; TILE_TOKENS], w: &Group<'_>) -> [[F32s; TILE_OUTPUTS]; TILE_TOKENS] {
    let [(w0, _), (w1, _), (w2, _), (w3, _)] = *w;
    let [x0, x1, x2, x3] = xs.map(|x| x.as_chunks::<LANES>().0);
    let mut acc = [[simd::splat(0.0); TILE_OUTPUTS]; TILE_TOKENS];
    let xs = x0.iter().zip(x1).zip(x2).zip(x3);
    let ws = w0.iter().zip(w1).zip(w2).zip(w3);
    for ((((a0, a1), a2), a3), (((b0, b1), b2), b3)) in xs.zip(ws) {
        let w = [b0, b1, b2, b3].map(simd::load);
        for (row, a) in acc.iter_mut().zip([a0, a1, a2, a3]) {
            let a = simd::load(a);
            for (s, &w) in row.iter_mut().zip(&w) {
                *s = simd::mul_add(a, w, *s);
            }
        }
    }
    acc
}

/// One token × four weight rows: the same accumulation for a single row.
#[inline(always)]
fn tile1(x: &[f32], w: &Group<'_>) -> [F32s; TILE_OUTPUTS] {
    let [(w0, _), (w1, _), (w2, _), (w3, _)] = *w;
    let mut acc = [simd::splat(0.0); TILE_OUTPUTS];
    for ((((a, b0), b1), b2), b3) in x.as_chunks::<LANES>().0.iter().zip(w0).zip(w1).zip(w2).zip(w3) {
        let a = simd::load(a);
        for (s, w) in acc.iter_mut().zip([b0, b1, b2, b3]) {
            *s = simd::mul_add(a, simd::load(w), *s);
        }
    }
    acc
}

/// `y[o] = bias[o] + Σ(acc[o] + x_tail·w_tail[o])` for the outputs of one tile row.
#[inline(always)]
fn store_sums(acc: &[F32s; TILE_OUTPUTS], x_tail: Tail, w_tails: &[F32s; TILE_OUTPUTS], bias: &[f32], y: &mut [f32]) {
    let mut bias = bias.iter();
    for ((y, &a), &w_tail) in y.iter_mut().zip(acc).zip(w_tails) {
        let b = bias.next().copied().unwrap_or(0.0);
        *y = b + finish(a, x_tail, w_tail);
    }
}

/// The zero-padded last partial vector of an input row, if the row has one.
type Tail = Option<F32s>;

/// Loads the padded tail of a row, `None` when the row is whole vectors.
#[inline(always)]
fn tail(t: &[f32]) -> Tail {
    (!t.is_empty()).then(|| simd::load_padded(t, 0.0))
}

/// Adds the tail product (if any) to an accumulator and reduces its lanes.
#[inline(always)]
fn finish(acc: F32s, x_tail: Tail, w_tail: F32s) -> f32 {
    simd::reduce_add(match x_tail {
        Some(x) => simd::mul_add(x, w_tail, acc),
        None => acc,
    })
}

/// One output with exactly the operation order of a tile lane.
#[inline(always)]
fn single_dot(x: &[f32], w: &[f32]) -> f32 {
    let (xv, xt) = x.as_chunks::<LANES>();
    let (wv, wt) = w.as_chunks::<LANES>();
    let mut acc = simd::splat(0.0);
    for (a, b) in xv.iter().zip(wv) {
        acc = simd::mul_add(simd::load(a), simd::load(b), acc);
    }
    finish(acc, tail(xt), simd::load_padded(wt, 0.0))
}

/// `rows · len` as a chunk size: saturating, and never 0 (a zero size is
/// only asked for in shapes that write nothing), so no chunking call can panic.
#[inline(always)]
fn size(len: usize, rows: usize) -> usize {
    len.saturating_mul(rows).max(1)
}

/// The `N` consecutive rows of length `n` in `block` (empty where it is short).
#[inline(always)]
fn split_rows<const N: usize>(block: &[f32], n: usize) -> [&[f32]; N] {
    let mut rows = [&[][..]; N];
    let mut chunks = block.chunks_exact(size(n, 1));
    for (slot, row) in rows.iter_mut().zip(&mut chunks) {
        *slot = row;
    }
    rows
}

/// Scalar reference for [`linear`]: per output, the bias plus one
/// accumulator over `i` in index order.
///
/// ```
/// let mut y = [0.0; 2];
/// sdpa::kernels::linear_reference(&[1.0, 2.0], &[3.0, 4.0, /**/ 5.0, 6.0], None, &mut y, 2);
/// assert_eq!(y, [11.0, 17.0]);
/// ```
pub fn linear_reference(x: &[f32], weight: &[f32], bias: Option<&[f32]>, out: &mut [f32], in_features: usize) {
    let Some(n_out) = weight.len().checked_div(in_features) else {
        return;
    };
    let Some(by_out) = out.len().checked_div(n_out) else {
        return;
    };
    let tokens = x.len().checked_div(in_features).unwrap_or(0).min(by_out);
    let bias = bias.unwrap_or_default();
    let n_in = size(in_features, 1);
    let (mut x_rows, mut y_rows) = (x.chunks_exact(n_in), out.chunks_exact_mut(size(n_out, 1)));
    for (xr, yr) in (&mut x_rows).zip(&mut y_rows).take(tokens) {
        let mut w_rows = weight.chunks_exact(n_in);
        for (o, (y, w)) in yr.iter_mut().zip(&mut w_rows).enumerate() {
            let b = bias.get(o).copied().unwrap_or(0.0);
            *y = b + xr.iter().zip(w).fold(0.0, |s, (a, b)| s + a * b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wave(n: usize, step: f32, phase: f32) -> [f32; 640] {
        let mut v = [0.0; 640];
        for (i, x) in v.iter_mut().enumerate().take(n) {
            *x = (i as f32 * step + phase).sin();
        }
        v
    }

    #[test]
    fn matches_reference_on_many_shapes() {
        for n_in in [1, 3, 4, 7, 16, 17, 33, 40] {
            for n_out in [1, 2, 4, 5, 8, 11] {
                for tokens in [0, 1, 3, 4, 5, 9] {
                    let x = wave(tokens * n_in, 0.37, 0.1);
                    let w = wave(n_out * n_in, 1.13, 0.7);
                    let b = wave(n_out, 0.5, 2.0);
                    let (x, w, b) = (&x[..tokens * n_in], &w[..n_out * n_in], &b[..n_out]);
                    let (mut got, mut want) = ([f32::NAN; 99], [f32::NAN; 99]);
                    linear(x, w, Some(b), &mut got[..tokens * n_out], n_in);
                    linear_reference(x, w, Some(b), &mut want[..tokens * n_out], n_in);
                    for (i, (g, r)) in got.iter().zip(&want).enumerate() {
                        if i < tokens * n_out {
                            let bound = 1e-5 * (n_in as f32 + 1.0);
                            assert!((g - r).abs() <= bound, "in {n_in} out {n_out} tokens {tokens} at {i}: {g} vs {r}");
                        } else {
                            assert!(g.is_nan(), "wrote past the output at {i}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn each_token_alone_gives_the_same_bits_as_in_a_block() {
        for (n_in, n_out) in [(37, 9), (32, 8), (5, 3), (64, 4)] {
            let tokens = 7;
            let x = wave(tokens * n_in, 0.91, 0.3);
            let w = wave(n_out * n_in, 0.43, 1.1);
            let b = wave(n_out, 1.7, 0.2);
            let (x, w, b) = (&x[..tokens * n_in], &w[..n_out * n_in], &b[..n_out]);
            let mut block = [0.0; 63];
            linear(x, w, Some(b), &mut block[..tokens * n_out], n_in);
            for t in 0..tokens {
                let mut one = [0.0; 9];
                linear(&x[t * n_in..(t + 1) * n_in], w, Some(b), &mut one[..n_out], n_in);
                for o in 0..n_out {
                    assert_eq!(one[o].to_bits(), block[t * n_out + o].to_bits(), "in {n_in}, token {t}, out {o}");
                }
            }
        }
    }

    #[test]
    fn long_rows_split_into_several_panels() {
        // 1031 inputs: panels of 4 tokens (16 KiB / 4124 B), so 11 tokens are
        // panels of 4, 4 and 3, each with a partial last vector.
        const N_IN: usize = 1031;
        const TOKENS: usize = 11;
        const N_OUT: usize = 6;
        assert_eq!(panel_tokens(N_IN), 4);
        let mut x = [0.0f32; TOKENS * N_IN];
        let mut w = [0.0f32; N_OUT * N_IN];
        for (i, v) in x.iter_mut().enumerate() {
            *v = (i as f32 * 0.013).sin();
        }
        for (i, v) in w.iter_mut().enumerate() {
            *v = (i as f32 * 0.029).cos() * 0.05;
        }
        let b = [0.5, -0.25, 0.125, 1.0, -1.0, 2.0];
        let (mut got, mut want) = ([0.0; TOKENS * N_OUT], [0.0; TOKENS * N_OUT]);
        linear(&x, &w, Some(&b), &mut got, N_IN);
        linear_reference(&x, &w, Some(&b), &mut want, N_IN);
        for (i, (g, r)) in got.iter().zip(&want).enumerate() {
            assert!((g - r).abs() <= 2e-4, "at {i}: {g} vs {r}");
            let mut one = [0.0; N_OUT];
            let t = i / N_OUT;
            linear(&x[t * N_IN..(t + 1) * N_IN], &w, Some(&b), &mut one, N_IN);
            assert_eq!(one[i % N_OUT].to_bits(), g.to_bits(), "token {t} alone");
        }
    }

    #[test]
    fn bias_is_optional_and_missing_entries_are_zero() {
        let x = [1.0, 2.0];
        let w = [1.0, 1.0, /**/ 2.0, 0.0, /**/ 0.0, 3.0];
        let mut y = [0.0; 3];
        linear(&x, &w, None, &mut y, 2);
        assert_eq!(y, [3.0, 2.0, 6.0]);
        linear(&x, &w, Some(&[10.0]), &mut y, 2);
        assert_eq!(y, [13.0, 2.0, 6.0]);
    }

    #[test]
    fn degenerate_shapes_write_nothing() {
        let mut y = [7.0; 4];
        linear(&[1.0; 4], &[1.0; 4], None, &mut y, 0);
        linear(&[1.0; 4], &[1.0; 3], None, &mut y, 4); // weight shorter than one row
        linear(&[1.0; 3], &[1.0; 4], None, &mut y, 4); // no whole token
        assert_eq!(y, [7.0; 4]);
    }
}
