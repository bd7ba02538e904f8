#!/usr/bin/env bash
# Benchmark suite smoke test: the bench crate (benches/, its own workspace)
# is formatted, lint-clean and its unit tests pass; the benches compile;
# every Rust peer's output is checked against sdpa (and sdpa's layer against
# an f64 reference) and each benchmark runs once (criterion's --test mode);
# the committed tables and chart match the committed measurements. Needs no
# PyTorch: benches/torch_peers.py is only parsed here.
set -euo pipefail
cd "$(dirname "$0")/.."

(
    cd benches
    echo "--- bench crate: format, lints, unit tests"
    cargo fmt -- --check
    cargo clippy --all-targets -- -D warnings
    cargo clippy --all-targets --features rayon -- -D warnings
    cargo test --profile bench --lib  # the bench profile: shares the build of the step below

    echo "--- benches compile, dispatched code fully inlined (default flags)"
    cargo bench --no-run
    python3 ../scripts/check_inlined.py $(for b in suite layer; do ls -t target/release/deps/"$b"-* | grep -v '\.d$' | head -1; done)

    echo "--- one pass of every benchmark (peers checked against sdpa first)"
    cargo bench --bench suite -- --test
    cargo bench --features rayon --bench suite -- --test rayon  # sdpa's rayon split: same bits on 1 and 2 threads
)

echo "--- the PyTorch peer script at least parses"
python3 -c "import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])" benches/torch_peers.py

echo "--- BENCHMARKS.md tables and chart regenerate from the committed results"
python3 scripts/bench_chart.py --from-results
git diff --exit-code -- BENCHMARKS.md bench_chart.svg benches/results/
