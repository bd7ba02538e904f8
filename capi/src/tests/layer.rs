//! The runtime-sized layer through the C functions: bit for bit the const
//! generic `sdpa::layer::SelfAttention` (forward and every decode step, fixed
//! and rolling caches) at every configuration of the layer's numpy vectors,
//! and within the layer tests' tolerance of numpy.

use super::max_err;
use crate::ffi::layer::{
    sdpa_decode_scratch_len, sdpa_kv_cache_init, sdpa_kv_cache_storage_len, sdpa_layer_decode, sdpa_layer_forward,
    sdpa_layer_scratch_len, sdpa_layer_weights_len,
};
use crate::{
    SDPA_FLAG_BIASES, SDPA_FLAG_CAUSAL, SDPA_FLAG_WINDOW, SdpaCacheMode, SdpaKvCache, SdpaLayer, SdpaLayerMask,
    SdpaPositions, SdpaStatus,
};
use core::ptr;
use sdpa::layer::{CacheMode, DecodeScratch, KvCache, LayerMask, Positions, Rope, Scratch, SelfAttention, Weights};
use sdpa::{KvElement, Matrix};
use std::boxed::Box;
use std::vec;
use std::vec::Vec;

#[allow(clippy::approx_constant, dead_code)] // generated data
pub(crate) mod vectors {
    include!("../../../tests/data/layer_vectors.rs");
}

/// The layer tests' tolerance (`tests/layer_reference.rs`).
fn tolerance(want: &[f64]) -> f64 {
    2e-6 * (1.0 + want.iter().fold(0.0f64, |m, v| m.max(v.abs())))
}

/// An `SdpaLayer` over `packed`.
pub(crate) fn c_layer(
    dims: [usize; 4],
    packed: &[f32],
    biases: bool,
    positions: SdpaPositions,
    theta: f32,
) -> SdpaLayer {
    let [d_model, q_heads, kv_heads, head_dim] = dims;
    SdpaLayer {
        d_model,
        q_heads,
        kv_heads,
        head_dim,
        weights: packed.as_ptr(),
        weights_len: packed.len(),
        flags: if biases { SDPA_FLAG_BIASES } else { 0 },
        positions: positions as u32,
        rope_theta: theta,
        scale: 0.0,
    }
}

/// `sdpa_layer_forward` with a scratch of the size it asks for.
pub(crate) fn c_forward(layer: &SdpaLayer, x: &[f32], tokens: usize, mask: Option<&SdpaLayerMask>) -> Vec<f32> {
    let mut len = 0;
    assert_eq!(unsafe { sdpa_layer_scratch_len(layer, tokens, &mut len) }, SdpaStatus::Ok);
    let mut scratch = vec![f32::NAN; len];
    let mut out = vec![f32::NAN; x.len()];
    let mask = mask.map_or(ptr::null(), |m| m as *const _);
    let status =
        unsafe { sdpa_layer_forward(layer, x.as_ptr(), tokens, mask, out.as_mut_ptr(), scratch.as_mut_ptr(), len) };
    assert_eq!(status, SdpaStatus::Ok);
    out
}

/// Every token of `x` through `sdpa_layer_decode` with a cache of
/// `capacity` in `mode`; the output rows, concatenated.
pub(crate) fn c_decode(layer: &SdpaLayer, x: &[f32], capacity: usize, mode: SdpaCacheMode) -> Vec<f32> {
    let (mut storage_len, mut scratch_len) = (0, 0);
    assert_eq!(unsafe { sdpa_kv_cache_storage_len(layer, capacity, &mut storage_len) }, SdpaStatus::Ok);
    assert_eq!(unsafe { sdpa_decode_scratch_len(layer, capacity, &mut scratch_len) }, SdpaStatus::Ok);
    let mut storage = vec![f32::NAN; storage_len];
    let mut scratch = vec![f32::NAN; scratch_len];
    let mut cache = core::mem::MaybeUninit::<SdpaKvCache>::uninit();
    let status = unsafe {
        sdpa_kv_cache_init(cache.as_mut_ptr(), layer, storage.as_mut_ptr(), storage_len, capacity, mode as u32)
    };
    assert_eq!(status, SdpaStatus::Ok);
    let mut cache = unsafe { cache.assume_init() };
    let d = layer.d_model;
    let mut rows = Vec::new();
    for (t, token) in x.chunks_exact(d).enumerate() {
        let mut y = vec![f32::NAN; d];
        let mut position = usize::MAX;
        let status = unsafe {
            sdpa_layer_decode(
                layer,
                token.as_ptr(),
                y.as_mut_ptr(),
                &mut cache,
                scratch.as_mut_ptr(),
                scratch_len,
                &mut position,
            )
        };
        assert_eq!((status, position), (SdpaStatus::Ok, t));
        assert_eq!((cache.len, cache.next_position), ((t + 1).min(capacity), t + 1));
        rows.extend(y);
    }
    rows
}

/// The const layer's forward over the same data.
fn rust_forward<const T: usize, const D: usize, const QH: usize, const KVH: usize, const HD: usize>(
    layer: &SelfAttention<'_, D, QH, KVH, HD>,
    x: &[f32],
    mask: &LayerMask<'_, T>,
) -> Vec<f32> {
    let x = Matrix::<T, D>::from_slice(x).unwrap();
    let mut out = Box::new(Matrix::zeros());
    layer.forward(&x, &mut out, mask, &mut Box::new(Scratch::new()));
    out.as_slice().to_vec()
}

/// The const layer's decode steps over the same data, its cache storing K
/// and V as `E`.
pub(crate) fn rust_decode<
    const CAP: usize,
    E: KvElement,
    const D: usize,
    const QH: usize,
    const KVH: usize,
    const HD: usize,
>(
    layer: &SelfAttention<'_, D, QH, KVH, HD>,
    x: &[f32],
    mode: CacheMode,
) -> Vec<f32> {
    let mut cache = Box::new(KvCache::<CAP, KVH, HD, E>::with_mode(mode));
    let mut scratch = DecodeScratch::<D, CAP>::new();
    let mut rows = Vec::new();
    for token in x.chunks_exact(D) {
        let mut y = [0.0; D];
        layer.decode(token.try_into().unwrap(), &mut y, &mut cache, &mut scratch).unwrap();
        rows.extend(y);
    }
    rows
}

/// Asserts `ours` equals `rust` bit for bit and is within tolerance of `want`.
pub(crate) fn check(name: &str, ours: &[f32], rust: &[f32], want: &[f64]) {
    assert_eq!(ours, rust, "{name}: the C layer differs from sdpa::layer");
    let (err, tol) = (max_err(ours, want), tolerance(want));
    assert!(err <= tol, "{name}: error {err:e} > {tol:e}");
}

fn keep_bytes(keep: &[bool]) -> Vec<u8> {
    keep.iter().map(|&k| u8::from(k)).collect()
}

#[test]
fn bert_encoder_with_biases_and_padding() {
    use vectors::bert as c;
    let packed = [&c::WQ[..], &c::BQ, &c::WK, &c::BK, &c::WV, &c::BV, &c::WO, &c::BO].concat();
    let weights = Weights::<{ c::D }, { c::QH }, { c::KVH }, { c::HD }>::from_packed(&packed, true).unwrap();
    let rust = SelfAttention::new(weights, Positions::None);
    let layer = c_layer([c::D, c::QH, c::KVH, c::HD], &packed, true, SdpaPositions::None, 0.0);
    let mut len = 0;
    assert_eq!(unsafe { sdpa_layer_weights_len(&layer, &mut len) }, SdpaStatus::Ok);
    assert_eq!(len, packed.len());

    let keep = keep_bytes(&c::KEEP);
    let mask = SdpaLayerMask { flags: 0, window_left: 0, window_right: 0, padding: keep.as_ptr() };
    let want = rust_forward(&rust, &c::X, &LayerMask::<{ c::T }>::bidirectional().padding(&c::KEEP));
    check("bert forward", &c_forward(&layer, &c::X, c::T, Some(&mask)), &want, &c::OUT);
}

#[test]
fn llama_gqa_rope_half_split() {
    use vectors::llama_gqa as c;
    let packed = [&c::WQ[..], &c::WK, &c::WV, &c::WO].concat();
    let weights = Weights::<{ c::D }, { c::QH }, { c::KVH }, { c::HD }>::from_packed(&packed, false).unwrap();
    let rust = SelfAttention::new(weights, Positions::Rope(Rope::half_split()));
    // theta 0 stands for the default 10000.
    let layer = c_layer([c::D, c::QH, c::KVH, c::HD], &packed, false, SdpaPositions::RopeHalfSplit, 0.0);
    let causal = SdpaLayerMask { flags: SDPA_FLAG_CAUSAL, window_left: 0, window_right: 0, padding: ptr::null() };
    let want = rust_forward(&rust, &c::X, &LayerMask::<{ c::T }>::causal());
    check("llama_gqa forward", &c_forward(&layer, &c::X, c::T, Some(&causal)), &want, &c::OUT);
    let want = rust_decode::<{ c::T }, f32, _, _, _, _>(&rust, &c::X, CacheMode::Fixed);
    check("llama_gqa decode", &c_decode(&layer, &c::X, c::T, SdpaCacheMode::Fixed), &want, &c::OUT);
}

#[test]
fn mqa_rope_interleaved_theta_100() {
    use vectors::mqa_interleaved as c;
    let packed = [&c::WQ[..], &c::WK, &c::WV, &c::WO].concat();
    let weights = Weights::<{ c::D }, { c::QH }, { c::KVH }, { c::HD }>::from_packed(&packed, false).unwrap();
    let rust = SelfAttention::new(weights, Positions::Rope(Rope::interleaved().theta(100.0)));
    let layer = c_layer([c::D, c::QH, c::KVH, c::HD], &packed, false, SdpaPositions::RopeInterleaved, 100.0);
    let causal = SdpaLayerMask { flags: SDPA_FLAG_CAUSAL, window_left: 0, window_right: 0, padding: ptr::null() };
    let want = rust_forward(&rust, &c::X, &LayerMask::<{ c::T }>::causal());
    check("mqa forward", &c_forward(&layer, &c::X, c::T, Some(&causal)), &want, &c::OUT);
    let want = rust_decode::<16, f32, _, _, _, _>(&rust, &c::X, CacheMode::Fixed);
    check("mqa decode", &c_decode(&layer, &c::X, 16, SdpaCacheMode::Fixed), &want, &c::OUT);
}

#[test]
fn alibi_six_heads_with_biases_fixed_and_sliding_caches() {
    use vectors::alibi6 as c;
    let packed = [&c::WQ[..], &c::BQ, &c::WK, &c::BK, &c::WV, &c::BV, &c::WO, &c::BO].concat();
    let weights = Weights::<{ c::D }, { c::QH }, { c::KVH }, { c::HD }>::from_packed(&packed, true).unwrap();
    let rust = SelfAttention::new(weights, Positions::Alibi);
    let layer = c_layer([c::D, c::QH, c::KVH, c::HD], &packed, true, SdpaPositions::Alibi, 0.0);
    let causal = SdpaLayerMask { flags: SDPA_FLAG_CAUSAL, window_left: 0, window_right: 0, padding: ptr::null() };
    let want = rust_forward(&rust, &c::X, &LayerMask::<{ c::T }>::causal());
    check("alibi6 forward", &c_forward(&layer, &c::X, c::T, Some(&causal)), &want, &c::OUT);
    for (mode, c_mode) in [(CacheMode::Fixed, SdpaCacheMode::Fixed), (CacheMode::Sliding, SdpaCacheMode::Sliding)] {
        let want = rust_decode::<{ c::T }, f32, _, _, _, _>(&rust, &c::X, mode);
        check("alibi6 decode", &c_decode(&layer, &c::X, c::T, c_mode), &want, &c::OUT);
    }
}

#[test]
fn sliding_window_rope_with_a_rolling_cache_that_wraps() {
    use vectors::sliding as c;
    let packed = [&c::WQ[..], &c::WK, &c::WV, &c::WO].concat();
    let weights = Weights::<{ c::D }, { c::QH }, { c::KVH }, { c::HD }>::from_packed(&packed, false).unwrap();
    let rust = SelfAttention::new(weights, Positions::Rope(Rope::half_split()));
    let layer = c_layer([c::D, c::QH, c::KVH, c::HD], &packed, false, SdpaPositions::RopeHalfSplit, 10_000.0);
    let window = SdpaLayerMask {
        flags: SDPA_FLAG_CAUSAL | SDPA_FLAG_WINDOW,
        window_left: 2,
        window_right: 0,
        padding: ptr::null(),
    };
    let want = rust_forward(&rust, &c::X, &LayerMask::<{ c::T }>::sliding_window(3));
    check("sliding forward", &c_forward(&layer, &c::X, c::T, Some(&window)), &want, &c::OUT);
    let want = rust_decode::<3, f32, _, _, _, _>(&rust, &c::X, CacheMode::Sliding);
    check("sliding decode (capacity 3)", &c_decode(&layer, &c::X, 3, SdpaCacheMode::Sliding), &want, &c::OUT);
}

#[test]
fn sliding_window_alibi_with_a_rolling_cache_that_wraps() {
    use vectors::alibi_sliding as c;
    let packed = [&c::WQ[..], &c::WK, &c::WV, &c::WO].concat();
    let weights = Weights::<{ c::D }, { c::QH }, { c::KVH }, { c::HD }>::from_packed(&packed, false).unwrap();
    let rust = SelfAttention::new(weights, Positions::Alibi);
    let layer = c_layer([c::D, c::QH, c::KVH, c::HD], &packed, false, SdpaPositions::Alibi, 0.0);
    let window = SdpaLayerMask {
        flags: SDPA_FLAG_CAUSAL | SDPA_FLAG_WINDOW,
        window_left: 3,
        window_right: 0,
        padding: ptr::null(),
    };
    let want = rust_forward(&rust, &c::X, &LayerMask::<{ c::T }>::sliding_window(4));
    check("alibi_sliding forward", &c_forward(&layer, &c::X, c::T, Some(&window)), &want, &c::OUT);
    let want = rust_decode::<4, f32, _, _, _, _>(&rust, &c::X, CacheMode::Sliding);
    check("alibi_sliding decode (capacity 4)", &c_decode(&layer, &c::X, 4, SdpaCacheMode::Sliding), &want, &c::OUT);
}

#[test]
fn alibi_local_window_with_padding() {
    use vectors::alibi_local as c;
    let packed = [&c::WQ[..], &c::BQ, &c::WK, &c::BK, &c::WV, &c::BV, &c::WO, &c::BO].concat();
    let weights = Weights::<{ c::D }, { c::QH }, { c::KVH }, { c::HD }>::from_packed(&packed, true).unwrap();
    let rust = SelfAttention::new(weights, Positions::Alibi);
    let layer = c_layer([c::D, c::QH, c::KVH, c::HD], &packed, true, SdpaPositions::Alibi, 0.0);
    let keep = keep_bytes(&c::KEEP);
    let mask = SdpaLayerMask { flags: SDPA_FLAG_WINDOW, window_left: 2, window_right: 1, padding: keep.as_ptr() };
    let want = rust_forward(&rust, &c::X, &LayerMask::<{ c::T }>::bidirectional().window(2, 1).padding(&c::KEEP));
    check("alibi_local forward", &c_forward(&layer, &c::X, c::T, Some(&mask)), &want, &c::OUT);
}
