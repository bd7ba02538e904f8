#!/usr/bin/env bash
# Mutation check: applies deliberate bugs to the crate, one at a time, and
# asserts that the tests fail for each. A mutation the tests do not catch is
# a hole in the suite, and this script exits non-zero.
#
#   bash scripts/mutants.sh              # every mutation, the test set below
#   bash scripts/mutants.sh causal ...   # only the named mutations
#   TESTS="--test edge_cases" bash scripts/mutants.sh
#
# Each mutation is one textual replacement in one file; the script checks
# that it applied, runs the tests, and restores the file (also on Ctrl-C).
# The tests run in their own target directory (target/mutants), so the
# normal build is not invalidated.
set -euo pipefail
cd "$(dirname "$0")/.."

# A fast set that covers every mutation below: the unit tests, the f64
# oracle comparison and the softmax properties (add `--doc` for the README
# and rustdoc examples: slower, every doctest is compiled again). `cargo
# test` stops at the first failing binary.
TESTS=${TESTS:---lib --test attention_vs_f64 --test prop_softmax}

# name @@ file @@ the exact text (found exactly once) @@ its replacement
MUTATIONS=(
    'no-max-subtraction@@src/attention/logits.rs@@if max == f32::NEG_INFINITY { 0.0 } else { max }@@0.0'
    'no-max-in-softmax@@src/kernels/softmax.rs@@if max == f32::NEG_INFINITY { 0.0 } else { max }@@0.0'
    'scale-sqrt-d@@src/options.rs@@None => 1.0 / libm::sqrtf(d as f32),@@None => libm::sqrtf(d as f32),'
    'causal-skipped@@src/attention/problem.rs@@if self.settings.causal {@@if false && self.settings.causal {'
    'window-left-off-by-one@@src/attention/problem.rs@@lo = lo.max(p.saturating_sub(to_isize(w.left)));@@lo = lo.max(p.saturating_sub(to_isize(w.left) + 1));'
    'window-right-off-by-one@@src/attention/problem.rs@@hi = hi.min(p.saturating_add(to_isize(w.right)).saturating_add(1));@@hi = hi.min(p.saturating_add(to_isize(w.right)));'
    'bottom-right-as-top-left@@src/attention/problem.rs@@Alignment::BottomRight => i.saturating_add(to_isize(self.nk)).saturating_sub(to_isize(self.nq)),@@Alignment::BottomRight => i,'
    'mask-ignored@@src/attention/problem.rs@@let by_mask = self.mask.is_some_and(|m| !m.get(j).copied().unwrap_or(false));@@let by_mask = false;'
    'neg-inf-bias-not-masking@@src/attention/problem.rs@@by_mask || by_bias@@by_mask'
)

backup=""
restore() { if [ -n "$backup" ]; then cp "$backup" "${backup%.mutants-orig}"; rm -f "$backup"; backup=""; fi; }
trap restore EXIT
trap 'restore; exit 130' INT TERM

# The unmutated crate must pass, or a "caught" below means nothing.
t0=$(date +%s)
# shellcheck disable=SC2086
cargo test --release --target-dir target/mutants $TESTS >target/mutants-baseline.log 2>&1 ||
    { echo "the unmutated crate fails these tests: see target/mutants-baseline.log"; exit 1; }
echo "baseline passes ($(($(date +%s) - t0)) s)"

wanted=("$@")
missed=()
start=$(date +%s)
for m in "${MUTATIONS[@]}"; do
    name=${m%%@@*}; rest=${m#*@@}; file=${rest%%@@*}; rest=${rest#*@@}; from=${rest%%@@*}; to=${rest#*@@}
    if [ ${#wanted[@]} -gt 0 ] && [[ ! " ${wanted[*]} " == *" $name "* ]]; then continue; fi
    backup="$file.mutants-orig"
    cp "$file" "$backup"
    FROM="$from" TO="$to" python3 - "$file" <<'EOF'
import os, sys
path = sys.argv[1]
text = open(path).read()
a, b = os.environ["FROM"], os.environ["TO"]
if text.count(a) != 1:
    sys.exit(f"mutation text found {text.count(a)} times in {path}, not once: {a}")
open(path, "w").write(text.replace(a, b))
EOF
    t0=$(date +%s)
    # shellcheck disable=SC2086
    if cargo test --release --target-dir target/mutants $TESTS >"target/mutants-$name.log" 2>&1; then
        echo "MISSED  $name ($file): the tests passed ($(($(date +%s) - t0)) s)"
        missed+=("$name")
    else
        failed=$(grep -m1 -E "^test .* FAILED$|^---- |error\[|error: " "target/mutants-$name.log" || true)
        echo "caught  $name ($file) in $(($(date +%s) - t0)) s: ${failed:-see target/mutants-$name.log}"
    fi
    restore
done
echo "$((${#MUTATIONS[@]})) mutations defined, ${#missed[@]} missed, $(($(date +%s) - start)) s"
[ ${#missed[@]} -eq 0 ]
