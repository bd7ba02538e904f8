#!/usr/bin/env bash
# Mutation check: applies deliberate bugs to the crate, one at a time, and
# asserts that the tests fail for each. A mutation the tests do not catch is
# a hole in the suite, and this script exits non-zero.
#
#   bash scripts/mutants.sh              # every mutation, the test set below
#   bash scripts/mutants.sh causal ...   # only the named mutations
#   TESTS="--test edge_cases" bash scripts/mutants.sh   # another set for the engine group
#
# Each mutation is one textual replacement in one file; the script checks
# that it applied, runs the tests, and restores the file (also on Ctrl-C).
# The tests run in their own target directory (target/mutants), so the
# normal build is not invalidated.
set -euo pipefail
cd "$(dirname "$0")/.."

# A fast set that covers the engine mutations below (the first group): the
# unit tests, the f64 oracle comparison, the softmax properties and the
# non-finite rules (a -inf bias must skip its key, so NaN there stays out). The
# builder and RoPE mutations (the later groups, marked `@@doc`) break items
# whose doctests must notice: they run DOC_TESTS, the README and rustdoc
# examples (slower: every doctest is compiled again). `cargo test` stops at
# the first failing binary.
TESTS=${TESTS:---lib --test attention_vs_f64 --test prop_softmax --test non_finite}
DOC_TESTS=${DOC_TESTS:---doc}

# name @@ file @@ the exact text (found exactly once) @@ its replacement
# [@@doc: checked by DOC_TESTS instead of TESTS]
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
    # Builders that drop what they are given: caught by the doctests of
    # src/options.rs and src/attention/mod.rs (TESTS="--doc" checks that).
    'setter-scale-ignored@@src/options.rs@@self.$($path).+.scale = Some(scale);@@let _ = scale;@@doc'
    'setter-causal-ignored@@src/options.rs@@self.$($path).+.causal = true;@@@@doc'
    'setter-alignment-ignored@@src/options.rs@@self.$($path).+.alignment = alignment;@@let _ = alignment;@@doc'
    'setter-window-ignored@@src/options.rs@@self.$($path).+.window = Some($crate::Window { left, right });@@let _ = (left, right);@@doc'
    'setter-alibi-ignored@@src/options.rs@@self.$($path).+.alibi_slope = Some(slope);@@let _ = slope;@@doc'
    'with-settings-ignored@@src/options.rs@@self.$($path).+ = settings;@@let _ = settings;@@doc'
    'runtime-mask-ignored@@src/options.rs@@self.mask = Some(mask);@@let _ = mask;@@doc'
    'runtime-bias-ignored@@src/options.rs@@self.bias = Some(bias);@@let _ = bias;@@doc'
    'typed-mask-ignored@@src/attention/mod.rs@@self.inner = self.inner.mask(Mask::PerQuery(mask.as_flattened()));@@let _ = mask;@@doc'
    'typed-key-mask-ignored@@src/attention/mod.rs@@self.inner = self.inner.mask(Mask::PerKey(keep));@@let _ = keep;@@doc'
    'typed-bias-ignored@@src/attention/mod.rs@@self.inner = self.inner.bias(Bias::PerQuery(bias.as_slice()));@@let _ = bias;@@doc'
    'typed-key-bias-ignored@@src/attention/mod.rs@@self.inner = self.inner.bias(Bias::PerKey(bias));@@let _ = bias;@@doc'
    # RoPE: half-split pairs built as interleaved ones, and a base that is dropped.
    'rope-half-split-as-interleaved@@src/layer/rope.rs@@Self { layout: RopeLayout::HalfSplit, theta: Self::DEFAULT_THETA }@@Self { layout: RopeLayout::Interleaved, theta: Self::DEFAULT_THETA }@@doc'
    'rope-theta-ignored@@src/layer/rope.rs@@self.theta = theta;@@let _ = theta;@@doc'
)

backup=""
restore() { if [ -n "$backup" ]; then cp "$backup" "${backup%.mutants-orig}"; rm -f "$backup"; backup=""; fi; }
trap restore EXIT
trap 'restore; exit 130' INT TERM

wanted=("$@")
selected() { [ ${#wanted[@]} -eq 0 ] || [[ " ${wanted[*]} " == *" $1 "* ]]; }
# Splits a MUTATIONS entry into name, file, from, to and tests.
parse() {
    name=${1%%@@*}; rest=${1#*@@}; file=${rest%%@@*}; rest=${rest#*@@}; from=${rest%%@@*}; rest=${rest#*@@}
    to=${rest%@@doc}; tests=$TESTS
    if [ "$to" != "$rest" ]; then tests=$DOC_TESTS; fi
}

# The unmutated crate must pass every test set a selected mutation uses, or
# a "caught" below means nothing.
mkdir -p target # the logs go here, also in a fresh clone
sets=()
for m in "${MUTATIONS[@]}"; do
    parse "$m"
    if selected "$name" && [[ ! " ${sets[*]} " == *" $tests "* ]]; then sets+=("$tests"); fi
done
for tests in "${sets[@]}"; do
    t0=$(date +%s)
    # shellcheck disable=SC2086
    cargo test --release --target-dir target/mutants $tests >target/mutants-baseline.log 2>&1 ||
        { echo "the unmutated crate fails \`cargo test $tests\`: see target/mutants-baseline.log"; exit 1; }
    echo "baseline passes cargo test $tests ($(($(date +%s) - t0)) s)"
done

missed=()
start=$(date +%s)
for m in "${MUTATIONS[@]}"; do
    parse "$m"
    selected "$name" || continue
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
    if cargo test --release --target-dir target/mutants $tests >"target/mutants-$name.log" 2>&1; then
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
