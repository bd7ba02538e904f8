//! The types and constants of the C interface, as the header declares them.
//!
//! Every field a C caller fills is an integer, a float or a pointer, so no
//! bit pattern the caller writes can be an invalid Rust value: kinds and
//! modes are `uint32_t` checked against the enums below, and masks are
//! bytes checked to be 0 or 1.

/// Use `SdpaOptions::scale` (or `SdpaLayer::scale`) instead of `1/sqrt(head_dim)`.
pub const SDPA_FLAG_SCALE: u32 = 1 << 0;
/// Causal mask: query `i` sees keys `j <= p(i)`.
pub const SDPA_FLAG_CAUSAL: u32 = 1 << 1;
/// Bottom-right alignment: `p(i) = i + keys - queries` (FlashAttention's
/// convention, what a decoder with a cached prefix needs). Without it,
/// `p(i) = i` (top-left, PyTorch's `is_causal`).
pub const SDPA_FLAG_BOTTOM_RIGHT: u32 = 1 << 2;
/// Local window: query `i` sees keys `p(i) - window_left <= j <= p(i) + window_right`.
pub const SDPA_FLAG_WINDOW: u32 = 1 << 3;
/// ALiBi: adds `-alibi_slope * |p(i) - j|` to every score.
pub const SDPA_FLAG_ALIBI: u32 = 1 << 4;
/// The layer's packed weights hold the four biases (`SdpaLayer::flags` only).
pub const SDPA_FLAG_BIASES: u32 = 1 << 5;

/// Flags `SdpaOptions::flags` takes.
pub(crate) const ATTENTION_FLAGS: u32 =
    SDPA_FLAG_SCALE | SDPA_FLAG_CAUSAL | SDPA_FLAG_BOTTOM_RIGHT | SDPA_FLAG_WINDOW | SDPA_FLAG_ALIBI;
/// Flags `SdpaLayer::flags` takes.
pub(crate) const LAYER_FLAGS: u32 = SDPA_FLAG_SCALE | SDPA_FLAG_BIASES;
/// Flags `SdpaLayerMask::flags` takes.
pub(crate) const LAYER_MASK_FLAGS: u32 = SDPA_FLAG_CAUSAL | SDPA_FLAG_WINDOW;

/// The RoPE base `rope_theta = 0` stands for: 10000, the paper's and llama 1/2's.
pub const SDPA_DEFAULT_ROPE_THETA: f32 = 10_000.0;

/// Problem dimensions of an attention call: Q is `queries x head_dim`, K is
/// `keys x head_dim`, V is `keys x value_dim`, the output
/// `queries x value_dim`; all row-major `float`, no padding between rows.
///
/// ```c
/// SdpaShape shape = { .queries = 3, .keys = 5, .head_dim = 4, .value_dim = 6 };
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdpaShape {
    /// Rows of Q and of the output.
    pub queries: usize,
    /// Rows of K and V.
    pub keys: usize,
    /// Columns of Q and K.
    pub head_dim: usize,
    /// Columns of V and of the output.
    pub value_dim: usize,
}

/// How a boolean or additive mask covers the scores (the values of
/// `SdpaOptions::mask_kind` and `bias_kind`).
///
/// cbindgen:prefix-with-name
/// cbindgen:rename-all=ScreamingSnakeCase
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SdpaMask {
    /// No mask (the pointer is not read).
    None = 0,
    /// `queries x keys` entries, row-major: entry `i * keys + j` is for query `i`, key `j`.
    PerQuery = 1,
    /// `keys` entries shared by every query (a key padding mask).
    PerKey = 2,
}

/// Options of an attention call. All zeros (`SdpaOptions o = {0};`), or a
/// NULL `const SdpaOptions *`, means: scale `1/sqrt(head_dim)`, no mask,
/// no bias, no causal mask, no window, no ALiBi.
///
/// With `p(i)` the key position of query `i` (see `SDPA_FLAG_BOTTOM_RIGHT`),
/// each score is `q_i . k_j * scale - alibi_slope * |p(i) - j| + bias_ij`; keys
/// outside the causal mask or the window, with a mask byte 0 or a bias of
/// `-INFINITY` are skipped before their K and V rows are read. A query that
/// sees no key gets an all-zero output row (never NaN).
///
/// ```c
/// uint8_t keep[5] = { 1, 1, 1, 0, 0 };         // the last two keys are padding
/// SdpaOptions o = {0};
/// o.flags = SDPA_FLAG_CAUSAL | SDPA_FLAG_WINDOW;
/// o.window_left = 1;                           // each query sees itself and one key back
/// o.mask_kind = SDPA_MASK_PER_KEY;
/// o.mask = keep;
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SdpaOptions {
    /// Bitwise OR of `SDPA_FLAG_SCALE`, `SDPA_FLAG_CAUSAL`,
    /// `SDPA_FLAG_BOTTOM_RIGHT`, `SDPA_FLAG_WINDOW`, `SDPA_FLAG_ALIBI`;
    /// any other bit is `SDPA_STATUS_INVALID_OPTION`.
    pub flags: u32,
    /// Multiplier of `q . k` when `SDPA_FLAG_SCALE` is set.
    pub scale: f32,
    /// ALiBi slope `m` when `SDPA_FLAG_ALIBI` is set.
    pub alibi_slope: f32,
    /// An `SdpaMask` value: how `mask` covers the scores.
    pub mask_kind: u32,
    /// An `SdpaMask` value: how `bias` covers the scores.
    pub bias_kind: u32,
    /// Keys visible before the query's position, when `SDPA_FLAG_WINDOW` is set.
    pub window_left: usize,
    /// Keys visible after the query's position, when `SDPA_FLAG_WINDOW` is set.
    pub window_right: usize,
    /// Boolean mask bytes, 1 = attend, 0 = masked (PyTorch's `True` = attend);
    /// any other byte is `SDPA_STATUS_INVALID_MASK`. Read only if `mask_kind`
    /// is not `SDPA_MASK_NONE`.
    pub mask: *const u8,
    /// Additive mask added to the scaled scores; `-INFINITY` masks its key.
    /// Read only if `bias_kind` is not `SDPA_MASK_NONE`.
    pub bias: *const f32,
}

/// The positional encoding a layer applies (the values of `SdpaLayer::positions`).
///
/// cbindgen:prefix-with-name
/// cbindgen:rename-all=ScreamingSnakeCase
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SdpaPositions {
    /// None inside the layer (BERT's learned or sinusoidal input encodings).
    None = 0,
    /// RoPE on pairs `(2i, 2i + 1)`: Meta's llama, llama2.c.
    RopeInterleaved = 1,
    /// RoPE on pairs `(i, i + head_dim / 2)`: Hugging Face llama, Mistral, Qwen.
    RopeHalfSplit = 2,
    /// ALiBi with the paper's slope for each query head.
    Alibi = 3,
}

/// What a KV cache does when full (the values of `SdpaKvCache::mode`).
///
/// cbindgen:prefix-with-name
/// cbindgen:rename-all=ScreamingSnakeCase
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SdpaCacheMode {
    /// Holds `capacity` tokens, then refuses one more with `SDPA_STATUS_CACHE_FULL`.
    Fixed = 0,
    /// Keeps the last `capacity` tokens (a rolling buffer, Mistral's sliding
    /// window); positions stay absolute for RoPE and ALiBi.
    Sliding = 1,
}

/// A multi-head self-attention layer: Q/K/V/O projections in PyTorch
/// `nn.Linear` layout (`weight` is `[out_features, in_features]` row-major,
/// `y = x . W^T + b`), `q_heads` query heads sharing `kv_heads` key/value
/// heads (MHA, GQA, MQA) of dimension `head_dim`, on a model of width
/// `d_model = q_heads * head_dim`. Query head `h` uses kv head
/// `h / (q_heads / kv_heads)`.
///
/// `weights` is one buffer holding the tensors in state-dict order, each
/// bias after its weight: `Wq [d_model x d_model]`, `bq`, `Wk
/// [kv_heads*head_dim x d_model]`, `bk`, `Wv` (as `Wk`), `bv`, `Wo [d_model x
/// d_model]`, `bo` (biases only with `SDPA_FLAG_BIASES`), exactly
/// `sdpa_layer_weights_len` floats: what `tensor.numpy().tofile()` writes
/// for each, concatenated. The struct and the weights can be `static const`
/// (in flash).
///
/// ```c
/// static const float weights[SDPA_LAYER_WEIGHTS_FLOATS(64, 2, 16, 0)] = { ... };
/// static const SdpaLayer layer = {
///     .d_model = 64, .q_heads = 4, .kv_heads = 2, .head_dim = 16, // GQA
///     .weights = weights, .weights_len = sizeof weights / sizeof weights[0],
///     .positions = SDPA_POSITIONS_ROPE_HALF_SPLIT,                 // rope_theta 0: 10000
/// };
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SdpaLayer {
    /// Model width `D`, the length of every token vector.
    pub d_model: usize,
    /// Query heads.
    pub q_heads: usize,
    /// Key/value heads; divides `q_heads`.
    pub kv_heads: usize,
    /// Dimension of every head; `q_heads * head_dim == d_model`.
    pub head_dim: usize,
    /// The packed weights (and biases), see above.
    pub weights: *const f32,
    /// Floats in `weights`; must equal `sdpa_layer_weights_len`.
    pub weights_len: usize,
    /// `SDPA_FLAG_BIASES` and/or `SDPA_FLAG_SCALE`.
    pub flags: u32,
    /// An `SdpaPositions` value.
    pub positions: u32,
    /// RoPE base `theta`; 0 means `SDPA_DEFAULT_ROPE_THETA` (llama 3: 500000).
    pub rope_theta: f32,
    /// Score scale when `SDPA_FLAG_SCALE` is set; otherwise `1/sqrt(head_dim)`.
    pub scale: f32,
}

/// Which keys each token sees in `sdpa_layer_forward`, shared by all heads.
/// All zeros, or a NULL pointer, is bidirectional without padding (an
/// encoder).
///
/// ```c
/// SdpaLayerMask decoder = { .flags = SDPA_FLAG_CAUSAL };
/// SdpaLayerMask mistral = { .flags = SDPA_FLAG_CAUSAL | SDPA_FLAG_WINDOW, .window_left = 4096 - 1 };
/// uint8_t keep[6] = { 1, 1, 1, 1, 0, 0 };      // Hugging Face attention_mask
/// SdpaLayerMask bert = { .padding = keep };
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SdpaLayerMask {
    /// `SDPA_FLAG_CAUSAL` and/or `SDPA_FLAG_WINDOW`.
    pub flags: u32,
    /// With `SDPA_FLAG_WINDOW`, token `t` sees keys `t - window_left ..= t + window_right`.
    pub window_left: usize,
    /// See `window_left`.
    pub window_right: usize,
    /// NULL, or `tokens` bytes: 1 = a real token, 0 = padding (never attended
    /// to as a key); other bytes are `SDPA_STATUS_INVALID_MASK`.
    pub padding: *const u8,
}

/// The keys and values of past tokens for `sdpa_layer_decode`, in storage
/// the caller owns (static, stack or heap): `sdpa_kv_cache_init` sets every
/// field; treat them as read-only after that (`len` and `next_position` are
/// public to read). Keys are stored after RoPE; slot `p % capacity` holds
/// the token at position `p`.
///
/// ```c
/// static float storage[SDPA_KV_CACHE_FLOATS(2, 128, 16)]; // kv_heads 2, 128 tokens, head_dim 16
/// static SdpaKvCache cache;
/// sdpa_kv_cache_init(&cache, &layer, storage, sizeof storage / sizeof storage[0], 128, SDPA_CACHE_MODE_FIXED);
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SdpaKvCache {
    /// Keys: `kv_heads` blocks of `capacity x head_dim` floats.
    pub keys: *mut f32,
    /// Values, laid out as `keys`.
    pub values: *mut f32,
    /// Tokens the cache holds at most.
    pub capacity: usize,
    /// The layer's `kv_heads`.
    pub kv_heads: usize,
    /// The layer's `head_dim`.
    pub head_dim: usize,
    /// Tokens held now (at most `capacity`).
    pub len: usize,
    /// The position the next token gets (tokens decoded since init or clear).
    pub next_position: usize,
    /// An `SdpaCacheMode` value.
    pub mode: u32,
}

/// `SdpaKvCache` with K and V stored in 16 bits, binary16 or bfloat16 as
/// `kv_type` says (an `SdpaKvType` value): half the bytes, for
/// `sdpa_layer_decode_kv16`. `sdpa_kv_cache16_init` sets every field; the
/// same rules as `SdpaKvCache` apply. Each new K (after RoPE) and V value is
/// rounded to the storage type once, when it is stored.
///
/// ```c
/// static uint16_t storage[SDPA_KV_CACHE_FLOATS(2, 128, 16)]; // the same count, in 16-bit elements
/// static SdpaKvCache16 cache;
/// sdpa_kv_cache16_init(&cache, &layer, storage, sizeof storage / sizeof storage[0], 128,
///                      SDPA_CACHE_MODE_FIXED, SDPA_KV_TYPE_F16);
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SdpaKvCache16 {
    /// Keys: `kv_heads` blocks of `capacity x head_dim` 16-bit values.
    pub keys: *mut u16,
    /// Values, laid out as `keys`.
    pub values: *mut u16,
    /// Tokens the cache holds at most.
    pub capacity: usize,
    /// The layer's `kv_heads`.
    pub kv_heads: usize,
    /// The layer's `head_dim`.
    pub head_dim: usize,
    /// Tokens held now (at most `capacity`).
    pub len: usize,
    /// The position the next token gets (tokens decoded since init or clear).
    pub next_position: usize,
    /// An `SdpaCacheMode` value.
    pub mode: u32,
    /// An `SdpaKvType` value: how `keys` and `values` are stored.
    pub kv_type: u32,
}

/// Which batch entries and heads each block of a multi-head mask or bias
/// serves (the values of `SdpaHeadOptions::mask_broadcast` and
/// `bias_broadcast`; PyTorch's broadcasting of `attn_mask` over the batch
/// and head axes). Blocks follow one another; a block is `queries x keys`
/// entries (`SDPA_MASK_PER_QUERY`) or `keys` (`SDPA_MASK_PER_KEY`).
///
/// cbindgen:prefix-with-name
/// cbindgen:rename-all=ScreamingSnakeCase
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SdpaBroadcast {
    /// One block for every batch entry and head (PyTorch `(L, S)`).
    Shared = 0,
    /// One block per query head, block `h` (PyTorch `(1, H, L, S)`).
    PerHead = 1,
    /// One block per batch entry, block `b` (PyTorch `(B, 1, L, S)`, or
    /// `(B, 1, 1, S)` per key: a key padding mask).
    PerBatch = 2,
    /// One block per batch entry and query head, block `b * q_heads + h`.
    PerBatchHead = 3,
}

/// Sizes of a multi-head call: Q is `batch x q_heads x queries x
/// head_dim`, K `batch x kv_heads x keys x head_dim`, V `batch x kv_heads x
/// keys x value_dim`, the output `batch x q_heads x queries x value_dim`,
/// each laid out as its `SdpaStrides` say. Query head `h` reads kv head
/// `h / (q_heads / kv_heads)` (GQA; `kv_heads = 1` is MQA).
///
/// ```c
/// SdpaHeadShape shape = { .batch = 1, .q_heads = 8, .kv_heads = 2, .queries = 16, .keys = 16,
///                         .head_dim = 64, .value_dim = 64 };
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdpaHeadShape {
    /// Batch entries.
    pub batch: usize,
    /// Query heads, also the output's heads.
    pub q_heads: usize,
    /// Key/value heads; divides `q_heads`.
    pub kv_heads: usize,
    /// Queries per head.
    pub queries: usize,
    /// Keys and values per kv head.
    pub keys: usize,
    /// Entries of a query or key row.
    pub head_dim: usize,
    /// Entries of a value or output row.
    pub value_dim: usize,
}

/// Element strides (in floats, not bytes) of a tensor view: element
/// `[b][h][t][i]` is `data[b*batch + h*head + t*token + i*dim]`. `dim` must
/// be 1 (a stride is ignored for an axis of extent 1). PyTorch's
/// `tensor.stride()` of a `[B, H, S, D]` tensor gives the four values.
///
/// ```c
/// // [batch][tokens][heads][dim] (a projection's output, BSHD):
/// SdpaStrides bshd = { .batch = tokens * heads * dim, .head = dim, .token = heads * dim, .dim = 1 };
/// // [batch][heads][tokens][dim] (PyTorch's layout, BHSD):
/// SdpaStrides bhsd = { .batch = heads * tokens * dim, .head = tokens * dim, .token = dim, .dim = 1 };
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdpaStrides {
    /// Floats from one batch entry to the next.
    pub batch: usize,
    /// Floats from one head to the next.
    pub head: usize,
    /// Floats from one token (row) to the next: at least the row width.
    pub token: usize,
    /// Floats from one entry of a row to the next: 1.
    pub dim: usize,
}

/// An input tensor of a multi-head call: the buffer `data` of `len` floats
/// and the view's strides. The view must lie inside the buffer
/// (`SDPA_STATUS_OUT_OF_BOUNDS`). Input views may share a buffer (Q, K and
/// V inside one fused QKV projection) and rows (a stride of 0 repeats them).
///
/// ```c
/// // K of a fused [tokens][q heads 8 + k heads 2 + v heads 2][dim 64] buffer.
/// SdpaTensor k = { .data = qkv + 8 * 64, .len = qkv_len - 8 * 64,
///                  .strides = { .head = 64, .token = 12 * 64, .dim = 1 } };
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SdpaTensor {
    /// The buffer's first float.
    pub data: *const f32,
    /// Floats in the buffer.
    pub len: usize,
    /// The view's strides.
    pub strides: SdpaStrides,
}

/// The output tensor of a multi-head call: as `SdpaTensor`, writable. Only
/// the view's rows are written; every other float of the buffer (padding,
/// other tensors) is left as it is, so the whole buffer must be
/// initialized. Its rows must not overlap (`SDPA_STATUS_OUTPUT_OVERLAP`),
/// and the buffer must not overlap any input buffer (`SDPA_STATUS_ALIASING`).
///
/// ```c
/// float out[16 * 8 * 64];                              // [tokens][heads][dim]
/// SdpaTensorMut o = { .data = out, .len = 16 * 8 * 64, .strides = { .head = 64, .token = 8 * 64, .dim = 1 } };
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SdpaTensorMut {
    /// The buffer's first float.
    pub data: *mut f32,
    /// Floats in the buffer.
    pub len: usize,
    /// The view's strides.
    pub strides: SdpaStrides,
}

/// The storage of K and V in `sdpa_multihead_attention_kv16`: IEEE
/// binary16 or bfloat16 bits in a `uint16_t`. Each value is widened to
/// `float` exactly in registers; Q, the arithmetic and the output stay
/// `float`. Any other value is `SDPA_STATUS_INVALID_OPTION` (0 included, so
/// that a zero-initialized field is refused).
///
/// ```c
/// uint32_t kv_type = SDPA_KV_TYPE_F16; // or SDPA_KV_TYPE_BF16
/// ```
/// cbindgen:prefix-with-name
/// cbindgen:rename-all=ScreamingSnakeCase
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SdpaKvType {
    /// IEEE 754 binary16 (`_Float16`, numpy's `float16`, PyTorch's `torch.half`).
    F16 = 1,
    /// bfloat16: the upper half of a `float` (PyTorch's `torch.bfloat16`).
    Bf16 = 2,
}

/// A 16-bit input tensor (K or V of `sdpa_multihead_attention_kv16`): as
/// `SdpaTensor`, with `len` and the strides counted in 16-bit elements.
///
/// ```c
/// // A KV cache in binary16, [heads 2][tokens 128][dim 64].
/// static uint16_t k_cache[2 * 128 * 64];
/// SdpaTensor16 k = { .data = k_cache, .len = 2 * 128 * 64, .strides = { .head = 128 * 64, .token = 64, .dim = 1 } };
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SdpaTensor16 {
    /// The buffer's first element.
    pub data: *const u16,
    /// Elements in the buffer.
    pub len: usize,
    /// The view's strides, in elements.
    pub strides: SdpaStrides,
}

/// Options of a multi-head call: `base` as for `sdpa_attention` (flags,
/// scale, window, mask and bias kinds and pointers, one ALiBi slope),
/// applied to every head, plus how the mask's and bias's blocks spread over
/// batch entries and heads, and optionally one ALiBi slope per query head.
/// All zeros, or a NULL pointer: the defaults, one mask block for all.
///
/// ```c
/// static const float slopes[4] = { 0.25f, 0.0625f, 0.015625f, 0.00390625f };
/// uint8_t keep[2 * 5] = { 1, 1, 1, 1, 1,   1, 1, 1, 0, 0 };  // batch 2, 5 keys: padding
/// SdpaHeadOptions o = { 0 };
/// o.base.flags = SDPA_FLAG_CAUSAL | SDPA_FLAG_ALIBI;
/// o.alibi_slopes = slopes;                                   // one per query head
/// o.base.mask_kind = SDPA_MASK_PER_KEY;
/// o.base.mask = keep;
/// o.mask_broadcast = SDPA_BROADCAST_PER_BATCH;
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SdpaHeadOptions {
    /// The single-head options; the mask and bias hold one block per
    /// `mask_broadcast` / `bias_broadcast`.
    pub base: SdpaOptions,
    /// An `SdpaBroadcast` value for the mask (any other value is
    /// `SDPA_STATUS_INVALID_OPTION`).
    pub mask_broadcast: u32,
    /// An `SdpaBroadcast` value for the bias.
    pub bias_broadcast: u32,
    /// NULL (every head uses `base.alibi_slope`), or `q_heads` slopes, one
    /// per query head. Read only with `SDPA_FLAG_ALIBI`.
    pub alibi_slopes: *const f32,
}
