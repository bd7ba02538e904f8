//! Keys and values of past tokens for incremental decoding, with a capacity
//! fixed at compile time, stored as `f32` or in 16 bits.

use crate::KvElement;

/// What a [`KvCache`] does when it is full.
///
/// ```
/// assert_eq!(sdpa::layer::CacheMode::default(), sdpa::layer::CacheMode::Fixed);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CacheMode {
    /// Holds at most `CAP` tokens; one more is refused with [`CacheError::Full`].
    #[default]
    Fixed,
    /// Keeps the last `CAP` tokens: a new token overwrites the oldest, so
    /// each token attends to itself and the `CAP − 1` before it (Mistral's
    /// rolling buffer). Positions stay absolute for RoPE and ALiBi.
    Sliding,
}

/// Why a decode step was refused.
///
/// ```
/// use sdpa::layer::CacheError;
/// assert_eq!(CacheError::Full.to_string(), "the key/value cache is full");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CacheError {
    /// A [`CacheMode::Fixed`] cache already holds `CAP` tokens; nothing was changed.
    Full,
}

impl core::fmt::Display for CacheError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CacheError::Full => f.write_str("the key/value cache is full"),
        }
    }
}

impl core::error::Error for CacheError {}

/// Keys and values of up to `CAP` past tokens for `KVH` key/value heads of
/// dimension `HD`, for [`SelfAttention::decode`](crate::layer::SelfAttention::decode):
/// `2·KVH·CAP·HD` elements of type `E`, no allocation. Keys are stored
/// after RoPE, at their absolute positions.
///
/// `E` is `f32` (the default), [`F16`](crate::F16) or [`Bf16`](crate::Bf16):
/// a 16-bit cache halves the bytes a decode step reads (as ggml and
/// llama.cpp keep theirs in f16). Each new key and value is computed in
/// `f32` and rounded to `E` (nearest, ties to even) as it is stored; the
/// attention widens them back exactly as it reads them.
///
/// Slot `pos % CAP` holds the token at position `pos`: in order while the
/// cache has not wrapped, a ring buffer after that (sliding mode only).
///
/// ```
/// use sdpa::F16;
/// use sdpa::layer::{CacheMode, KvCache};
/// let cache = KvCache::<128, 2, 16>::new(); // fixed, 128 tokens of f32
/// assert_eq!((cache.len(), cache.capacity(), cache.mode()), (0, 128, CacheMode::Fixed));
/// let rolling = KvCache::<64, 2, 16>::sliding(); // the last 64 tokens, Mistral-style
/// assert_eq!(rolling.mode(), CacheMode::Sliding);
/// let half = KvCache::<128, 2, 16, F16>::new(); // the same in binary16: half the bytes
/// assert!(2 * size_of_val(&half) < size_of_val(&cache) + 64);
/// ```
#[derive(Clone, Debug)]
pub struct KvCache<const CAP: usize, const KVH: usize, const HD: usize, E: KvElement = f32> {
    pub(crate) keys: [[[E; HD]; CAP]; KVH],
    pub(crate) values: [[[E; HD]; CAP]; KVH],
    len: usize,
    next_position: usize,
    mode: CacheMode,
}

impl<const CAP: usize, const KVH: usize, const HD: usize, E: KvElement> KvCache<CAP, KVH, HD, E> {
    /// An empty cache in [`CacheMode::Fixed`]; `const`, so it can be a `static`.
    ///
    /// ```
    /// assert!(sdpa::layer::KvCache::<8, 1, 4>::new().is_empty());
    /// ```
    pub const fn new() -> Self {
        Self::with_mode(CacheMode::Fixed)
    }

    /// An empty cache in [`CacheMode::Sliding`].
    ///
    /// ```
    /// use sdpa::layer::{CacheMode, KvCache};
    /// assert_eq!(KvCache::<8, 1, 4>::sliding().mode(), CacheMode::Sliding);
    /// ```
    pub const fn sliding() -> Self {
        Self::with_mode(CacheMode::Sliding)
    }

    /// An empty cache in `mode`.
    ///
    /// ```
    /// use sdpa::layer::{CacheMode, KvCache};
    /// assert_eq!(KvCache::<8, 1, 4>::with_mode(CacheMode::Fixed), KvCache::new());
    /// ```
    pub const fn with_mode(mode: CacheMode) -> Self {
        let () = Self::NON_EMPTY;
        let empty = [[[E::ZERO; HD]; CAP]; KVH];
        Self { keys: empty, values: empty, len: 0, next_position: 0, mode }
    }

    const NON_EMPTY: () =
        assert!(CAP > 0 && KVH > 0 && HD > 0, "sdpa::layer::KvCache: CAP, KVH and HD must be non-zero");

    /// Tokens held (at most `CAP`).
    ///
    /// ```
    /// assert_eq!(sdpa::layer::KvCache::<8, 1, 4>::new().len(), 0);
    /// ```
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether no token is held.
    ///
    /// ```
    /// assert!(sdpa::layer::KvCache::<8, 1, 4>::new().is_empty());
    /// ```
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `CAP`.
    ///
    /// ```
    /// assert_eq!(sdpa::layer::KvCache::<8, 1, 4>::new().capacity(), 8);
    /// ```
    pub const fn capacity(&self) -> usize {
        CAP
    }

    /// The absolute position the next token will get (tokens appended since
    /// creation or [`clear`](Self::clear)).
    ///
    /// ```
    /// assert_eq!(sdpa::layer::KvCache::<8, 1, 4>::new().next_position(), 0);
    /// ```
    pub const fn next_position(&self) -> usize {
        self.next_position
    }

    /// Fixed or sliding.
    ///
    /// ```
    /// use sdpa::layer::{CacheMode, KvCache};
    /// assert_eq!(KvCache::<8, 1, 4>::new().mode(), CacheMode::Fixed);
    /// ```
    pub const fn mode(&self) -> CacheMode {
        self.mode
    }

    /// Forgets every token; the next one gets position 0. The stored values
    /// are not erased (they are never read again).
    ///
    /// ```
    /// let mut c = sdpa::layer::KvCache::<8, 1, 4>::new();
    /// c.clear();
    /// assert_eq!((c.len(), c.next_position()), (0, 0));
    /// ```
    pub fn clear(&mut self) {
        self.len = 0;
        self.next_position = 0;
    }

    /// The keys of kv head `g` in slot order (`len()` rows), `None` past the last head.
    ///
    /// ```
    /// assert_eq!(sdpa::layer::KvCache::<8, 2, 4>::new().keys(1).map(|k| k.len()), Some(0));
    /// ```
    pub fn keys(&self, g: usize) -> Option<&[[E; HD]]> {
        self.keys.get(g).and_then(|m| m.get(..self.len))
    }

    /// The values of kv head `g` in slot order (`len()` rows), `None` past the last head.
    ///
    /// ```
    /// assert!(sdpa::layer::KvCache::<8, 2, 4>::new().values(2).is_none());
    /// ```
    pub fn values(&self, g: usize) -> Option<&[[E; HD]]> {
        self.values.get(g).and_then(|m| m.get(..self.len))
    }

    /// The absolute position of the token in `slot`, `None` for an empty slot.
    ///
    /// ```
    /// assert_eq!(sdpa::layer::KvCache::<8, 1, 4>::new().position_of(0), None);
    /// ```
    pub fn position_of(&self, slot: usize) -> Option<usize> {
        self.next_position.checked_sub(1)?.checked_sub(self.age(slot)?)
    }

    /// How many tokens before the newest one the token in `slot` came
    /// (`None` for an empty slot): the ring arithmetic, in one place.
    fn age(&self, slot: usize) -> Option<usize> {
        if slot >= self.len {
            return None;
        }
        let newest_slot = self.next_position.checked_sub(1)? % CAP;
        Some((newest_slot + CAP - slot) % CAP)
    }

    /// ALiBi's `−slope·(distance to the newest token)` for each slot in use,
    /// into `out` (the first `len()` entries): the per-key bias a wrapped
    /// sliding cache needs, since its slots are no longer in position order.
    pub(crate) fn alibi_bias(&self, slope: f32, out: &mut [f32]) {
        for (slot, b) in out.iter_mut().enumerate() {
            *b = -(slope * self.age(slot).unwrap_or(0) as f32);
        }
    }

    /// Whether some slot has been overwritten, so slots are no longer in
    /// position order.
    pub(crate) const fn wrapped(&self) -> bool {
        self.next_position > CAP
    }

    /// The slot the next token goes to, or [`CacheError::Full`].
    pub(crate) const fn next_slot(&self) -> Result<usize, CacheError> {
        match self.mode {
            CacheMode::Fixed if self.len >= CAP => Err(CacheError::Full),
            _ => Ok(self.next_position % CAP),
        }
    }

    /// Records that the next slot now holds the token at `next_position`.
    /// Positions saturate at `usize::MAX` (never reached in practice).
    pub(crate) fn commit(&mut self) {
        self.len = (self.len + 1).min(CAP);
        self.next_position = self.next_position.saturating_add(1);
    }
}

impl<const CAP: usize, const KVH: usize, const HD: usize, E: KvElement> Default for KvCache<CAP, KVH, HD, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const CAP: usize, const KVH: usize, const HD: usize, E: KvElement> PartialEq for KvCache<CAP, KVH, HD, E> {
    /// Equal when mode, positions and every held key and value are equal
    /// (slots not in use are ignored).
    fn eq(&self, other: &Self) -> bool {
        self.mode == other.mode
            && self.len == other.len
            && self.next_position == other.next_position
            && (0..KVH).all(|g| self.keys(g) == other.keys(g) && self.values(g) == other.values(g))
    }
}
