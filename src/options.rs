//! Attention options with runtime-sized masks: the form every API lowers to.

/// Where query row `i` sits on the key axis, for causal masks, windows and
/// ALiBi distances.
///
/// With `NQ` queries and `NK` keys, query `i` has key position
/// `p(i) = i` (`TopLeft`, PyTorch's `is_causal`) or `p(i) = i + NK − NQ`
/// (`BottomRight`, FlashAttention's convention and what a decoder with a
/// cached prefix needs: the last query sits on the last key).
///
/// ```
/// use sdpa::{Alignment, Matrix, Options, attention};
/// // One query against three keys, causal: top-left it sees key 0 only,
/// // bottom-right (the query is the newest token) it sees all three.
/// let (q, k) = (Matrix::<1, 1>::zeros(), Matrix::<3, 1>::zeros());
/// let v = Matrix::from_rows([[3.0], [6.0], [9.0]]);
/// let mut out = Matrix::zeros();
/// attention(&q, &k, &v, &mut out, &Options::new().causal());
/// assert_eq!(out.rows()[0], [3.0]);
/// attention(&q, &k, &v, &mut out, &Options::new().causal().alignment(Alignment::BottomRight));
/// assert_eq!(out.rows()[0], [6.0]); // the mean of the three values
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Alignment {
    /// `p(i) = i`.
    #[default]
    TopLeft,
    /// `p(i) = i + NK − NQ`.
    BottomRight,
}

/// A local attention window: query `i` sees keys `j` with
/// `p(i) − left ≤ j ≤ p(i) + right` (FlashAttention's `window_size`).
///
/// `Window { left: w - 1, right: 0 }` with a causal mask is the sliding window
/// of width `w` used by Mistral and Gemma.
///
/// ```
/// use sdpa::{Matrix, Options, Settings, Window, attention};
/// // Each query sees the keys at its own position and the one before it.
/// let (q, k) = (Matrix::<3, 1>::zeros(), Matrix::<3, 1>::zeros());
/// let v = Matrix::from_rows([[2.0], [4.0], [8.0]]);
/// let mut out = Matrix::zeros();
/// attention(&q, &k, &v, &mut out, &Options::new().window(1, 0));
/// assert_eq!(*out.rows(), [[2.0], [3.0], [6.0]]);
/// // The same window as a field of `Settings`:
/// let s = Settings { window: Some(Window { left: 1, right: 0 }), ..Settings::default() };
/// let mut out_s = Matrix::zeros();
/// attention(&q, &k, &v, &mut out_s, &Options::new().with_settings(s));
/// assert_eq!(out_s, out);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Keys visible before the query's position.
    pub left: usize,
    /// Keys visible after the query's position.
    pub right: usize,
}

/// A boolean mask, `true` = attend (PyTorch's convention), given as a full
/// `NQ × NK` row-major matrix or as one row of `NK` shared by every query
/// (a key padding mask).
///
/// ```
/// use sdpa::runtime::{self, Mask, RuntimeOptions, Shape};
/// let shape = Shape { queries: 2, keys: 2, head_dim: 1, value_dim: 1 };
/// let (q, k, v) = ([0.0; 2], [0.0; 2], [2.0, 4.0]);
/// let mut out = [0.0; 2];
/// // Per key: the last key is padding for every query.
/// let keep = [true, false];
/// runtime::attention(shape, &q, &k, &v, &mut out, &RuntimeOptions::new().mask(Mask::PerKey(&keep))).unwrap();
/// assert_eq!(out, [2.0, 2.0]);
/// // Per query, row-major: query 0 sees key 1 only, query 1 both.
/// let mask = [false, true, true, true];
/// runtime::attention(shape, &q, &k, &v, &mut out, &RuntimeOptions::new().mask(Mask::PerQuery(&mask))).unwrap();
/// assert_eq!(out, [4.0, 3.0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mask<'a> {
    /// `NQ · NK` entries, row-major: entry `i·NK + j` for query `i`, key `j`.
    PerQuery(&'a [bool]),
    /// `NK` entries broadcast over every query.
    PerKey(&'a [bool]),
}

/// An additive `f32` mask (bias) added to the scaled scores, full `NQ × NK`
/// or one row of `NK` shared by every query. A `−∞` entry masks its key
/// exactly as a `false` boolean entry does: the key is skipped, its K and V
/// rows are never read.
///
/// ```
/// use sdpa::runtime::{self, Bias, RuntimeOptions, Shape};
/// let shape = Shape { queries: 1, keys: 3, head_dim: 1, value_dim: 1 };
/// let (q, k) = ([0.0], [0.0; 3]);
/// let v = [1.0, 0.0, f32::NAN]; // the masked key's value is never read
/// let bias = [0.0, -1.0, f32::NEG_INFINITY];
/// let mut out = [0.0];
/// runtime::attention(shape, &q, &k, &v, &mut out, &RuntimeOptions::new().bias(Bias::PerKey(&bias))).unwrap();
/// let e = (-1.0f32).exp();
/// assert!((out[0] - 1.0 / (1.0 + e)).abs() < 1e-6); // weights 1 : e⁻¹ : 0
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bias<'a> {
    /// `NQ · NK` entries, row-major.
    PerQuery(&'a [f32]),
    /// `NK` entries broadcast over every query.
    PerKey(&'a [f32]),
}

/// The shape-free settings: everything but the mask and bias data.
///
/// Together with an optional [`Mask`] and [`Bias`] this is the one model
/// every API lowers to: [`crate::Options`] (shapes in the types),
/// [`RuntimeOptions`](crate::runtime::RuntimeOptions) (runtime shapes), the
/// multi-head options and the layer. The builders' setters (`scale`,
/// `causal`, `alignment`, `window`, `alibi`) set the fields below and are
/// written once, for all of them. Each field's example shows what it does.
///
/// ```
/// use sdpa::{Matrix, Options, Settings, attention};
/// let (q, k) = (Matrix::<2, 1>::zeros(), Matrix::<2, 1>::zeros());
/// let v = Matrix::from_rows([[2.0], [4.0]]);
/// let (mut a, mut b) = (Matrix::zeros(), Matrix::zeros());
/// // Struct syntax and the builder lower to the same settings, the same bits.
/// let s = Settings { causal: true, ..Settings::default() };
/// attention(&q, &k, &v, &mut a, &Options::new().with_settings(s));
/// attention(&q, &k, &v, &mut b, &Options::new().causal());
/// assert_eq!((a, *a.rows()), (b, [[2.0], [3.0]]));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Settings {
    /// Multiplier of `q·k`; `None` means `1/√D` ([`scale_for`](Self::scale_for)).
    ///
    /// ```
    /// use sdpa::{Matrix, Options, attention};
    /// let q = Matrix::from_rows([[1.0, 0.0]]);
    /// let k = Matrix::from_rows([[1.0, 0.0], [-1.0, 0.0]]); // scores +1 and −1 before scaling
    /// let v = Matrix::from_rows([[1.0], [0.0]]);
    /// let mut out = Matrix::zeros();
    /// let weight_of_key_0 = |s: f32| 1.0 / (1.0 + (-2.0 * s).exp());
    /// attention(&q, &k, &v, &mut out, &Options::new().scale(3.0));
    /// assert!((out.rows()[0][0] - weight_of_key_0(3.0)).abs() < 1e-6);
    /// attention(&q, &k, &v, &mut out, &Options::new()); // 1/√2
    /// assert!((out.rows()[0][0] - weight_of_key_0(0.5f32.sqrt())).abs() < 1e-6);
    /// ```
    pub scale: Option<f32>,
    /// Mask keys after the query's position: `j > p(i)`.
    ///
    /// ```
    /// use sdpa::{Matrix, Options, attention};
    /// let (q, k) = (Matrix::<3, 1>::zeros(), Matrix::<3, 1>::zeros()); // equal scores
    /// let v = Matrix::from_rows([[3.0], [6.0], [9.0]]);
    /// let mut out = Matrix::zeros();
    /// attention(&q, &k, &v, &mut out, &Options::new().causal());
    /// assert_eq!(*out.rows(), [[3.0], [4.5], [6.0]]); // means of the first 1, 2, 3 values
    /// ```
    pub causal: bool,
    /// How queries align with keys, for `causal`, `window` and ALiBi
    /// (see [`Alignment`] for an example).
    pub alignment: Alignment,
    /// Optional local window around each query's position (see [`Window`]
    /// for an example).
    pub window: Option<Window>,
    /// ALiBi slope `m`: adds `−m·|p(i) − j|` to every score (Press et al.
    /// 2022; for causal attention this is the paper's `m·(j − i)`).
    ///
    /// ```
    /// use sdpa::{Matrix, Options, attention};
    /// // Equal scores; the key at distance 1 from the query loses e^{-m}.
    /// let (q, k) = (Matrix::<1, 1>::zeros(), Matrix::<2, 1>::zeros());
    /// let v = Matrix::from_rows([[1.0], [0.0]]);
    /// let mut out = Matrix::zeros();
    /// attention(&q, &k, &v, &mut out, &Options::new().alibi(0.5));
    /// assert!((out.rows()[0][0] - 1.0 / (1.0 + (-0.5f32).exp())).abs() < 1e-6);
    /// ```
    pub alibi_slope: Option<f32>,
}

impl Settings {
    /// No scale (`1/√D`), nothing masked, top-left, no ALiBi: the
    /// [`Default`], usable in `const` items.
    pub const fn new() -> Self {
        Settings { scale: None, causal: false, alignment: Alignment::TopLeft, window: None, alibi_slope: None }
    }

    /// The multiplier of `q·k` for head dimension `d`: [`scale`](Self::scale),
    /// or `1/√d` when unset (the one place the default is computed).
    ///
    /// ```
    /// let s = sdpa::Settings::new();
    /// assert_eq!(s.scale_for(16), 0.25);
    /// assert_eq!(sdpa::Settings { scale: Some(2.0), ..s }.scale_for(16), 2.0);
    /// ```
    pub fn scale_for(&self, d: usize) -> f32 {
        match self.scale {
            Some(s) => s,
            None => 1.0 / libm::sqrtf(d as f32),
        }
    }
}

/// Entries a mask or bias must hold: `blocks` blocks of `queries × keys`
/// entries (per query) or of `keys` entries (per key); `None` on overflow.
const fn entries(per_query: bool, queries: usize, keys: usize, blocks: usize) -> Option<usize> {
    let block = if per_query { queries.checked_mul(keys) } else { Some(keys) };
    match block {
        Some(b) => b.checked_mul(blocks),
        None => None,
    }
}

impl Mask<'_> {
    /// Whether the mask holds `blocks` blocks for `queries` queries and
    /// `keys` keys (one block for single-head calls).
    pub(crate) fn fits(&self, queries: usize, keys: usize, blocks: usize) -> bool {
        let (per_query, len) = match self {
            Mask::PerQuery(m) => (true, m.len()),
            Mask::PerKey(m) => (false, m.len()),
        };
        entries(per_query, queries, keys, blocks) == Some(len)
    }
}

impl Bias<'_> {
    /// Whether the bias holds `blocks` blocks for `queries` queries and
    /// `keys` keys (one block for single-head calls).
    pub(crate) fn fits(&self, queries: usize, keys: usize, blocks: usize) -> bool {
        let (per_query, len) = match self {
            Bias::PerQuery(b) => (true, b.len()),
            Bias::PerKey(b) => (false, b.len()),
        };
        entries(per_query, queries, keys, blocks) == Some(len)
    }
}

/// The setters every options builder shares, written once: `with_settings`,
/// `settings`, `scale`, `causal`, `alignment`, `window` and `alibi`, for a
/// builder whose [`Settings`] sit at `self.$path` (what each does is shown
/// on the [`Settings`] fields).
macro_rules! settings_builder {
    ($($path:ident).+) => {
        /// Replaces all settings (scale, causal, alignment, window, ALiBi) at once.
        pub const fn with_settings(mut self, settings: $crate::Settings) -> Self {
            self.$($path).+ = settings;
            self
        }

        /// The settings this builder lowers to, with its mask and bias.
        pub const fn settings(&self) -> $crate::Settings {
            self.$($path).+
        }

        /// Multiplies `q·k` by `scale` instead of `1/√D`
        /// ([`Settings::scale`](crate::Settings::scale)).
        pub const fn scale(mut self, scale: f32) -> Self {
            self.$($path).+.scale = Some(scale);
            self
        }

        /// Causal mask: query `i` sees keys `j ≤ p(i)`, top-left by default
        /// as PyTorch's `is_causal` ([`Settings::causal`](crate::Settings::causal)).
        pub const fn causal(mut self) -> Self {
            self.$($path).+.causal = true;
            self
        }

        /// How queries align with keys for causal, window and ALiBi
        /// ([`Alignment`](crate::Alignment)).
        pub const fn alignment(mut self, alignment: $crate::Alignment) -> Self {
            self.$($path).+.alignment = alignment;
            self
        }

        /// Local window: query `i` sees keys in `[p(i) − left, p(i) + right]`
        /// ([`Window`](crate::Window)); `causal().window(w - 1, 0)` is a
        /// sliding window of `w` keys.
        pub const fn window(mut self, left: usize, right: usize) -> Self {
            self.$($path).+.window = Some($crate::Window { left, right });
            self
        }

        /// ALiBi with slope `m`: adds `−m·|p(i) − j|` to each score
        /// ([`Settings::alibi_slope`](crate::Settings::alibi_slope)).
        pub const fn alibi(mut self, slope: f32) -> Self {
            self.$($path).+.alibi_slope = Some(slope);
            self
        }
    };
}
pub(crate) use settings_builder;

/// Options for the runtime-shape API ([`crate::runtime`]): [`Settings`]
/// plus an optional [`Mask`] and [`Bias`] as slices, whose lengths are
/// checked per call. The const-generic [`crate::Options`] lowers to this
/// ([`to_runtime`](crate::Options::to_runtime)).
///
/// ```
/// use sdpa::runtime::{self, Error, Mask, RuntimeOptions, Shape};
/// let shape = Shape { queries: 2, keys: 2, head_dim: 1, value_dim: 1 };
/// let (q, k, v) = ([0.0; 2], [0.0; 2], [2.0, 4.0]);
/// let mut out = [0.0; 2];
/// let keep = [true, false];
/// let o = RuntimeOptions::new().causal().mask(Mask::PerKey(&keep));
/// runtime::attention(shape, &q, &k, &v, &mut out, &o).unwrap();
/// assert_eq!(out, [2.0, 2.0]);
/// let short = RuntimeOptions::new().mask(Mask::PerKey(&keep[..1]));
/// assert_eq!(runtime::attention(shape, &q, &k, &v, &mut out, &short), Err(Error::MaskLength));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RuntimeOptions<'a> {
    pub(crate) settings: Settings,
    pub(crate) mask: Option<Mask<'a>>,
    pub(crate) bias: Option<Bias<'a>>,
}

impl<'a> RuntimeOptions<'a> {
    /// No mask, no bias, scale `1/√D`.
    pub const fn new() -> Self {
        Self { settings: Settings::new(), mask: None, bias: None }
    }

    settings_builder!(settings);

    /// Boolean mask, `true` = attend (see [`Mask`]). Replaces any earlier mask.
    pub const fn mask(mut self, mask: Mask<'a>) -> Self {
        self.mask = Some(mask);
        self
    }

    /// Additive mask added to the scaled scores; `−∞` entries mask their
    /// key (see [`Bias`]). Replaces any earlier bias.
    pub const fn bias(mut self, bias: Bias<'a>) -> Self {
        self.bias = Some(bias);
        self
    }
}
