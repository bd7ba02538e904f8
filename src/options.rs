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
/// use sdpa::{Alignment, Options};
/// let o = Options::<2, 5>::new().causal().alignment(Alignment::BottomRight);
/// assert_eq!(o.settings().alignment, Alignment::BottomRight);
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
/// let w = sdpa::Window { left: 3, right: 0 };
/// assert_eq!(w.left, 3);
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
/// let keep = [true, true, false];
/// let m = sdpa::runtime::Mask::PerKey(&keep);
/// assert!(matches!(m, sdpa::runtime::Mask::PerKey(_)));
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
/// let bias = [0.0, -1.0, f32::NEG_INFINITY];
/// let b = sdpa::runtime::Bias::PerKey(&bias);
/// assert!(matches!(b, sdpa::runtime::Bias::PerKey(_)));
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
/// ```
/// let s = sdpa::Settings::default();
/// assert_eq!(s.scale, None);
/// assert!(!s.causal);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Settings {
    /// Multiplier of `q·k`; `None` means `1/√D`.
    pub scale: Option<f32>,
    /// Mask keys after the query's position: `j > p(i)`.
    pub causal: bool,
    /// How queries align with keys, for `causal`, `window` and ALiBi.
    pub alignment: Alignment,
    /// Optional local window around each query's position.
    pub window: Option<Window>,
    /// ALiBi slope `m`: adds `−m·|p(i) − j|` to every score (Press et al.
    /// 2022; for causal attention this is the paper's `m·(j − i)`).
    pub alibi_slope: Option<f32>,
}

impl Settings {
    /// The multiplier of `q·k` for head dimension `d`: [`scale`](Self::scale),
    /// or `1/√d` when unset (the one place the default is computed).
    ///
    /// ```
    /// let s = sdpa::Settings::default();
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

/// Options for the runtime-shape API ([`crate::runtime`]): settings plus
/// optional mask and bias slices, whose lengths are checked per call.
///
/// ```
/// let keep = [true, false];
/// let o = sdpa::runtime::Options::new().causal().mask(sdpa::runtime::Mask::PerKey(&keep));
/// assert!(o.settings().causal);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Options<'a> {
    pub(crate) settings: Settings,
    pub(crate) mask: Option<Mask<'a>>,
    pub(crate) bias: Option<Bias<'a>>,
}

impl<'a> Options<'a> {
    /// No mask, no bias, scale `1/√D`.
    ///
    /// ```
    /// assert_eq!(sdpa::runtime::Options::new(), Default::default());
    /// ```
    pub const fn new() -> Self {
        Self {
            settings: Settings {
                scale: None,
                causal: false,
                alignment: Alignment::TopLeft,
                window: None,
                alibi_slope: None,
            },
            mask: None,
            bias: None,
        }
    }

    /// Replaces all settings at once.
    ///
    /// ```
    /// let s = sdpa::Settings { causal: true, ..Default::default() };
    /// assert!(sdpa::runtime::Options::new().with_settings(s).settings().causal);
    /// ```
    pub const fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// The current settings.
    ///
    /// ```
    /// assert_eq!(sdpa::runtime::Options::new().scale(0.5).settings().scale, Some(0.5));
    /// ```
    pub const fn settings(&self) -> Settings {
        self.settings
    }

    /// Multiplies `q·k` by `scale` instead of `1/√D`.
    ///
    /// ```
    /// let o = sdpa::runtime::Options::new().scale(1.0);
    /// assert_eq!(o.settings().scale, Some(1.0));
    /// ```
    pub const fn scale(mut self, scale: f32) -> Self {
        self.settings.scale = Some(scale);
        self
    }

    /// Causal mask: query `i` sees keys `j ≤ p(i)`.
    ///
    /// ```
    /// assert!(sdpa::runtime::Options::new().causal().settings().causal);
    /// ```
    pub const fn causal(mut self) -> Self {
        self.settings.causal = true;
        self
    }

    /// Sets how queries align with keys (default [`Alignment::TopLeft`]).
    ///
    /// ```
    /// use sdpa::Alignment;
    /// let o = sdpa::runtime::Options::new().alignment(Alignment::BottomRight);
    /// assert_eq!(o.settings().alignment, Alignment::BottomRight);
    /// ```
    pub const fn alignment(mut self, alignment: Alignment) -> Self {
        self.settings.alignment = alignment;
        self
    }

    /// Local window: query `i` sees keys in `[p(i) − left, p(i) + right]`.
    ///
    /// ```
    /// let o = sdpa::runtime::Options::new().window(2, 0);
    /// assert_eq!(o.settings().window, Some(sdpa::Window { left: 2, right: 0 }));
    /// ```
    pub const fn window(mut self, left: usize, right: usize) -> Self {
        self.settings.window = Some(Window { left, right });
        self
    }

    /// ALiBi with slope `m`: adds `−m·|p(i) − j|` to each score.
    ///
    /// ```
    /// let o = sdpa::runtime::Options::new().alibi(0.25);
    /// assert_eq!(o.settings().alibi_slope, Some(0.25));
    /// ```
    pub const fn alibi(mut self, slope: f32) -> Self {
        self.settings.alibi_slope = Some(slope);
        self
    }

    /// Boolean mask, `true` = attend.
    ///
    /// ```
    /// let keep = [true];
    /// let o = sdpa::runtime::Options::new().mask(sdpa::runtime::Mask::PerKey(&keep));
    /// assert!(o.settings() == sdpa::Settings::default());
    /// ```
    pub const fn mask(mut self, mask: Mask<'a>) -> Self {
        self.mask = Some(mask);
        self
    }

    /// Additive mask added to the scaled scores; `−∞` entries mask their key.
    ///
    /// ```
    /// let bias = [0.0, f32::NEG_INFINITY];
    /// let o = sdpa::runtime::Options::new().bias(sdpa::runtime::Bias::PerKey(&bias));
    /// assert!(o.settings() == sdpa::Settings::default());
    /// ```
    pub const fn bias(mut self, bias: Bias<'a>) -> Self {
        self.bias = Some(bias);
        self
    }
}
