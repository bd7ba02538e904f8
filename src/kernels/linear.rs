//! Projection over tokens: `out = x·Wᵀ + b`, PyTorch's `nn.Linear` with the
//! weight in its native `[out_features, in_features]` layout.

use crate::simd::{Simd, dispatch};

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
/// A register-blocked GEMM that reads both operands in place (no packing):
/// a tile of `MR` tokens × `NR` weight rows (3 × 3 with 16 vector registers,
/// 4 × 3 with 32) keeps `MR·NR` accumulators along `in_features`, so each
/// weight vector loaded feeds `MR` FMAs and each input vector `NR`; weight
/// rows are taken in blocks that stay in L2 while every token passes. Every
/// output is computed with the same operation order whatever tile it falls
/// in (so one token alone, a decode step, gives bit for bit the row it gets
/// in a block): one vector accumulator over the `in_features / L` full lanes
/// in order, the zero-padded tail, a lane reduction (a fixed pairwise tree of
/// `log₂L` levels: the halving tree, or the x86 backends' transposing sum),
/// then the bias. Error per output: `γ(n/L + log₂L + 2) · (|b| + Σ|x·w|)` with
/// `γ(k) = k·2⁻²⁴`.
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
    let Some((n_out, tokens)) = counts(x, weight, out, in_features) else {
        return;
    };
    let projection = Projection {
        weight: weight.get(..n_out * in_features).unwrap_or_default(),
        bias: bias.unwrap_or_default(),
        n_in: in_features,
        n_out,
    };
    let x = x.get(..tokens * in_features).unwrap_or_default();
    let out = out.get_mut(..tokens * n_out).unwrap_or_default();
    dispatch!(|s| projection.apply(s, x, out))
}

/// `(out_features, tokens)` of a [`linear`] call as its docs define them;
/// `None` where it writes nothing (`in_features` or `out_features` is 0).
#[inline(always)]
fn counts(x: &[f32], weight: &[f32], out: &[f32], in_features: usize) -> Option<(usize, usize)> {
    let n_out = weight.len().checked_div(in_features)?;
    let by_out = out.len().checked_div(n_out)?;
    Some((n_out, x.len().checked_div(in_features).unwrap_or(0).min(by_out)))
}

/// One `nn.Linear`: `weight` is `n_out` rows of `n_in`, `bias` up to `n_out`
/// values (missing ones are 0).
#[derive(Clone, Copy)]
pub(crate) struct Projection<'a> {
    pub(crate) weight: &'a [f32],
    pub(crate) bias: &'a [f32],
    pub(crate) n_in: usize,
    pub(crate) n_out: usize,
}

/// Bytes of weight rows kept in L2 while every token passes over them.
const WEIGHT_BLOCK_BYTES: usize = 128 * 1024;

impl Projection<'_> {
    /// `out[t·n_out + o] = bias[o] + x[t·n_in ..]·weight[o]` for every whole
    /// input row of `x` that has a whole output row in `out`.
    #[inline(always)]
    pub(crate) fn apply<const L: usize, S: Simd<L>>(&self, s: S, x: &[f32], out: &mut [f32]) {
        if S::REGISTERS >= 32 {
            // 4 × 3: 6 × 4 spills in every build, 4 × 4 in a default
            // (runtime-dispatched) build. Measured on Zen 4, 128 tokens,
            // 768 → 768: 6 × 4 4.3 ms, 4 × 4 1.76 ms native but 3.3 ms
            // default, 4 × 3 1.77 ms native and 1.75 ms default.
            self.gemm::<L, S, 4, 3>(s, x, out);
        } else if S::REGISTERS >= 16 {
            self.gemm::<L, S, 3, 3>(s, x, out);
        } else {
            self.gemm::<L, S, 2, 2>(s, x, out);
        }
    }

    /// The blocked GEMM with `MR × NR` register tiles.
    #[inline(always)]
    fn gemm<const L: usize, S: Simd<L>, const MR: usize, const NR: usize>(&self, s: S, x: &[f32], out: &mut [f32]) {
        let (n_in, n_out) = (self.n_in, self.n_out);
        if n_in == 0 || n_out == 0 {
            return;
        }
        let block_rows = (WEIGHT_BLOCK_BYTES / 4 / n_in).max(1).div_ceil(NR) * NR;
        let mut first = 0;
        // `&mut` iterators throughout: the by-value zip of chunk iterators
        // divides by the chunk size out of line at opt-level "s"/"z", a
        // panic path the no-panic proof rejects.
        for block in &mut self.weight.chunks(size(block_rows, n_in)) {
            let rows = block.len() / n_in;
            let mut rows_in = x.chunks(n_in.max(1)).map_while(|r| r.get(..n_in)).zip(out.chunks_mut(n_out.max(1)));
            loop {
                let mut xt: [&[f32]; MR] = [&[]; MR];
                let mut yt: [&mut [f32]; MR] = core::array::from_fn(|_| &mut [][..]);
                let mut n = 0;
                for ((xs, ys), (x, y)) in xt.iter_mut().zip(yt.iter_mut()).zip(&mut rows_in) {
                    (*xs, *ys) = (x, y);
                    n += 1;
                }
                if n == MR {
                    self.token_tile::<L, S, MR, NR>(s, &xt, yt, block, first, rows);
                    continue;
                }
                for (x, y) in xt.iter().zip(yt).take(n) {
                    self.token_tile::<L, S, 1, NR>(s, &[x], [y], block, first, rows);
                }
                break;
            }
            first += rows;
        }
    }

    /// Outputs `first .. first + rows` (the weight rows of `block`) of `MR` tokens.
    #[inline(always)]
    fn token_tile<const L: usize, S: Simd<L>, const MR: usize, const NR: usize>(
        &self,
        s: S,
        x: &[&[f32]; MR],
        mut y: [&mut [f32]; MR],
        block: &[f32],
        first: usize,
        rows: usize,
    ) {
        let n_in = self.n_in;
        let mut groups = block.chunks_exact(size(NR, n_in));
        let mut o = first;
        for group in &mut groups {
            let w: [&[f32]; NR] = split_rows(group, n_in);
            let sums = dot_tile::<L, S, MR, NR>(s, x, &w);
            self.store(&sums, &mut y, o);
            o += NR;
        }
        for w in &mut groups.remainder().chunks_exact(n_in.max(1)) {
            let sums = dot_tile::<L, S, MR, 1>(s, x, &[w]);
            self.store(&sums, &mut y, o);
            o += 1;
        }
        debug_assert_eq!(o, first + rows, "every weight row of the block is used");
    }

    /// `y[t][o + j] = bias[o + j] + sums[t][j]`.
    #[inline(always)]
    fn store<const MR: usize, const NR: usize>(&self, sums: &[[f32; NR]; MR], y: &mut [&mut [f32]; MR], o: usize) {
        let bias = self.bias.get(o..).unwrap_or_default();
        for (row, y) in sums.iter().zip(y.iter_mut()) {
            let y = y.get_mut(o..).unwrap_or_default();
            for (j, (y, &sum)) in y.iter_mut().zip(row).enumerate() {
                *y = bias.get(j).copied().unwrap_or(0.0) + sum;
            }
        }
    }
}

/// `MR × NR` dot products of whole rows: `sums[t][o] = Σᵢ x[t][i]·w[o][i]`,
/// each in the documented order.
#[inline(always)]
fn dot_tile<const L: usize, S: Simd<L>, const MR: usize, const NR: usize>(
    s: S,
    x: &[&[f32]; MR],
    w: &[&[f32]; NR],
) -> [[f32; NR]; MR] {
    const UNROLL: usize = 4;
    let mut acc = [[s.zero(); NR]; MR];
    let xv = x.map(|r| r.as_chunks::<L>());
    let wv = w.map(|r| r.as_chunks::<L>());
    let steps = xv.first().map_or(0, |(v, _)| v.len());
    let xq = xv.map(|(v, _)| v.as_chunks::<UNROLL>().0);
    let wq = wv.map(|(v, _)| v.as_chunks::<UNROLL>().0);
    // Four vectors per row per bounds check. Loops, not `map`, wherever
    // vectors are made: a closure the optimizer leaves out of line runs
    // without the backend's target features.
    for c in 0..steps / UNROLL {
        // By reference: each vector is loaded where it is used.
        let a: [&[[f32; L]; UNROLL]; MR] = xq.map(|r| r.get(c).unwrap_or(&[[0.0; L]; UNROLL]));
        let b: [&[[f32; L]; UNROLL]; NR] = wq.map(|r| r.get(c).unwrap_or(&[[0.0; L]; UNROLL]));
        for u in 0..UNROLL {
            // `get`: no index panic where the loop stays rolled (opt-level "s").
            let mut bv = [s.zero(); NR];
            for (bv, r) in bv.iter_mut().zip(&b) {
                *bv = r.get(u).map_or(s.zero(), |v| s.load(v));
            }
            for (acc, a) in acc.iter_mut().zip(&a) {
                let av = a.get(u).map_or(s.zero(), |v| s.load(v));
                for (acc, &bv) in acc.iter_mut().zip(&bv) {
                    *acc = s.mul_add(av, bv, *acc);
                }
            }
        }
    }
    for c in steps / UNROLL * UNROLL..steps {
        let mut bv = [s.zero(); NR];
        for (bv, (v, _)) in bv.iter_mut().zip(&wv) {
            *bv = s.load(v.get(c).unwrap_or(&[0.0; L]));
        }
        for (acc, (xr, _)) in acc.iter_mut().zip(&xv) {
            let av = s.load(xr.get(c).unwrap_or(&[0.0; L]));
            for (acc, &bv) in acc.iter_mut().zip(&bv) {
                *acc = s.mul_add(av, bv, *acc);
            }
        }
    }
    if !xv[0].1.is_empty() {
        let mut bt = [s.zero(); NR];
        for (bt, (_, t)) in bt.iter_mut().zip(&wv) {
            *bt = s.load_padded(t, 0.0);
        }
        for (acc, (_, t)) in acc.iter_mut().zip(&xv) {
            let at = s.load_padded(t, 0.0);
            for (acc, &bt) in acc.iter_mut().zip(&bt) {
                *acc = s.mul_add(at, bt, *acc);
            }
        }
    }
    let mut sums = [[0.0; NR]; MR];
    if L >= 8 {
        // The x86 backends: `L` accumulators at a time through one
        // transposing sum, a third of the instructions of `L` halving trees.
        for (sums, acc) in sums.as_flattened_mut().chunks_mut(L).zip(acc.as_flattened().chunks(L)) {
            let mut group = [s.zero(); L];
            for (g, &a) in group.iter_mut().zip(acc) {
                *g = a;
            }
            let mut lanes = [0.0; L];
            s.store(s.reduce_add_each(group), &mut lanes);
            for (sum, &lane) in sums.iter_mut().zip(&lanes) {
                *sum = lane;
            }
        }
    } else {
        for (sums, acc) in sums.iter_mut().zip(&acc) {
            for (sum, &a) in sums.iter_mut().zip(acc) {
                *sum = s.reduce_add(a);
            }
        }
    }
    sums
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
    for (slot, row) in rows.iter_mut().zip(&mut block.chunks_exact(n.max(1))) {
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
    let Some((n_out, tokens)) = counts(x, weight, out, in_features) else {
        return;
    };
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
    fn long_rows_split_into_several_weight_blocks() {
        // 1031 inputs: a 128 KiB weight block holds 31 rows (rounded up to
        // whole tiles), so 70 outputs take three blocks; 11 tokens are tiles
        // of whole and partial size, each row with a partial last vector.
        const N_IN: usize = 1031;
        const TOKENS: usize = 11;
        const N_OUT: usize = 70;
        const { assert!(N_OUT * N_IN * 4 > 2 * WEIGHT_BLOCK_BYTES) };
        let mut x = [0.0f32; TOKENS * N_IN];
        let mut w = [0.0f32; N_OUT * N_IN];
        for (i, v) in x.iter_mut().enumerate() {
            *v = (i as f32 * 0.013).sin();
        }
        for (i, v) in w.iter_mut().enumerate() {
            *v = (i as f32 * 0.029).cos() * 0.05;
        }
        let b: [f32; N_OUT] = core::array::from_fn(|i| i as f32 * 0.125 - 4.0);
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
