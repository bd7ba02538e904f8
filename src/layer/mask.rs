//! Layer-level masking: encoder (bidirectional, key padding), decoder
//! (causal), sliding window.

use crate::{Alignment, Settings, Window};

/// Which keys each token attends to in [`SelfAttention::forward`](crate::layer::SelfAttention::forward),
/// for a sequence of `T` tokens. Shared by every head.
///
/// - Encoder (BERT, MiniLM): [`bidirectional`](Self::bidirectional), usually
///   with a key [`padding`](Self::padding) mask: padded tokens are never
///   attended to (their K and V rows are never read), as Hugging Face BERT's
///   `attention_mask`. Padded tokens' own output rows are still computed.
/// - Decoder (GPT, llama): [`causal`](Self::causal).
/// - Sliding window (Mistral, Gemma local layers): [`sliding_window`](Self::sliding_window),
///   or any [`window`](Self::window).
///
/// A token left with no visible key (for instance every key padded) gets an
/// all-zero attention output, so its layer output is the output bias (zero
/// without biases), never NaN.
///
/// ```
/// use sdpa::layer::LayerMask;
/// let keep = [true, true, true, false]; // the last token is padding
/// let encoder = LayerMask::bidirectional().padding(&keep);
/// let decoder = LayerMask::<4>::causal();
/// let mistral = LayerMask::<4>::sliding_window(2);
/// assert!(decoder.is_causal() && mistral.is_causal() && !encoder.is_causal());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerMask<'a, const T: usize> {
    pub(crate) causal: bool,
    pub(crate) window: Option<Window>,
    pub(crate) padding: Option<&'a [bool; T]>,
}

impl<'a, const T: usize> LayerMask<'a, T> {
    /// Every token sees every token (an encoder).
    ///
    /// ```
    /// assert!(!sdpa::layer::LayerMask::<3>::bidirectional().is_causal());
    /// ```
    pub const fn bidirectional() -> Self {
        Self { causal: false, window: None, padding: None }
    }

    /// Token `t` sees tokens `0 ..= t` (a decoder).
    ///
    /// ```
    /// assert!(sdpa::layer::LayerMask::<3>::causal().is_causal());
    /// ```
    pub const fn causal() -> Self {
        Self { causal: true, window: None, padding: None }
    }

    /// Causal with a window of `size` tokens: token `t` sees
    /// `t + 1 − size ..= t` (Mistral's `sliding_window`; `size = 0` acts as 1).
    /// Matches a decode against a sliding [`KvCache`](crate::layer::KvCache) of capacity `size`.
    ///
    /// ```
    /// let m = sdpa::layer::LayerMask::<8>::sliding_window(4);
    /// assert_eq!(m.settings().window, Some(sdpa::Window { left: 3, right: 0 }));
    /// ```
    pub const fn sliding_window(size: usize) -> Self {
        Self::causal().window(size.saturating_sub(1), 0)
    }

    /// Limits token `t` to keys `t − left ..= t + right` (combined with causal if set).
    ///
    /// ```
    /// let m = sdpa::layer::LayerMask::<8>::bidirectional().window(2, 2); // local attention
    /// assert_eq!(m.settings().window, Some(sdpa::Window { left: 2, right: 2 }));
    /// ```
    pub const fn window(mut self, left: usize, right: usize) -> Self {
        self.window = Some(Window { left, right });
        self
    }

    /// Key padding: `keep[j] == false` masks token `j` as a key for every
    /// query (Hugging Face's `attention_mask`, 1 = real token).
    ///
    /// ```
    /// let keep = [true, false];
    /// let m = sdpa::layer::LayerMask::bidirectional().padding(&keep);
    /// # let _ = m;
    /// ```
    pub const fn padding(mut self, keep: &'a [bool; T]) -> Self {
        self.padding = Some(keep);
        self
    }

    /// Whether the mask is causal.
    ///
    /// ```
    /// assert!(sdpa::layer::LayerMask::<2>::sliding_window(1).is_causal());
    /// ```
    pub const fn is_causal(&self) -> bool {
        self.causal
    }

    /// The attention settings this mask lowers to (default scale, no ALiBi).
    ///
    /// ```
    /// let s = sdpa::layer::LayerMask::<2>::causal().settings();
    /// assert!(s.causal && s.scale.is_none());
    /// ```
    pub const fn settings(&self) -> Settings {
        Settings {
            scale: None,
            causal: self.causal,
            alignment: Alignment::TopLeft,
            window: self.window,
            alibi_slope: None,
        }
    }
}
