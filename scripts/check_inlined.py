#!/usr/bin/env python3
"""Fails if a binary's runtime-dispatched code runs anything without its
target features.

Dispatched code gets its target features from one `#[target_feature]`
function per backend (`with_avx2`, `with_avx512`); everything it calls must
be inlined into it. Two ways that goes wrong, both measured on an AVX-512
machine in a default (no RUSTFLAGS) build:

1. An out-of-line `core::arch` intrinsic (`core::core_arch::x86::*::_mm*`):
   a closure the optimizer leaves out of line (one handed to `array::map`,
   `Option::and_then`, ...) runs without the features, so each intrinsic in
   it becomes a call. That made decode (W8) 4x and `linear` 2x slower than
   `-C target-cpu=native`. Only the cpuid/xgetbv detection may stay a call.
2. A plain loop in an sdpa function the optimizer leaves out of line: it is
   compiled for the SSE2 baseline, 4 lanes where the caller has 16. That made
   the tiled engine's edge masking (causal W7) 1.14x slower than native.
   Found here as a call from code with VEX/EVEX instructions to an `sdpa::`
   function with none that does packed SSE float arithmetic or selection
   (`mulps`, `addps`, `cmpltps`, `andps`, ...). Scalar-only callees (libm's `sincosf` and the like) lose
   nothing and are allowed.

    scripts/check_inlined.py BINARY...
"""

import re
import subprocess
import sys

HEADER = re.compile(r"^([0-9a-f]+) <(.*)>:$")
CALL = re.compile(r"^call\s+([0-9a-f]+)\s+<")
# VEX/EVEX-only forms: ymm/zmm registers or a v-prefixed float operation.
VEX = re.compile(r"\b[yz]mm\d+\b|^v(fn?madd|fn?msub|mul|add|sub|div|max|min|sqrt|blendv|cmp)\w*\s")
PACKED_SSE_FLOAT = re.compile(r"^(mul|add|sub|div|max|min|sqrt|and|andn|or|cmp\w*)ps\s")
SDPA = re.compile(r"(^|[<\s&])sdpa::")
INTRINSIC = re.compile(r"core::core_arch::x86::[a-z0-9_]+::_mm")
DETECTION = re.compile(r"::(xsave|cpuid)::")


def functions(binary):
    """(address, demangled name, instructions) of every function in `binary`."""
    listing = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", "-C", "-M", "intel", binary],
        check=True, capture_output=True, text=True,
    ).stdout
    found = []
    for line in listing.splitlines():
        header = HEADER.match(line)
        if header:
            found.append((int(header.group(1), 16), header.group(2), []))
        elif found and "\t" in line:
            found[-1][2].append(line.rsplit("\t", 1)[-1].strip())
    return found


def problems(binary):
    """Lines describing each defect of kind 1 or 2 in `binary`."""
    table = functions(binary)
    by_address = {address: (name, code) for address, name, code in table}
    dispatched = lambda code: any(VEX.search(i) for i in code)
    baseline_vector = lambda code: not dispatched(code) and any(PACKED_SSE_FLOAT.match(i) for i in code)
    found = set()
    for _, name, code in table:
        if INTRINSIC.search(name) and not DETECTION.search(name):
            found.add(f"out-of-line intrinsic: {name}")
        if not dispatched(code):
            continue
        for instruction in code:
            call = CALL.match(instruction)
            callee = by_address.get(int(call.group(1), 16)) if call else None
            if callee and SDPA.search(callee[0]) and baseline_vector(callee[1]):
                found.add(f"{name} calls {callee[0]}, compiled for the baseline (packed SSE float, no VEX)")
    return sorted(found)


def main():
    if len(sys.argv) < 2:
        sys.exit("check_inlined: no binary given")
    failed = False
    for binary in sys.argv[1:]:
        found = problems(binary)
        if found:
            failed = True
            print(f"check_inlined: {binary}:", *(f"  {p}" for p in found), sep="\n", file=sys.stderr)
    if failed:
        sys.exit(1)
    print(f"check_inlined: dispatched code fully inlined in {len(sys.argv) - 1} binaries")


if __name__ == "__main__":
    main()
