//! `sdpa_kv_cache16_init`, `sdpa_layer_decode_kv16`, `sdpa_kv_cache16_clear`:
//! decode on a binary16 or bfloat16 cache is bit for bit the const layer's
//! decode on a `KvCache` of the same element type (RoPE with GQA on a fixed
//! cache, ALiBi on a rolling cache that wraps), the stored values are the
//! `float` cache's rounded, and every refusal of their own writes nothing.

use super::layer::{c_decode, c_layer, rust_decode, vectors};
use crate::ffi::layer::{
    sdpa_decode_scratch_len, sdpa_kv_cache_storage_len, sdpa_kv_cache16_clear, sdpa_kv_cache16_init,
    sdpa_layer_decode_kv16,
};
use crate::{SdpaCacheMode, SdpaKvCache16, SdpaKvType, SdpaLayer, SdpaPositions, SdpaStatus};
use core::mem::MaybeUninit;
use core::ptr;
use sdpa::layer::{CacheMode, Positions, Rope, SelfAttention, Weights};
use sdpa::{Bf16, F16, KvElement};
use std::vec;
use std::vec::Vec;

/// A 16-bit cache of `capacity` tokens for `layer` over fresh storage.
struct Cache16 {
    cache: SdpaKvCache16,
    storage: Vec<u16>,
    scratch: Vec<f32>,
}

impl Cache16 {
    fn new(layer: &SdpaLayer, capacity: usize, mode: SdpaCacheMode, kv_type: SdpaKvType) -> Self {
        let (mut storage_len, mut scratch_len) = (0, 0);
        assert_eq!(unsafe { sdpa_kv_cache_storage_len(layer, capacity, &mut storage_len) }, SdpaStatus::Ok);
        assert_eq!(unsafe { sdpa_decode_scratch_len(layer, capacity, &mut scratch_len) }, SdpaStatus::Ok);
        let mut storage = vec![0xFFFF; storage_len]; // NaN in both types: init must zero it
        let mut cache = MaybeUninit::<SdpaKvCache16>::uninit();
        let (p, len) = (storage.as_mut_ptr(), storage.len());
        let st =
            unsafe { sdpa_kv_cache16_init(cache.as_mut_ptr(), layer, p, len, capacity, mode as u32, kv_type as u32) };
        assert_eq!(st, SdpaStatus::Ok);
        assert!(storage.iter().all(|&x| x == 0), "init leaves the storage zeroed");
        Cache16 { cache: unsafe { cache.assume_init() }, storage, scratch: vec![f32::NAN; scratch_len] }
    }

    /// One decode step of `token`: the status and the output row.
    fn step(&mut self, layer: &SdpaLayer, token: &[f32], position: &mut usize) -> (SdpaStatus, Vec<f32>) {
        let mut y = vec![f32::NAN; layer.d_model];
        let (scratch, len) = (self.scratch.as_mut_ptr(), self.scratch.len());
        let st = unsafe {
            sdpa_layer_decode_kv16(layer, token.as_ptr(), y.as_mut_ptr(), &mut self.cache, scratch, len, position)
        };
        (st, y)
    }

    /// Every token of `x`; the output rows, concatenated.
    fn decode_all(&mut self, layer: &SdpaLayer, x: &[f32]) -> Vec<f32> {
        let mut rows = Vec::new();
        for (t, token) in x.chunks_exact(layer.d_model).enumerate() {
            let mut position = usize::MAX;
            let (st, y) = self.step(layer, token, &mut position);
            assert_eq!((st, position, self.cache.next_position), (SdpaStatus::Ok, t, t + 1));
            rows.extend(y);
        }
        rows
    }
}

/// The llama-style layer of the vectors: GQA, half-split RoPE, no biases.
fn llama() -> (Vec<f32>, impl Fn(&[f32]) -> SdpaLayer) {
    use vectors::llama_gqa as c;
    let packed = [&c::WQ[..], &c::WK, &c::WV, &c::WO].concat();
    let dims = [c::D, c::QH, c::KVH, c::HD];
    (packed, move |p: &[f32]| c_layer(dims, p, false, SdpaPositions::RopeHalfSplit, 0.0))
}

/// The C decode on a cache of `E` equals the const layer's on `KvCache<E>`,
/// and is not the `float` cache's result (the rounding took effect).
fn llama_equals_rust<E: KvElement>(kv_type: SdpaKvType) {
    use vectors::llama_gqa as c;
    let (packed, layer) = llama();
    let layer = layer(&packed);
    let weights = Weights::<{ c::D }, { c::QH }, { c::KVH }, { c::HD }>::from_packed(&packed, false).unwrap();
    let rust = SelfAttention::new(weights, Positions::Rope(Rope::half_split()));
    let mut cache = Cache16::new(&layer, c::T, SdpaCacheMode::Fixed, kv_type);
    let ours = cache.decode_all(&layer, &c::X);
    assert_eq!(ours, rust_decode::<{ c::T }, E, _, _, _, _>(&rust, &c::X, CacheMode::Fixed));
    assert_ne!(ours, c_decode(&layer, &c::X, c::T, SdpaCacheMode::Fixed), "{kv_type:?}: no rounding happened");
}

#[test]
fn binary16_decode_is_the_rust_layers() {
    llama_equals_rust::<F16>(SdpaKvType::F16);
}

#[test]
fn bfloat16_decode_is_the_rust_layers() {
    llama_equals_rust::<Bf16>(SdpaKvType::Bf16);
}

#[test]
fn a_rolling_16_bit_cache_with_alibi_is_the_rust_layers() {
    use vectors::alibi_sliding as c;
    let packed = [&c::WQ[..], &c::WK, &c::WV, &c::WO].concat();
    let weights = Weights::<{ c::D }, { c::QH }, { c::KVH }, { c::HD }>::from_packed(&packed, false).unwrap();
    let rust = SelfAttention::new(weights, Positions::Alibi);
    let layer = c_layer([c::D, c::QH, c::KVH, c::HD], &packed, false, SdpaPositions::Alibi, 0.0);
    let mut f16 = Cache16::new(&layer, 4, SdpaCacheMode::Sliding, SdpaKvType::F16);
    assert_eq!(f16.decode_all(&layer, &c::X), rust_decode::<4, F16, _, _, _, _>(&rust, &c::X, CacheMode::Sliding));
    assert_eq!(f16.cache.len, 4, "the cache wrapped");
    let mut bf16 = Cache16::new(&layer, 4, SdpaCacheMode::Sliding, SdpaKvType::Bf16);
    assert_eq!(bf16.decode_all(&layer, &c::X), rust_decode::<4, Bf16, _, _, _, _>(&rust, &c::X, CacheMode::Sliding));
}

#[test]
fn stored_values_are_the_float_cache_values_rounded() {
    use vectors::llama_gqa as c;
    let (packed, layer) = llama();
    let layer = layer(&packed);
    let mut cache = Cache16::new(&layer, c::T, SdpaCacheMode::Fixed, SdpaKvType::Bf16);
    cache.decode_all(&layer, &c::X);
    // The float cache after the same steps, read back through the C struct.
    let mut storage = vec![0.0f32; cache.storage.len()];
    let mut scratch = vec![0.0f32; cache.scratch.len()];
    let mut fc = MaybeUninit::uninit();
    let st = unsafe {
        crate::ffi::layer::sdpa_kv_cache_init(fc.as_mut_ptr(), &layer, storage.as_mut_ptr(), storage.len(), c::T, 0)
    };
    assert_eq!(st, SdpaStatus::Ok);
    let mut fc = unsafe { fc.assume_init() };
    for token in c::X.chunks_exact(c::D) {
        let mut y = [0.0f32; vectors::llama_gqa::D];
        let (s, n) = (scratch.as_mut_ptr(), scratch.len());
        let st = unsafe {
            crate::ffi::layer::sdpa_layer_decode(&layer, token.as_ptr(), y.as_mut_ptr(), &mut fc, s, n, ptr::null_mut())
        };
        assert_eq!(st, SdpaStatus::Ok);
    }
    let rounded: Vec<u16> = storage.iter().map(|&x| Bf16::from_f32(x).to_bits()).collect();
    assert_eq!(cache.storage, rounded);
    assert!(rounded.iter().any(|&b| b != 0), "the cache holds values");
}

#[test]
fn refusals_write_nothing() {
    use vectors::llama_gqa as c;
    let (packed, layer) = llama();
    let layer = layer(&packed);
    let mut storage = vec![0x1234u16; 2 * c::KVH * 2 * c::HD];
    let mut cache = MaybeUninit::<SdpaKvCache16>::uninit();
    let (p, len) = (storage.as_mut_ptr(), storage.len());
    for (kv_type, mode, len, want) in [
        (0, 0, len, SdpaStatus::InvalidOption),
        (3, 0, len, SdpaStatus::InvalidOption),
        (SdpaKvType::F16 as u32, 7, len, SdpaStatus::InvalidOption),
        (SdpaKvType::F16 as u32, 0, len - 1, SdpaStatus::BadLength),
    ] {
        let st = unsafe { sdpa_kv_cache16_init(cache.as_mut_ptr(), &layer, p, len, 2, mode, kv_type) };
        assert_eq!(st, want, "kv_type {kv_type}, mode {mode}, storage {len}");
    }
    assert!(storage.iter().all(|&x| x == 0x1234), "a refused init wrote to the storage");

    let mut fixed = Cache16::new(&layer, 2, SdpaCacheMode::Fixed, SdpaKvType::F16);
    let mut position = 7;
    for _ in 0..2 {
        assert_eq!(fixed.step(&layer, &c::X[..c::D], &mut position).0, SdpaStatus::Ok);
    }
    let (before, storage_before) = (fixed.cache, fixed.storage.clone());
    let (st, y) = fixed.step(&layer, &c::X[..c::D], &mut position);
    assert_eq!(st, SdpaStatus::CacheFull);
    fixed.cache.kv_type = 0;
    fixed.cache.len = 0;
    fixed.cache.next_position = 0;
    let (unknown, y2) = fixed.step(&layer, &c::X[..c::D], &mut position);
    assert_eq!(unknown, SdpaStatus::CacheInvalid);
    assert!(y.iter().chain(&y2).all(|x| x.is_nan()), "a refused step wrote to the output");
    assert_eq!((position, fixed.storage == storage_before), (1, true), "a refused step changed the cache");
    fixed.cache = before;
    assert_eq!(unsafe { sdpa_kv_cache16_clear(&mut fixed.cache) }, SdpaStatus::Ok);
    assert_eq!((fixed.cache.len, fixed.cache.next_position, fixed.cache.kv_type), (0, 0, SdpaKvType::F16 as u32));
    assert_eq!(unsafe { sdpa_kv_cache16_clear(ptr::null_mut()) }, SdpaStatus::NullPointer);
}
