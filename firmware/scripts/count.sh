#!/usr/bin/env bash
# Exact instructions per attention call on QEMU, a cycle estimate from the
# instruction mix, and the check against the committed figures (issue 13).
#
#     bash firmware/scripts/count.sh            # report; fails if sdpa got > 2 % slower
#     bash firmware/scripts/count.sh --update   # rewrite firmware/insn-counts.json
#
# Builds the QEMU TCG plugin shared/tools/qemu-insn-count (beside the
# repository, or $INSNCOUNT_SRC), then counts, between the marker functions
# bench_start/bench_stop:
#   (a) the Rust bench firmware (cortex-m4f/src/bench.rs) on mps2-an386 (Cortex-M4F),
#   (b)+(c) the C firmware (capi/tests/firmware: sdpa_attention and the C peer), same board,
#   (a) the Rust bench for thumbv6m-none-eabi on microbit (Cortex-M0).
# The report (markdown) goes to stdout and target/insn-count/report.md.
# Then the softmax's exp on the Cortex-M4F (scripts/exp_cost.py): the
# instructions of the inlined exp_nonpositive, found by their inline frames
# in the debug info, per element exponentiated (one `lsl #23` each); with
# EXP_GATE=fail (firmware/gates, or the environment) it fails above 25 on
# causal256, full64 and decode256 (issue 13).
# Needs: rustup targets thumbv7em-none-eabihf and thumbv6m-none-eabi,
# qemu-system-arm (with plugin support), gcc, arm-none-eabi-gcc/binutils, python3.
set -euo pipefail
firmware=$(cd "$(dirname "$0")/.." && pwd)
repo=$(dirname "$firmware")
out=$firmware/target/insn-count
figures=$firmware/insn-counts.json
update=()
case "${1:-}" in
    --update) update=(--update) ;;
    "") ;;
    *) echo "usage: $0 [--update]" >&2; exit 2 ;;
esac
exp_gate=${EXP_GATE:-$(sed -n 's/^EXP_GATE=//p' "$firmware/gates")}
case "$exp_gate" in
    fail) exp_flag=(--fail) ;;
    report) exp_flag=() ;;
    *) echo "count.sh: EXP_GATE must be report or fail, not '$exp_gate'" >&2; exit 1 ;;
esac
mkdir -p "$out"

plugin=${INSNCOUNT_SRC:-$repo/../shared/tools/qemu-insn-count/insncount.c}
[ -f "$plugin" ] || { echo "count.sh: no plugin source at $plugin (set INSNCOUNT_SRC)" >&2; exit 1; }
gcc -O2 -Wall -Wextra -shared -fPIC -o "$out/insncount.so" "$plugin"

(cd "$firmware" && cargo build --release --bin bench && cargo build --release --bin bench --target thumbv6m-none-eabi)
# The C ABI library as .ci/capi.sh builds it (the no-panic-proof feature
# only swaps the panic handler, which nothing reaches).
(cd "$repo/capi" && cargo build --release --target thumbv7em-none-eabihf --features no-panic-proof --target-dir target/proof)
"$repo/capi/tests/firmware/build.sh" "$repo/capi/target/proof/thumbv7em-none-eabihf/release/libsdpa_capi.a" \
    "$out/c/firmware.elf" 2>"$out/c-link.log" || { cat "$out/c-link.log" >&2; exit 1; }
grep -q 'libm.a(.*): definition of expf' "$out/c-link.log" || { cat "$out/c-link.log" >&2; echo "count.sh: the C peer's expf is not newlib's" >&2; exit 1; }

run() { # $1 = name, $2 = ELF, rest = QEMU machine options; writes $out/$1.counts and $1.log
    local name=$1 elf=$2
    shift 2
    local nm start stop
    nm=$(arm-none-eabi-nm "$elf")
    start=$(awk '$3 == "bench_start" { print $1 }' <<<"$nm")
    stop=$(awk '$3 == "bench_stop" { print $1 }' <<<"$nm")
    [ -n "$start" ] && [ -n "$stop" ] || { echo "count.sh: $elf has no bench_start/bench_stop" >&2; exit 1; }
    timeout 600 qemu-system-arm "$@" -nographic -monitor none -serial none -semihosting-config enable=on,target=native \
        -plugin "$out/insncount.so,start=$(printf '0x%x' $((0x$start & ~1))),stop=$(printf '0x%x' $((0x$stop & ~1))),out=$out/$name.counts" \
        -kernel "$elf" >"$out/$name.log" 2>&1 || { cat "$out/$name.log" >&2; echo "count.sh: $name failed on QEMU" >&2; exit 1; }
}
rust_m4=$firmware/target/thumbv7em-none-eabihf/release/bench
rust_m0=$firmware/target/thumbv6m-none-eabi/release/bench
run rust-m4f "$rust_m4" -machine mps2-an386 -cpu cortex-m4
run c-m4f "$out/c/firmware.elf" -machine mps2-an386 -cpu cortex-m4
run rust-m0 "$rust_m0" -machine microbit -cpu cortex-m0
grep -q '^bench: PASS' "$out/rust-m4f.log" || { cat "$out/rust-m4f.log" >&2; exit 1; }
grep -q '^bench: PASS' "$out/rust-m0.log" || { cat "$out/rust-m0.log" >&2; exit 1; }
grep -Eq '^[0-9]+ passed, 0 failed$' "$out/c-m4f.log" || { cat "$out/c-m4f.log" >&2; exit 1; }
grep '^bench error' "$out/c-m4f.log"
echo

python3 -B "$firmware/scripts/insn_report.py" \
    --run thumbv7em-none-eabihf "$rust_m4" "$out/rust-m4f.counts" "$out/rust-m4f.log" \
    --run thumbv7em-none-eabihf "$out/c/firmware.elf" "$out/c-m4f.counts" "$out/c-m4f.log" \
    --run thumbv6m-none-eabi "$rust_m0" "$out/rust-m0.counts" "$out/rust-m0.log" \
    --figures "$figures" --markdown "$out/report.md" "${update[@]}"
# The exp per element (see the top; EXP_GATE).
python3 -B "$firmware/scripts/exp_cost.py" "$rust_m4" "$out/rust-m4f.counts" "$out/rust-m4f.log" "${exp_flag[@]}" |
    tee -a "$out/report.md"
