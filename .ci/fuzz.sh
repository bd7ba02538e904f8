#!/usr/bin/env bash
# Fuzz targets (fuzz/): build them for three backends, run every target on
# its committed seeds and then for a bounded time, and run the fuzz
# regression tests with overflow checks. Fails on any crash or wrong answer.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
root=$(pwd)
targets=(dot softmax accumulate exp attention runtime layer_decode multihead)

echo "--- nightly toolchain and cargo-fuzz"
# Install nightly only if missing: `rustup toolchain install` would update it.
rustup run nightly rustc --version || rustup toolchain install nightly --profile minimal
cargo install --locked cargo-fuzz --version 0.13.2

echo "--- fuzz regression tests with overflow checks (debug profile)"
cargo test --test fuzz_regressions

echo "--- the committed seeds are what fuzz/seeds.py writes"
python3 fuzz/seeds.py
test -z "$(git status --porcelain -- fuzz/corpus)" || { git status --short -- fuzz/corpus; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# campaign <name> <seconds per target> [cargo fuzz build options...]
# Debug assertions on (-a: overflow checks in sdpa), no sanitizer (the crate
# forbids unsafe code; ASan would only slow it down).
campaign() {
    local name=$1 seconds=$2
    shift 2
    echo "--- build: $name"
    cargo +nightly fuzz build -s none -a --target-dir "fuzz/target/$name" "$@"
    for t in "${targets[@]}"; do
        echo "--- run: $t on $name, ${seconds}s"
        mkdir -p "$work/$name/$t"
        local log="$work/$name-$t.log"
        if cargo +nightly fuzz run -s none -a --target-dir "fuzz/target/$name" "$@" "$t" \
            "$work/$name/$t" "$root/fuzz/corpus/$t" -- \
            -max_total_time="$seconds" -timeout=10 -max_len=16384 -print_final_stats=1 >"$log" 2>&1; then
            grep -E '^sdpa fuzz|INITED|^Done [0-9]+ runs|stat::number_of_executed_units' "$log" || true
            grep -E '^#[0-9]+[[:space:]]' "$log" | tail -n 1 # the last cov/ft line
        else
            tail -n 150 "$log"
            echo "fuzz target $t failed on $name (the input is in fuzz/artifacts/$t/)"
            exit 1
        fi
    done
}

campaign default 15
campaign scalar 5 --features force-scalar
export RUSTFLAGS="-C target-cpu=native" # AVX-512 + FMA on the CI machine
campaign native 5
