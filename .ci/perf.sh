#!/usr/bin/env bash
# Benchmark suite smoke test: the benches compile, every peer's output is
# checked against sdpa and each benchmark runs once (criterion's --test
# mode), and the committed chart matches the committed measurements.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "--- benches compile"
cargo bench --bench suite --no-run

echo "--- one pass of every benchmark (peers checked against sdpa first)"
cargo bench --bench suite -- --test

echo "--- BENCHMARKS.md tables and chart regenerate from the committed results"
python3 scripts/bench_chart.py --from-results
git diff --exit-code -- BENCHMARKS.md bench_chart.svg benches/results/
