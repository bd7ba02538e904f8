#!/usr/bin/env bash
# aarch64 (issue 16): NEON is the baseline there, so the crate compiles the
# f32x4 (wide/NEON) and portable backends with no run-time dispatch. CI
# builds the library and every test for aarch64-unknown-linux-gnu with
# Debian's cross linker and runs them under qemu-aarch64 (user mode): the
# unit tests (all but the 3·10⁸-point exp2 sweep, which takes minutes under
# the emulator) and the deterministic integration tests, on both backends.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n=== aarch64: %s\n' "$*"; }

step "target and tools"
rustup target add aarch64-unknown-linux-gnu
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
fi
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
args=(--release --target aarch64-unknown-linux-gnu --target-dir target/aarch64)

step "build: library (no_std, default features) and every test"
cargo build "${args[@]}" --no-default-features
cargo test "${args[@]}" --no-run

step "unit tests under qemu-aarch64 (f32x4 = NEON, and the portable backend)"
cargo test "${args[@]}" --lib -- --skip exp_nonpositive_error

step "integration tests under qemu-aarch64"
for t in seed_toy attention_vs_f64 edge_cases non_finite fuzz_regressions layer_reference; do
    cargo test "${args[@]}" --test "$t"
done
echo "aarch64: PASS"
