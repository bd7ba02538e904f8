#!/usr/bin/env bash
# CI steps of the self-attention layer (issue 7). The layer's tests
# (tests/layer_*.rs, unit and doc tests) run in the main `cargo test` steps on
# every backend; this adds what those cannot check: the committed numpy
# vectors are what the committed script produces, the decoder demo runs and
# checks decode against the full forward, and the layer benchmarks run once.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n=== layer: %s\n' "$*"; }

step "committed layer test vectors match numpy"
python3 -m pip install --quiet numpy
python3 scripts/layer_vectors.py
git diff --exit-code -- tests/data/layer_vectors.rs

step "no reachable panic in the layer on thumbv7em (opt-level 3 and s, LTO)"
# A no_std staticlib exporting the layer's entry points (forward with every
# positional encoding and mask kind, decode, sinusoidal, linear) whose panic
# handler calls an undefined symbol: the symbol is referenced only if some
# panic stays reachable after optimisation. A canary export with a real panic
# path must make it appear, so the check is shown to be able to fail.
rustup target add thumbv7em-none-eabihf
command -v nm > /dev/null || { apt-get update && apt-get install -y binutils; }
probe="$PWD/target/layer-nopanic"
mkdir -p "$probe/src"
cat > "$probe/Cargo.toml" <<TOML
[package]
name = "layer-nopanic"
version = "0.0.0"
edition = "2024"
[lib]
crate-type = ["staticlib"]
[dependencies]
sdpa = { path = "$PWD" }
[features]
canary = []
[profile.release]
panic = "abort"
lto = true
codegen-units = 1
[workspace]
TOML
cat > "$probe/src/lib.rs" <<'RUST'
#![no_std]
#![allow(improper_ctypes_definitions)] // slices across "C" exports: only linked, never called from C
use sdpa::Matrix;
use sdpa::layer::{DecodeScratch, KvCache, LayerMask, Positions, Rope, Scratch, SelfAttention, Weights};

unsafe extern "C" {
    fn reachable_panic_in_sdpa_layer() -> !;
}
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    unsafe { reachable_panic_in_sdpa_layer() }
}

type W = Weights<'static, 32, 4, 2, 8>;

fn positions(mode: u32) -> Positions {
    match mode % 4 {
        0 => Positions::None,
        1 => Positions::Alibi,
        2 => Positions::Rope(Rope::interleaved()),
        _ => Positions::Rope(Rope::half_split().theta(500_000.0)),
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn forward(w: &'static [f32; W::packed_len(true)], x: &Matrix<16, 32>, out: &mut Matrix<16, 32>,
                          s: &mut Scratch<16, 32, 4, 2, 8>, keep: &[bool; 16], mode: u32) -> bool {
    let Ok(weights) = W::from_packed(w, true) else { return false };
    let mask = match mode / 4 {
        0 => LayerMask::causal(),
        1 => LayerMask::sliding_window(4),
        _ => LayerMask::bidirectional().padding(keep).window(3, 2),
    };
    SelfAttention::new(weights, positions(mode)).forward(x, out, &mask, s);
    true
}

#[unsafe(no_mangle)]
pub extern "C" fn decode(w: &'static [f32; W::packed_len(false)], x: &[f32; 32], out: &mut [f32; 32],
                         cache: &mut KvCache<8, 2, 8>, s: &mut DecodeScratch<32, 8>, mode: u32) -> i32 {
    let Ok(weights) = W::from_packed(w, false) else { return -2 };
    match SelfAttention::new(weights, positions(mode)).with_scale(0.3).decode(x, out, cache, s) {
        Ok(p) => p as i32,
        Err(_) => -1,
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn sinusoidal(x: &mut Matrix<4, 10>, p: usize) {
    sdpa::layer::add_sinusoidal(x, p)
}

#[unsafe(no_mangle)]
pub extern "C" fn linear(x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], n_in: usize) {
    sdpa::kernels::linear(x, w, Some(b), y, n_in)
}

#[cfg(feature = "canary")]
#[unsafe(no_mangle)]
pub extern "C" fn canary(x: &[f32], i: usize) -> f32 {
    x[i]
}
RUST
references() {
    (cd "$probe" && CARGO_PROFILE_RELEASE_OPT_LEVEL="$1" cargo build --release --target thumbv7em-none-eabihf $2 >&2)
    nm "$probe/target/thumbv7em-none-eabihf/release/liblayer_nopanic.a" 2> /dev/null | grep -c 'U reachable_panic_in_sdpa_layer' || true
}
[ "$(references 3 --features=canary)" -ge 1 ] || { echo "the canary panic was not detected"; exit 1; }
for level in 3 s; do
    found=$(references "$level" "")
    echo "opt-level $level: $found reachable panic reference(s)"
    [ "$found" -eq 0 ]
done

step "decoder demo (asserts decode == forward)"
cargo run --release --example decoder_demo

step "layer benchmarks, one pass each"
cargo bench --bench layer -- --test
