//! What a user would write instead of `sdpa`, each as well as we can, on the
//! same inputs. Every peer is checked against `sdpa` before it is timed
//! (`benches/benches/suite/`), also in the CI smoke run.

use crate::data::Workload;
use nalgebra::SMatrix;
use ndarray::{Array2, ArrayView2, linalg::general_mat_mul};

/// Naive scalar: the full `NQ × NK` score matrix, a three-pass softmax on
/// `libm::expf`, then `P·V`, in plain index loops.
pub fn naive(w: &Workload, q: &[f32], k: &[f32], v: &[f32], scores: &mut [f32], out: &mut [f32]) {
    let (nq, nk, d, dv) = (w.nq, w.nk, w.d, w.dv);
    let scale = w.scale();
    for i in 0..nq {
        for j in 0..nk {
            let mut s = 0.0f32;
            for c in 0..d {
                s += q[i * d + c] * k[j * d + c];
            }
            scores[i * nk + j] = if w.causal && j > i { f32::NEG_INFINITY } else { s * scale };
        }
    }
    for i in 0..nq {
        let row = &mut scores[i * nk..(i + 1) * nk];
        let mut max = f32::NEG_INFINITY;
        for &x in row.iter() {
            max = max.max(x);
        }
        let mut sum = 0.0f32;
        for x in row.iter_mut() {
            *x = libm::expf(*x - max);
            sum += *x;
        }
        for x in row.iter_mut() {
            *x /= sum;
        }
    }
    for i in 0..nq {
        for c in 0..dv {
            let mut acc = 0.0f32;
            for j in 0..nk {
                acc += scores[i * nk + j] * v[j * dv + c];
            }
            out[i * dv + c] = acc;
        }
    }
}

/// The plain loop a user would write with const generics over
/// `[[f32; D]; NQ]` arrays, nothing allocated: per query a row of `NK` scores
/// on the stack, max subtraction, `f32::exp`, the weighted sum of the value
/// rows and one division by the sum. No mask (W1 and W2 have none). Every
/// trip count is a constant, so LLVM unrolls and vectorizes what it can.
#[allow(clippy::needless_range_loop)] // index loops are the point: what a user writes first
pub fn const_loop<const NQ: usize, const NK: usize, const D: usize, const DV: usize>(
    q: &[[f32; D]; NQ],
    k: &[[f32; D]; NK],
    v: &[[f32; DV]; NK],
    out: &mut [[f32; DV]; NQ],
) {
    let scale = 1.0 / (D as f32).sqrt();
    for i in 0..NQ {
        let mut scores = [0.0f32; NK];
        for j in 0..NK {
            let mut dot = 0.0f32;
            for c in 0..D {
                dot += q[i][c] * k[j][c];
            }
            scores[j] = dot * scale;
        }
        let mut max = f32::NEG_INFINITY;
        for j in 0..NK {
            max = max.max(scores[j]);
        }
        let mut sum = 0.0f32;
        for j in 0..NK {
            scores[j] = (scores[j] - max).exp();
            sum += scores[j];
        }
        let mut acc = [0.0f32; DV];
        for j in 0..NK {
            for c in 0..DV {
                acc[c] += scores[j] * v[j][c];
            }
        }
        for c in 0..DV {
            out[i][c] = acc[c] / sum;
        }
    }
}

/// nalgebra with fixed-size matrices, as the README of nalgebra suggests:
/// `Q·Kᵀ`, a row softmax, `P·V`.
pub fn nalgebra<const NQ: usize, const NK: usize, const D: usize, const DV: usize>(
    q: &SMatrix<f32, NQ, D>,
    k: &SMatrix<f32, NK, D>,
    v: &SMatrix<f32, NK, DV>,
    causal: bool,
    out: &mut SMatrix<f32, NQ, DV>,
) {
    let scale = 1.0 / (D as f32).sqrt();
    let mut s: SMatrix<f32, NQ, NK> = q * k.transpose() * scale;
    for (i, mut row) in s.row_iter_mut().enumerate() {
        if causal {
            for x in row.iter_mut().skip(i + 1) {
                *x = f32::NEG_INFINITY;
            }
        }
        let max = row.max();
        row.apply(|x| *x = (*x - max).exp());
        let sum = row.sum();
        row /= sum;
    }
    s.mul_to(v, out);
}

/// ndarray with `general_mat_mul` (matrixmultiply's sgemm, what `dot` calls)
/// into preallocated arrays, and a row softmax with `mapv_inplace`.
pub fn ndarray(
    w: &Workload,
    q: ArrayView2<'_, f32>,
    k: ArrayView2<'_, f32>,
    v: ArrayView2<'_, f32>,
    scores: &mut Array2<f32>,
    out: &mut Array2<f32>,
) {
    general_mat_mul(w.scale(), &q, &k.t(), 0.0, scores);
    for (i, mut row) in scores.rows_mut().into_iter().enumerate() {
        if w.causal {
            row.iter_mut().skip(i + 1).for_each(|x| *x = f32::NEG_INFINITY);
        }
        let max = row.fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        row.mapv_inplace(|x| (x - max).exp());
        let sum = row.sum();
        row.mapv_inplace(|x| x / sum);
    }
    general_mat_mul(1.0, scores, &v, 0.0, out);
}

/// Lanes of the plain-Rust loops below; LLVM maps `[f32; 16]` onto whatever
/// vectors the build has (one zmm, two ymm or four xmm).
const L: usize = 16;

/// Plain Rust written for LLVM's autovectorizer: per query row, four keys
/// per pass over the query with array accumulators, a branch-free
/// polynomial `exp` on 16-float chunks, `P·V` as chunked axpy, one
/// normalisation at the end. `scores` holds one row (`NK` floats).
pub fn autovec(w: &Workload, q: &[f32], k: &[f32], v: &[f32], scores: &mut [f32], out: &mut [f32]) {
    let (nk, d, dv) = (w.nk, w.d, w.dv);
    let scale = w.scale();
    for (i, (qi, oi)) in q.chunks_exact(d).zip(out.chunks_exact_mut(dv)).enumerate() {
        let visible = if w.causal { (i + 1).min(nk) } else { nk };
        let row = &mut scores[..visible];
        let mut keys = k[..visible * d].chunks_exact(4 * d);
        let mut js = row.chunks_exact_mut(4);
        for (k4, s4) in (&mut keys).zip(&mut js) {
            let (k0, rest) = k4.split_at(d);
            let (k1, rest) = rest.split_at(d);
            let (k2, k3) = rest.split_at(d);
            let r = dot4(qi, [k0, k1, k2, k3]);
            for (s, r) in s4.iter_mut().zip(r) {
                *s = r * scale;
            }
        }
        for (s, kj) in js.into_remainder().iter_mut().zip(keys.remainder().chunks_exact(d)) {
            *s = dot4(qi, [kj, kj, kj, kj])[0] * scale;
        }
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        let mut sums = [0.0f32; L];
        let (body, tail) = row.as_chunks_mut::<L>();
        for c in body {
            for (x, s) in c.iter_mut().zip(sums.iter_mut()) {
                *x = exp_auto(*x - max);
                *s += *x;
            }
        }
        for (x, s) in tail.iter_mut().zip(sums.iter_mut()) {
            *x = exp_auto(*x - max);
            *s += *x;
        }
        let sum: f32 = sums.iter().sum();
        oi.fill(0.0);
        for (&p, vj) in row.iter().zip(v.chunks_exact(dv)) {
            let (oc, ot) = oi.as_chunks_mut::<L>();
            let (vc, vt) = vj.as_chunks::<L>();
            for (o, x) in oc.iter_mut().zip(vc) {
                for (o, x) in o.iter_mut().zip(x) {
                    *o += p * x;
                }
            }
            for (o, x) in ot.iter_mut().zip(vt) {
                *o += p * x;
            }
        }
        let inv = 1.0 / sum;
        for o in oi.iter_mut() {
            *o *= inv;
        }
    }
}

/// Four dot products sharing the loads of `q`.
#[inline(always)]
fn dot4(q: &[f32], k: [&[f32]; 4]) -> [f32; 4] {
    let mut acc = [[0.0f32; L]; 4];
    let (qc, qt) = q.as_chunks::<L>();
    let kc = k.map(|r| r.as_chunks::<L>());
    for (c, qv) in qc.iter().enumerate() {
        for (a, (kr, _)) in acc.iter_mut().zip(&kc) {
            for ((a, x), y) in a.iter_mut().zip(qv).zip(&kr[c]) {
                *a += x * y;
            }
        }
    }
    let mut r = [0.0f32; 4];
    for ((r, a), (_, kt)) in r.iter_mut().zip(&acc).zip(&kc) {
        let mut s = 0.0;
        for h in 0..L / 2 {
            s += a[h] + a[h + L / 2];
        }
        for (x, y) in qt.iter().zip(kt.iter()) {
            s += x * y;
        }
        *r = s;
    }
    r
}

/// `e^x` for `x ≤ 0` (or `−∞`), branch-free so LLVM vectorizes it:
/// Cody–Waite reduction and the degree-6 Taylor polynomial (truncation
/// below 1.3·10⁻⁷ relative on `|r| ≤ ln2/2`).
#[inline(always)]
fn exp_auto(x: f32) -> f32 {
    let x = x.max(-87.0);
    let n = (x * core::f32::consts::LOG2_E + 12_582_912.0) - 12_582_912.0;
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let p = r * (1.0 / 120.0 + r * (1.0 / 720.0));
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + p))));
    f32::from_bits((p.to_bits() as i32).wrapping_add((n as i32) << 23) as u32)
}
