#!/usr/bin/env bash
# Numerical stability (issue 3), beyond what `.ci/run`'s three
# `cargo test --release` runs already cover (the proptest suites, the edge
# cases and the exhaustive exp check run in all three builds):
# the deterministic battery of tests/backend_agreement.rs is recorded by the
# default (f32x4), `force-scalar` and native (f32x16 + FMA on the CI
# machine) builds, each comparing itself with those recorded before it,
# and the last run requires all of them to be present.
set -euo pipefail
cd "$(dirname "$0")/.."

rm -rf target/backend-agreement
cargo test --release --test backend_agreement -- --nocapture
cargo test --release --features force-scalar --test backend_agreement -- --nocapture
# The native build names a third backend only where the CPU has AVX.
if grep -qw avx /proc/cpuinfo; then backends=3; else backends=2; fi
RUSTFLAGS="-C target-cpu=native" SDPA_MIN_BACKENDS=$backends \
    cargo test --release --target-dir target/native --test backend_agreement -- --nocapture
