#!/usr/bin/env python3
"""Instructions per element of the softmax's exp on the Cortex-M4F (issue 13).

`exp_nonpositive` is inlined into the engines, so no function holds it.
Every instruction the bench firmware executed is attributed to its inline
frames (`arm-none-eabi-addr2line -i` over the DWARF of the release build,
which keeps debug info: firmware/Cargo.toml); the exp's instructions are
those with `exp_nonpositive` among their frames. The elements are counted
where the code evaluates them: each element builds its `2^n` once, the
exponent-field shift `lsl #23` of `pow2_of_shifted`, so the executions of
the exp's `lsl #23` instructions are the elements really exponentiated
(visible scores, masked lanes beside the causal diagonal, and the rescale
factors the engine runs through the same exp). A cross-check with the
workload's shape: they are at least its visible (query, key) pairs and,
on these workloads, fewer than twice as many (a marker counted twice per
element would halve the figure).

    exp_cost.py ELF COUNTS LOG [--fail]

ELF, COUNTS, LOG: the Rust bench firmware for thumbv7em-none-eabihf and
its run under the QEMU plugin (bash firmware/scripts/count.sh writes them).
Prints a markdown table per workload; exits 1 when a workload is missing or
its elements fail the cross-check (the measurement is broken),
and with --fail also when a workload of GATED exceeds LIMIT instructions
per element (EXP_GATE in firmware/gates).
Not counted: constants the compiler hoists out of the exp's loop (their
debug location is the loop's), and the subtraction of the running maximum
(`exp_shifted`). Standard library only.
"""

import argparse
import re
import subprocess
import sys

from insn_report import WORKLOADS, Run, fmt, pairs

LIMIT = 25  # instructions per element, issue 13
GATED = ("causal256", "full64", "decode256")  # large enough that per-call set-up does not count
EXP = "exp_nonpositive"
SHIFT = re.compile(r"(^lsls?(\.w)?\s.*|, lsl )#23$")  # `lsl r, r, #23` or a `lsl #23` operand


def inline_frames(elf, pcs):
    """{pc: [function names, innermost first]} from addr2line's inline chains."""
    listing = subprocess.run(
        ["arm-none-eabi-addr2line", "-a", "-i", "-f", "-C", "-e", elf],
        input="\n".join(f"{pc:#x}" for pc in pcs), capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    frames, pc, i = {}, None, 0
    while i < len(listing):
        if listing[i].startswith("0x"):
            pc = int(listing[i], 16)
            frames[pc] = []
            i += 1
        else:
            frames[pc].append(listing[i])  # the function; the next line is its file:line
            i += 2
    return frames


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("elf")
    parser.add_argument("counts")
    parser.add_argument("log")
    parser.add_argument("--fail", action="store_true", help=f"exit 1 above {LIMIT} instructions per element")
    args = parser.parse_args()
    run = Run("thumbv7em-none-eabihf", args.elf, args.counts, args.log)
    frames = inline_frames(args.elf, sorted({pc for region in run.regions for pc in region["I"]}))
    exp_pcs = {pc for pc, names in frames.items() if any(EXP in name for name in names)}
    shift_pcs = {pc for pc in exp_pcs if SHIFT.search(" ".join(run.image.insns.get(pc, ("", ""))))}

    print(f"`{EXP}` on the Cortex-M4F (Rust bench firmware), instructions per element exponentiated "
          f"(limit {LIMIT} on {', '.join(GATED)}):\n")
    print("| workload | exp instructions | elements | visible pairs | per element | per visible pair |")
    print("|---|---:|---:|---:|---:|---:|")
    errors, over = [], []
    for key, (desc, *_shape) in WORKLOADS.items():
        region = run.find("sdpa_rust", key)
        if region is None:
            errors.append(f"{key}: no region in {args.log}")
            continue
        insns = run.regions[region]["I"]
        instructions = sum(count for pc, (_, count) in insns.items() if pc in exp_pcs)
        elements = sum(count for pc, (_, count) in insns.items() if pc in shift_pcs)
        visible = pairs(key)
        if not visible <= elements < 2 * visible:
            errors.append(f"{key}: {elements} elements counted (lsl #23 of {EXP}) for {visible} visible pairs: "
                          "no debug info, or the element marker no longer fits the exp")
            continue
        per_element = instructions / elements
        print(f"| {desc} | {fmt(instructions)} | {fmt(elements)} | {fmt(visible)} | {per_element:.2f} "
              f"| {instructions / visible:.2f} |")
        if key in GATED and per_element > LIMIT:
            over.append(f"{key}: {EXP} takes {per_element:.2f} instructions per element, over {LIMIT}")
    print()
    for message in errors + over:
        print(f"exp_cost: {message}", file=sys.stderr)
    sys.exit(1 if errors or (over and args.fail) else 0)


if __name__ == "__main__":
    main()
