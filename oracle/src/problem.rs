//! One attention problem, as the oracle sees it, and its f64 reference:
//! masking rules, scores, softmax weights and the output.
//!
//! [`Problem`] borrows flat row-major slices (what the fuzz targets and the
//! runtime API hold); [`Case`] owns them with full `nq × nk` masks (what the
//! integration tests build and edit) and lends a [`Problem`] through
//! [`Case::view`]. Every rule is written once, on [`Problem`].

use crate::kernels::{Softmax64, dot64};
use sdpa::runtime::{self, Bias, Mask, Shape};
use sdpa::{Alignment, Settings};

/// Per-query or per-key data (a mask or a bias), flat and row-major.
#[derive(Clone, Copy, Debug)]
pub enum Spread<'a, T> {
    /// `nq · nk` entries.
    PerQuery(&'a [T]),
    /// `nk` entries shared by every query.
    PerKey(&'a [T]),
}

impl<T: Copy> Spread<'_, T> {
    /// The entry for query `i` and key `j` of a problem with `nk` keys
    /// (`None` past the end of a slice of the wrong length).
    pub fn at(&self, nk: usize, i: usize, j: usize) -> Option<T> {
        match self {
            Spread::PerQuery(all) => all.get(i * nk + j).copied(),
            Spread::PerKey(keys) => keys.get(j).copied(),
        }
    }
}

/// One attention problem, flat row-major, as the runtime API takes it.
///
/// Slices of the wrong length do not panic: a missing row reads as empty, a
/// missing mask entry as masked, a missing bias entry as no bias.
#[derive(Clone, Copy, Debug)]
pub struct Problem<'a> {
    /// Queries.
    pub nq: usize,
    /// Keys.
    pub nk: usize,
    /// Head dimension (of queries and keys).
    pub d: usize,
    /// Value dimension.
    pub dv: usize,
    /// `nq × d` queries.
    pub q: &'a [f32],
    /// `nk × d` keys.
    pub k: &'a [f32],
    /// `nk × dv` values.
    pub v: &'a [f32],
    /// Scale, causal, alignment, window, ALiBi.
    pub settings: Settings,
    /// Boolean mask, `true` = attend.
    pub mask: Option<Spread<'a, bool>>,
    /// Additive mask (`−∞` masks).
    pub bias: Option<Spread<'a, f32>>,
}

/// The inputs of one attention problem, owned, flat and row-major, with
/// full masks; [`Case::view`] is its [`Problem`].
#[derive(Clone, Debug)]
pub struct Case {
    /// Queries.
    pub nq: usize,
    /// Keys.
    pub nk: usize,
    /// Head dimension.
    pub d: usize,
    /// Value dimension.
    pub dv: usize,
    /// `nq × d` queries.
    pub q: Vec<f32>,
    /// `nk × d` keys.
    pub k: Vec<f32>,
    /// `nk × dv` values.
    pub v: Vec<f32>,
    /// Scale, causal, alignment, window, ALiBi.
    pub settings: Settings,
    /// Full `nq × nk` boolean mask, `true` = attend.
    pub mask: Option<Vec<bool>>,
    /// Full `nq × nk` additive mask.
    pub bias: Option<Vec<f32>>,
}

impl Case {
    /// The same problem, borrowed (masks per query).
    pub fn view(&self) -> Problem<'_> {
        Problem {
            nq: self.nq,
            nk: self.nk,
            d: self.d,
            dv: self.dv,
            q: &self.q,
            k: &self.k,
            v: &self.v,
            settings: self.settings,
            mask: self.mask.as_deref().map(Spread::PerQuery),
            bias: self.bias.as_deref().map(Spread::PerQuery),
        }
    }
}

impl<'a> Problem<'a> {
    /// The runtime shape.
    pub fn shape(&self) -> Shape {
        Shape { queries: self.nq, keys: self.nk, head_dim: self.d, value_dim: self.dv }
    }

    /// The same problem as runtime options.
    pub fn runtime_options(&self) -> runtime::RuntimeOptions<'a> {
        let mut o = runtime::RuntimeOptions::new().with_settings(self.settings);
        match self.mask {
            Some(Spread::PerQuery(m)) => o = o.mask(Mask::PerQuery(m)),
            Some(Spread::PerKey(m)) => o = o.mask(Mask::PerKey(m)),
            None => {}
        }
        match self.bias {
            Some(Spread::PerQuery(b)) => o = o.bias(Bias::PerQuery(b)),
            Some(Spread::PerKey(b)) => o = o.bias(Bias::PerKey(b)),
            None => {}
        }
        o
    }

    /// The `q·k` multiplier: the given scale, or `1/√D` rounded to f32 as
    /// documented.
    pub fn scale(&self) -> f32 {
        self.settings.scale.unwrap_or(1.0 / (self.d as f32).sqrt())
    }

    /// Key-axis position `p(i)` of query `i` (wide enough for any window).
    pub fn position(&self, i: usize) -> i128 {
        match self.settings.alignment {
            Alignment::TopLeft => i as i128,
            Alignment::BottomRight => i as i128 + self.nk as i128 - self.nq as i128,
        }
    }

    /// `|p(i) − j|`, the ALiBi distance.
    pub fn distance(&self, i: usize, j: usize) -> u128 {
        self.position(i).abs_diff(j as i128)
    }

    /// Whether query `i` may attend key `j` under every masking rule:
    /// causal, window, boolean mask, and a `−∞` bias.
    pub fn visible(&self, i: usize, j: usize) -> bool {
        let (p, jj) = (self.position(i), j as i128);
        let s = &self.settings;
        let causal_ok = !s.causal || jj <= p;
        let window_ok = s.window.is_none_or(|w| jj >= p - w.left as i128 && jj <= p + w.right as i128);
        let mask_ok = self.mask.is_none_or(|m| m.at(self.nk, i, j).unwrap_or(false));
        let bias_ok = self.bias.is_none_or(|b| b.at(self.nk, i, j) != Some(f32::NEG_INFINITY));
        causal_ok && window_ok && mask_ok && bias_ok
    }

    /// Query row `i`.
    pub fn q_row(&self, i: usize) -> &'a [f32] {
        self.q.get(i * self.d..(i + 1) * self.d).unwrap_or_default()
    }

    /// Key row `j`.
    pub fn k_row(&self, j: usize) -> &'a [f32] {
        self.k.get(j * self.d..(j + 1) * self.d).unwrap_or_default()
    }

    /// Value row `j`.
    pub fn v_row(&self, j: usize) -> &'a [f32] {
        self.v.get(j * self.dv..(j + 1) * self.dv).unwrap_or_default()
    }

    /// The bias entry of query `i` and key `j`, if there is a bias.
    pub fn bias_at(&self, i: usize, j: usize) -> Option<f32> {
        self.bias.and_then(|b| b.at(self.nk, i, j))
    }

    /// The ALiBi term `slope·|p(i) − j|` in f64 (0 without ALiBi).
    pub fn alibi64(&self, i: usize, j: usize) -> f64 {
        self.settings.alibi_slope.map_or(0.0, |m| m as f64 * self.distance(i, j) as f64)
    }

    /// `|ALiBi| + |bias|` of query `i` and key `j`: what the score's
    /// additions are rounded against.
    pub fn additive_magnitude(&self, i: usize, j: usize) -> f64 {
        self.alibi64(i, j).abs() + self.bias_at(i, j).map_or(0.0, |b| b as f64).abs()
    }

    /// The f64 score of query `i` and key `j`, whether or not `j` is
    /// visible: `(q·k)·scale − ALiBi + bias`.
    pub fn score64(&self, i: usize, j: usize) -> f64 {
        let mut s = dot64(self.q_row(i), self.k_row(j)) * self.scale() as f64;
        if self.settings.alibi_slope.is_some() {
            s -= self.alibi64(i, j);
        }
        if let Some(b) = self.bias_at(i, j) {
            s += b as f64;
        }
        s
    }

    /// The f64 scores of row `i` (`None` for keys the row may not see).
    pub fn scores64(&self, i: usize) -> Vec<Option<f64>> {
        (0..self.nk).map(|j| self.visible(i, j).then(|| self.score64(i, j))).collect()
    }

    /// The f64 scores of row `i`, `−∞` for keys the row may not see.
    pub fn masked_scores64(&self, i: usize) -> Vec<f64> {
        self.scores64(i).iter().map(|s| s.unwrap_or(f64::NEG_INFINITY)).collect()
    }

    /// f64 softmax weights of row `i`; all zeros when nothing is visible (or
    /// every visible score is `−∞`).
    pub fn weights64(&self, i: usize) -> Vec<f64> {
        let scores = self.masked_scores64(i);
        if scores.iter().copied().fold(f64::NEG_INFINITY, f64::max) == f64::NEG_INFINITY {
            return vec![0.0; self.nk];
        }
        Softmax64::of(&scores).weights
    }

    /// `Σⱼ wⱼ·vⱼ` in f64 (`dv` values), skipping keys of weight 0 (so a
    /// non-finite value there cannot reach the result).
    pub fn mix64(&self, weights: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.dv];
        for (j, wj) in weights.iter().enumerate() {
            if *wj == 0.0 {
                continue;
            }
            for (o, x) in out.iter_mut().zip(self.v_row(j)) {
                *o += wj * *x as f64;
            }
        }
        out
    }

    /// f64 reference output, `nq × dv`.
    pub fn attention64(&self) -> Vec<f64> {
        (0..self.nq).flat_map(|i| self.mix64(&self.weights64(i))).collect()
    }

    /// Per value column, the smallest and the largest visible value of row
    /// `i` and the largest magnitude (NaN values are ignored).
    pub fn visible_values(&self, i: usize) -> ValueRange {
        let mut r = ValueRange {
            lo: vec![f64::INFINITY; self.dv],
            hi: vec![f64::NEG_INFINITY; self.dv],
            abs: vec![0.0; self.dv],
        };
        for j in (0..self.nk).filter(|&j| self.visible(i, j)) {
            for (c, x) in self.v_row(j).iter().enumerate() {
                let x = *x as f64;
                r.lo[c] = r.lo[c].min(x);
                r.hi[c] = r.hi[c].max(x);
                r.abs[c] = r.abs[c].max(x.abs());
            }
        }
        r
    }
}

/// Per value column of one row, over the visible value rows.
#[derive(Clone, Debug)]
pub struct ValueRange {
    /// Smallest value (`+∞` when no key is visible).
    pub lo: Vec<f64>,
    /// Largest value (`−∞` when no key is visible).
    pub hi: Vec<f64>,
    /// Largest magnitude (0 when no key is visible).
    pub abs: Vec<f64>,
}
