//! A random attention problem over const shapes, drawn from a few proptest
//! parameters (amplitudes, options, mask densities) and a seed for the bulk
//! data, with the typed options it implies and its flat [`Case`] for the
//! f64 oracle (`sdpa_oracle`).

use proptest::prelude::*;
use sdpa::{Alignment, Matrix, Options, Settings, Window};
use sdpa_oracle::{Case, Rng};

/// How a boolean mask is drawn: `p` is the probability of `false` (masked).
#[derive(Clone, Copy, Debug)]
pub enum MaskKind {
    None,
    PerQuery(f64),
    PerKey(f64),
}

/// How an additive bias is drawn: uniform in `[-amp, amp]`, `−∞` with
/// probability `p`.
#[derive(Clone, Copy, Debug)]
pub enum BiasKind {
    None,
    PerQuery { amp: f32, p: f64 },
    PerKey { amp: f32, p: f64 },
}

/// Everything random about one problem except the bulk data.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    pub seed: u64,
    /// Q and K entries are uniform in `[-qk_amp, qk_amp]`.
    pub qk_amp: f32,
    /// V entries are uniform in `v_center ± v_amp`.
    pub v_center: f32,
    pub v_amp: f32,
    pub settings: Settings,
    pub mask: MaskKind,
    pub bias: BiasKind,
}

/// Which option families a property allows.
#[derive(Clone, Copy, Debug)]
pub struct Allow {
    /// Causal, window, alignment and ALiBi (everything that depends on a
    /// query's position or a key's index).
    pub positional: bool,
}

fn settings(allow: Allow, nk: usize) -> impl Strategy<Value = Settings> {
    let scale = prop_oneof![3 => Just(None), 1 => (0.01f32..4.0).prop_map(Some)];
    let positional = if allow.positional {
        (
            any::<bool>(),
            any::<bool>(),
            prop::option::weighted(0.3, (0..nk + 2, 0..nk + 2)),
            prop::option::weighted(0.3, prop::sample::select(vec![0.0f32, 0.0625, 0.5, 1.0, 3.0])),
        )
            .boxed()
    } else {
        Just((false, false, None, None)).boxed()
    };
    (scale, positional).prop_map(|(scale, (causal, bottom_right, window, alibi_slope))| Settings {
        scale,
        causal,
        alignment: if bottom_right { Alignment::BottomRight } else { Alignment::TopLeft },
        window: window.map(|(left, right)| Window { left, right }),
        alibi_slope,
    })
}

/// The strategy of [`Params`] for a problem with `nk` keys.
pub fn params(allow: Allow, nk: usize) -> impl Strategy<Value = Params> {
    let density = prop::sample::select(vec![0.0, 0.2, 0.6, 0.95, 1.0]);
    let mask = prop_oneof![
        2 => Just(MaskKind::None),
        1 => density.clone().prop_map(MaskKind::PerQuery),
        1 => density.clone().prop_map(MaskKind::PerKey),
    ];
    let amp = prop::sample::select(vec![0.5f32, 4.0, 100.0, 1e4]);
    let bias = prop_oneof![
        2 => Just(BiasKind::None),
        1 => (amp.clone(), density.clone()).prop_map(|(amp, p)| BiasKind::PerQuery { amp, p }),
        1 => (amp, density).prop_map(|(amp, p)| BiasKind::PerKey { amp, p }),
    ];
    (
        any::<u64>(),
        prop::sample::select(vec![0.0625f32, 0.5, 1.0, 1.0, 2.0, 4.0, 8.0]),
        prop::sample::select(vec![0.0f32, 0.0, 1.0, -100.0, 1e4]),
        prop::sample::select(vec![1.0f32, 1.0, 1e-3, 1e3]),
        settings(allow, nk),
        mask,
        bias,
    )
        .prop_map(|(seed, qk_amp, v_center, v_amp, settings, mask, bias)| Params {
            seed,
            qk_amp,
            v_center,
            v_amp,
            settings,
            mask,
            bias,
        })
}

/// One drawn problem: the data, and the mask and bias in the typed forms.
pub struct Problem<const NQ: usize, const NK: usize, const D: usize, const DV: usize> {
    pub q: Matrix<NQ, D>,
    pub k: Matrix<NK, D>,
    pub v: Matrix<NK, DV>,
    pub settings: Settings,
    pub mask: Option<Box<[[bool; NK]; NQ]>>,
    pub key_mask: Option<[bool; NK]>,
    pub bias: Option<Box<Matrix<NQ, NK>>>,
    pub key_bias: Option<[f32; NK]>,
}

impl<const NQ: usize, const NK: usize, const D: usize, const DV: usize> Problem<NQ, NK, D, DV> {
    pub fn draw(p: &Params) -> Self {
        let mut rng = Rng::new(p.seed);
        let mut q = Matrix::zeros();
        let mut k = Matrix::zeros();
        let mut v = Matrix::zeros();
        rng.fill(q.as_mut_slice(), -p.qk_amp, p.qk_amp);
        rng.fill(k.as_mut_slice(), -p.qk_amp, p.qk_amp);
        rng.fill(v.as_mut_slice(), p.v_center - p.v_amp, p.v_center + p.v_amp);
        let mut problem =
            Problem { q, k, v, settings: p.settings, mask: None, key_mask: None, bias: None, key_bias: None };
        match p.mask {
            MaskKind::None => {}
            MaskKind::PerQuery(masked) => {
                let mut m = Box::new([[true; NK]; NQ]);
                m.as_flattened_mut().iter_mut().for_each(|x| *x = !rng.bool(masked));
                problem.mask = Some(m);
            }
            MaskKind::PerKey(masked) => problem.key_mask = Some(core::array::from_fn(|_| !rng.bool(masked))),
        }
        let mut draw_bias = |amp: f32, p: f64| if rng.bool(p) { f32::NEG_INFINITY } else { rng.uniform(-amp, amp) };
        match p.bias {
            BiasKind::None => {}
            BiasKind::PerQuery { amp, p } => problem.bias = Some(Box::new(Matrix::from_fn(|_, _| draw_bias(amp, p)))),
            BiasKind::PerKey { amp, p } => problem.key_bias = Some(core::array::from_fn(|_| draw_bias(amp, p))),
        }
        problem
    }

    /// The typed options for this problem.
    pub fn options(&self) -> Options<'_, NQ, NK> {
        let mut o = Options::new().with_settings(self.settings);
        if let Some(m) = &self.mask {
            o = o.mask(m);
        }
        if let Some(m) = &self.key_mask {
            o = o.key_mask(m);
        }
        if let Some(b) = &self.bias {
            o = o.bias(b);
        }
        if let Some(b) = &self.key_bias {
            o = o.key_bias(b);
        }
        o
    }

    /// The full `NQ × NK` boolean mask, if any.
    pub fn full_mask(&self) -> Option<Vec<bool>> {
        match (&self.mask, &self.key_mask) {
            (Some(m), _) => Some(m.as_flattened().to_vec()),
            (None, Some(k)) => Some((0..NQ).flat_map(|_| k.iter().copied()).collect()),
            (None, None) => None,
        }
    }

    /// The full `NQ × NK` additive bias, if any.
    pub fn full_bias(&self) -> Option<Vec<f32>> {
        match (&self.bias, &self.key_bias) {
            (Some(b), _) => Some(b.as_slice().to_vec()),
            (None, Some(k)) => Some((0..NQ).flat_map(|_| k.iter().copied()).collect()),
            (None, None) => None,
        }
    }

    /// The flat case for the oracle.
    pub fn case(&self) -> Case {
        Case {
            nq: NQ,
            nk: NK,
            d: D,
            dv: DV,
            q: self.q.as_slice().to_vec(),
            k: self.k.as_slice().to_vec(),
            v: self.v.as_slice().to_vec(),
            settings: self.settings,
            mask: self.full_mask(),
            bias: self.full_bias(),
        }
    }

    /// `attention` into a NaN-filled output (so a row left unwritten shows).
    pub fn run(&self) -> Matrix<NQ, DV> {
        let mut out = Matrix::from_fn(|_, _| f32::NAN);
        sdpa::attention(&self.q, &self.k, &self.v, &mut out, &self.options());
        out
    }
}
