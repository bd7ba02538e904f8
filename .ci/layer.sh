#!/usr/bin/env bash
# CI steps of the self-attention layer (issue 7). The layer's tests
# (tests/layer_*.rs, unit and doc tests) run in the main `cargo test` steps on
# every backend; this adds what those cannot check: the committed numpy
# vectors are what the committed script produces, the decoder demo runs and
# checks decode against the full forward, and the layer benchmarks run once.
# The layer's no-panic proof is part of firmware/no-panic (.ci/firmware.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n=== layer: %s\n' "$*"; }

step "committed layer test vectors match numpy"
python3 -m pip install --quiet numpy
python3 scripts/layer_vectors.py
python3 scripts/same_numbers.py tests/data/layer_vectors.rs
git checkout -- tests/data/layer_vectors.rs

step "decoder demo (asserts decode == forward)"
cargo run --release -p sdpa-demo --bin decoder_demo

step "layer benchmarks, one pass each (the bench crate in benches/)"
(cd benches && cargo bench --bench layer -- --test)
