#!/usr/bin/env bash
# Fails if a binary holds an out-of-line x86 vector intrinsic
# (`core::core_arch::x86::{avx,avx2,avx512f,fma,f16c,sse..}::_mm*`).
#
# Dispatched code gets its target features from one `#[target_feature]`
# function per backend (`with_avx2`, `with_avx512`); everything it calls must
# be inlined into it. A closure the optimizer leaves out of line (one handed
# to `array::map`, `Option::and_then`, ...) runs without those features, so
# each intrinsic in it becomes a call: measured on an AVX-512 machine, that
# made the default build's decode (W8) 4× and `linear` 2× slower than
# `-C target-cpu=native`. Only the cpuid/xgetbv detection may stay a call.
#
# Usage: scripts/check_inlined.sh BINARY...
set -euo pipefail
status=0
[ "$#" -gt 0 ] || { echo "check_inlined: no binary given" >&2; exit 2; }
for bin in "$@"; do
    [ -f "$bin" ] || { echo "check_inlined: $bin: no such file" >&2; exit 2; }
    found=$(nm -C "$bin" | awk '$2 ~ /^[tT]$/' | grep -E 'core::core_arch::x86::[a-z0-9_]+::_mm' | grep -vE '::(xsave|cpuid)::' || true)
    if [ -n "$found" ]; then
        echo "check_inlined: $bin has out-of-line vector intrinsics:" >&2
        echo "$found" | sed 's/^[0-9a-f]* [tT] /  /' | sort -u >&2
        status=1
    fi
done
[ "$status" -eq 0 ] && echo "check_inlined: no out-of-line vector intrinsic in $# binaries"
exit "$status"
