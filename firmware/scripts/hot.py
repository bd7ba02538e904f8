#!/usr/bin/env python3
"""Annotated disassembly of one counted region: each executed instruction
with its execution count and estimated cycles (the model of insn_report.py),
function by function, hottest function first. For tuning; not run by CI.

    hot.py TARGET ELF COUNTS LOG IMPL WORKLOAD [--min N] [--function SUBSTRING]

Example (after bash firmware/scripts/count.sh):

    cd firmware && python3 -B scripts/hot.py thumbv7em-none-eabihf \
        target/thumbv7em-none-eabihf/release/bench target/insn-count/rust-m4f.counts \
        target/insn-count/rust-m4f.log sdpa_rust causal256
"""

import argparse
import sys
from collections import defaultdict

from insn_report import P, Run


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target")
    parser.add_argument("elf")
    parser.add_argument("counts")
    parser.add_argument("log")
    parser.add_argument("impl")
    parser.add_argument("workload")
    parser.add_argument("--min", type=int, default=1, help="hide instructions executed fewer times")
    parser.add_argument("--function", help="only functions whose name contains this")
    args = parser.parse_args()
    run = Run(args.target, args.elf, args.counts, args.log)
    region = run.find(args.impl, args.workload)
    if region is None:
        sys.exit(f"no region {args.impl} {args.workload} in {args.log}")
    insns = run.regions[region]["I"]
    taken = defaultdict(int)
    for prev, pc, count in run.regions[region]["E"]:
        if prev and pc != prev + insns[prev][0]:
            taken[prev] += count
    functions = defaultdict(list)
    for pc in sorted(insns):
        functions[run.image.function_of(pc)].append(pc)
    total = sum(c for _, c in insns.values())
    order = sorted(functions, key=lambda f: -sum(insns[pc][1] for pc in functions[f]))
    for name in order:
        if args.function and args.function not in name:
            continue
        pcs = functions[name]
        n = sum(insns[pc][1] for pc in pcs)
        print(f"\n== {name}: {n} instructions ({100 * n / total:.1f} %)")
        for pc in pcs:
            count = insns[pc][1]
            if count < args.min:
                continue
            mnemonic, operands = run.image.insns.get(pc, ("?", ""))
            cycles = count * run.instruction(pc).cycles + P * taken[pc]
            mark = f"  taken {taken[pc]}" if taken[pc] else ""
            print(f"{pc:8x} {count:9d} {cycles:10d}  {mnemonic:10s} {operands}{mark}")


if __name__ == "__main__":
    main()
