#!/usr/bin/env python3
"""Instruction counts and a cycle estimate per attention call (issue 13).

Reads the regions that the QEMU plugin shared/tools/qemu-insn-count wrote
for each firmware run (per-address counts `I` and control-flow edges `E`),
the firmware's log (which names every region, see firmware/cortex-m4f/src/bench.rs
and capi/tests/firmware/bench.c) and the ELF's disassembly. Prints a
markdown report: instructions and estimated cycles per call and per MAC of

    (a) sdpa_rust   sdpa::attention (const generics), Rust firmware
    (b) sdpa_capi   sdpa_attention (C ABI, runtime shapes), C firmware
    (c) c_peer      the straightforward C attention of capi/tests/firmware/peer.c

with the ratios sdpa/C, where sdpa's instructions go (per function), the
library calls executed in the measured call, and the figures check.

    insn_report.py --run TARGET ELF COUNTS LOG [--run ...]
                   [--figures FILE [--update]] [--top N]

With --figures the exact instruction counts of sdpa (a, b, and every
thumbv6m figure) are compared with FILE: the script fails (exit 1) when a
fresh count exceeds the committed one by more than 2 %. --update rewrites
FILE with the fresh counts instead. Standard library only.
"""

import argparse
import json
import re
import sys
from collections import defaultdict

from armdis import Image, split_mnemonic

# workload key -> (description, nq, nk, d, dv, causal)
WORKLOADS = {
    "toy": ("seed toy 3×5, D 4, DV 6", 3, 5, 4, 6, False),
    "causal32": ("causal 32×32, D = DV = 16", 32, 32, 16, 16, True),
    "causal256": ("causal 256×256, D = DV = 16", 256, 256, 16, 16, True),
    "full64": ("64×64, D = DV = 32", 64, 64, 32, 32, False),
    "decode256": ("decode 1×256, D = DV = 32", 1, 256, 32, 32, False),
}
IMPLS = {
    "sdpa_rust": "(a) sdpa, Rust const-generic API",
    "sdpa_capi": "(b) sdpa, C ABI",
    "c_peer": "(c) C peer (gcc -O3, newlib expf)",
}
SHORT = {"sdpa_rust": "(a) sdpa Rust", "sdpa_capi": "(b) sdpa C ABI", "c_peer": "(c) C peer"}
SDPA = ("sdpa_rust", "sdpa_capi")
TOLERANCE = 0.02  # a fresh count may exceed the committed one by this fraction
LIBRARY = [
    ("fmaxf", re.compile(r"^fmaxf$")),
    ("fminf", re.compile(r"^fminf$")),
    ("expf", re.compile(r"^expf$")),
    ("memset, __aeabi_memset*, __aeabi_memclr*", re.compile(r"^(memset|__aeabi_memset\d*|__aeabi_memclr\d*)$")),
]

# ---- the cycle model (Cortex-M4 TRM timings; an estimate, not a measurement) ----
P = 2  # pipeline refill of a taken branch, call or return
LOADS = {"ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrex", "ldrexb", "ldrexh", "ldrt", "ldrbt", "ldrht", "ldrsbt", "ldrsht"}
STORES = {"str", "strb", "strh", "strex", "strexb", "strexh", "strt", "strbt", "strht"}
DOUBLE = {"ldrd", "strd"}
MULTI = {"ldm", "ldmia", "ldmdb", "ldmfd", "ldmea", "stm", "stmia", "stmdb", "stmfd", "stmea", "push", "pop"}
VMULTI = {"vldm", "vldmia", "vldmdb", "vstm", "vstmia", "vstmdb", "vpush", "vpop"}
VMAC = {"vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms"}
VLONG = {"vdiv", "vsqrt"}
MAC2 = {"mla", "mls"}
DIV = {"sdiv", "udiv"}
TABLE = {"tbb", "tbh"}
BASES = (
    LOADS | STORES | DOUBLE | MULTI | VMULTI | VMAC | VLONG | MAC2 | DIV | TABLE
    | {"vldr", "vstr", "vmov", "it", "b", "bl", "bx", "blx", "cbz", "cbnz", "mul", "umull", "smull", "umlal", "smlal"}
    | set(
        "adc add addw adr and asr bfc bfi bic bkpt clz cmn cmp cpsid cpsie dmb dsb eor isb lsl lsr mov movt movw mrs "
        "msr mvn neg nop orn orr pld rbit rev rev16 revsh ror rrx rsb sbc sbfx sdiv sub subw sxtb sxth teq tst ubfx "
        "udf uxtb uxth uxtb16 sxtb16 wfi wfe qadd qsub ssat usat vabs vadd vcmp vcmpe vcvt vcvtr vdiv vmrs vmsr vmul "
        "vneg vnmul vsub vsqrt vmaxnm vminnm".split()
    )
)
DIV_CYCLES = 12  # SDIV/UDIV take 2 to 12 cycles; the worst case is used
# Cycles of the bases whose cost does not depend on the operands (the sets are
# disjoint); every other base not costed from its operands below takes 1.
FIXED_CYCLES = {
    base: cycles
    for group, cycles in (
        (LOADS, 2),
        (STORES, 1),
        (DOUBLE, 3),
        (VMAC, 3),
        (VLONG, 14),
        (MAC2, 2),
        (DIV, DIV_CYCLES),
        (TABLE, 2),
    )
    for base in group
}
ASSUMPTIONS = [
    "Cycles are an **estimate** from the exact dynamic instruction mix (per-address counts and control-flow edges "
    "from the QEMU plugin, mnemonics from `arm-none-eabi-objdump -d`), with Cortex-M4 TRM timings: most ALU, "
    "FPU arithmetic (VADD, VMUL, VCMP, VCVT, VMOV, VMRS) and IT 1; MUL, UMULL/SMULL/UMLAL/SMLAL 1; MLA/MLS 2; "
    f"SDIV/UDIV {DIV_CYCLES} (the worst case of 2 to 12).",
    "Single loads (LDR, LDRB, LDRH, LDRSB, LDRSH) 2, or 1 when the instruction executed just before is a single "
    "load whose result (and write-back) the address does not use; stores with one register 1; LDRD/STRD 3; "
    "LDM/STM/PUSH/POP 1+N, VLDM/VSTM/VPUSH/VPOP 1+N (N registers, 2 per D register); VLDR/VSTR 2 (3 for a "
    "D register); VMLA/VMLS/VNMLA/VNMLS/VFMA/VFMS 3; VDIV/VSQRT 14; TBB/TBH 2.",
    f"Every taken branch, call and return (an edge to another address than the next instruction, PC-writing "
    f"POP/LDR included) adds P = {P}.",
    "Not modelled: FPU result stalls and register dependencies between FP instructions, flash wait states (memory "
    "is zero-wait), branch folding, bus contention. So real cycles are higher, most for code whose FP operations "
    "depend on each other back to back.",
    "Counts are per call: each call is one plugin region between `bench_start` and `bench_stop`, minus the region "
    "with nothing between the markers (instructions and cycles); the call's argument set-up is included.",
]

REGISTER_ALIASES = {"sb": "r9", "sl": "r10", "fp": "r11", "ip": "r12", "r13": "sp", "r14": "lr", "r15": "pc"}


def registers(text):
    regs = set()
    for token in re.findall(r"\b(r1[0-5]|r[0-9]|sp|lr|pc|ip|fp|sl|sb)\b", text):
        regs.add(REGISTER_ALIASES.get(token, token))
    return regs


def register_count(operands):
    """Registers in a {list} (ranges r4-r7 and d8-d15 expanded); D registers count 2 words."""
    m = re.search(r"\{([^}]*)\}", operands)
    if not m:
        return 1, 1
    n = words = 0
    for item in m[1].split(","):
        item = item.strip()
        r = re.match(r"([rsd])(\d+)\s*-\s*[rsd](\d+)", item)
        k = int(r[3]) - int(r[2]) + 1 if r else 1
        n += k
        words += 2 * k if item.startswith("d") else k
    return n, words


class Instruction:
    __slots__ = ("base", "cycles", "load", "writes", "address")

    def __init__(self, mnemonic, operands):
        word = mnemonic.split(".")[0].lower()
        base = "it" if re.fullmatch(r"it[te]*", word) else split_mnemonic(mnemonic, BASES)[0]
        self.base = base
        self.load = base in LOADS
        self.writes = set()
        self.address = set()
        if "[" in operands:
            self.address = registers(operands[operands.index("[") : operands.rindex("]") + 1])
        if self.load:
            self.writes = registers(operands.split(",")[0])
            if "!" in operands or re.search(r"\],\s*#", operands):
                self.writes |= self.address
        double_reg = re.match(r"\s*d\d+", operands) is not None
        if base in MULTI:
            c = 1 + register_count(operands)[0]
        elif base in VMULTI:
            c = 1 + register_count(operands)[1]
        elif base in ("vldr", "vstr"):
            c = 3 if double_reg else 2
        elif base == "vmov" and len(registers(operands)) >= 2:
            c = 2  # two core registers to or from the FPU
        else:
            c = FIXED_CYCLES.get(base, 1)
        self.cycles = c


def read_regions(path):
    """[{'I': {pc: (size, count)}, 'E': [(prev, pc, count)]}] in region order."""
    regions, current = [], None
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts or parts[0] == "#":
                continue
            if parts[0] == "R":
                current = {"I": {}, "E": []}
                regions.append(current)
            elif parts[0] == "I":
                current["I"][int(parts[1], 16)] = (int(parts[2]), int(parts[3]))
            elif parts[0] == "E":
                current["E"].append((int(parts[1], 16), int(parts[2], 16), int(parts[3])))
    return regions


def read_log(path):
    """Region labels and output lines of a bench log."""
    labels, outputs, errors = {}, {}, {}
    with open(path, errors="replace") as f:
        for line in f:
            parts = line.split()
            if line.startswith("bench region "):
                labels[int(parts[2])] = parts[3:]
            elif line.startswith("bench output "):
                outputs[(parts[2], parts[3])] = (parts[4], parts[5])
            elif line.startswith("bench error "):
                errors[parts[2]] = line.strip()
    return labels, outputs, errors


class Run:
    """One firmware run: its image, regions and labels."""

    def __init__(self, target, elf, counts, log):
        self.target = target
        self.image = Image(elf)
        self.regions = read_regions(counts)
        self.labels, self.outputs, self.errors = read_log(log)
        if len(self.labels) != len(self.regions):
            sys.exit(f"{log}: {len(self.labels)} labelled regions, but {counts} holds {len(self.regions)}")
        self.decoded = {}

    def instruction(self, pc):
        if pc not in self.decoded:
            mnemonic, operands = self.image.insns.get(pc, ("udf", ""))
            self.decoded[pc] = Instruction(mnemonic, operands)
        return self.decoded[pc]

    def measure(self, region):
        """(instructions, cycles, per-function {name: [instructions, cycles]}, per-pc counts)."""
        insns = self.regions[region]["I"]
        cycles_at = defaultdict(int)
        for pc, (size, count) in insns.items():
            cycles_at[pc] += count * self.instruction(pc).cycles
        for prev, pc, count in self.regions[region]["E"]:
            if prev == 0:
                continue
            size = insns[prev][0]
            if pc != prev + size:
                cycles_at[prev] += P * count  # taken: refill
            else:
                a, b = self.instruction(prev), self.instruction(pc)
                if a.load and b.load and not (a.writes & b.address):
                    cycles_at[pc] -= count  # pipelined behind an independent load
        per_function = defaultdict(lambda: [0, 0])
        for pc, (size, count) in insns.items():
            f = per_function[self.image.function_of(pc)]
            f[0] += count
            f[1] += cycles_at[pc]
        total = sum(c for _, c in insns.values())
        return total, sum(cycles_at.values()), per_function, {pc: c for pc, (_, c) in insns.items()}

    def find(self, *label):
        for n, words in self.labels.items():
            if tuple(words[: len(label)]) == label:
                return n
        return None


def pairs(key):
    """Visible (query, key) pairs of a workload (causal: top-left)."""
    _, nq, nk, _, _, causal = WORKLOADS[key]
    return sum(min(i + 1, nk) for i in range(nq)) if causal else nq * nk


def macs(key):
    _, _, _, d, dv, _ = WORKLOADS[key]
    return pairs(key) * (d + dv)


def collect(runs):
    """results[target][impl][workload] = dict(instructions, cycles, functions, library)."""
    results = defaultdict(lambda: defaultdict(dict))
    checks = []
    for run in runs:
        empty = run.find("empty")
        spin = run.find("spin")
        if empty is None or spin is None:
            sys.exit(f"{run.image.elf}: the log has no empty or spin region")
        e_insns, e_cycles, e_functions, e_pcs = run.measure(empty)
        # Self-check of the counter: the spin loop's two instructions run exactly N times each.
        n = int(run.labels[spin][1])
        s_insns, _, _, s_pcs = run.measure(spin)
        top = sorted(s_pcs.values(), reverse=True)[:3]
        ok = top[:2] == [n, n] and (len(top) < 3 or top[2] < n) and 0 <= s_insns - e_insns - 2 * n < 16
        checks.append((ok, f"{run.target} {run.image.elf}: spin loop of {n} iterations counted "
                           f"{top[0]} + {top[1]} loop instructions, {s_insns - e_insns} in all; "
                           f"empty region {e_insns} instructions"))
        for region, words in run.labels.items():
            if len(words) < 7 or words[0] not in IMPLS:
                continue
            impl, key = words[0], words[1]
            _, nq, nk, d, dv, causal = WORKLOADS[key]
            if [int(w) for w in words[2:7]] != [nq, nk, d, dv, int(causal)]:
                sys.exit(f"{run.image.elf}: region {region} is {' '.join(words)}, not the workload {key}")
            insns, cycles, functions, pcs = run.measure(region)
            for name, (i, c) in e_functions.items():
                functions[name][0] -= i
                functions[name][1] -= c
            library = {}
            for label, pattern in LIBRARY:
                addresses = {a for s, a in run.image.symbols.items() if pattern.match(s)}
                library[label] = sum(pcs.get(a, 0) for a in addresses)
            results[run.target][impl][key] = {
                "instructions": insns - e_insns,
                "cycles": cycles - e_cycles,
                "functions": {k: v for k, v in functions.items() if v[0] > 0},
                "library": library,
                "output": run.outputs.get((impl, key)),
            }
    return results, checks


def fmt(n):
    return f"{n:,}".replace(",", " ")


def ratio(a, b):
    return f"{a / b:.2f}" if b else "–"


def report(results, checks, top):
    lines = []
    m4 = results.get("thumbv7em-none-eabihf", {})
    if m4:
        for what, field in (("instructions", "instructions"), ("estimated cycles", "cycles")):
            lines.append(f"| {what} per call (per MAC), Cortex-M4F | MACs | (a) sdpa Rust | (b) sdpa C ABI "
                         "| (c) C peer | a/c | b/c |")
            lines.append("|---|---:|---:|---:|---:|---:|---:|")
            for key, (desc, *_rest) in WORKLOADS.items():
                row = [desc, fmt(macs(key))]
                values = {}
                for impl in IMPLS:
                    r = m4.get(impl, {}).get(key)
                    values[impl] = r[field] if r else None
                    row.append(f"{fmt(r[field])} ({r[field] / macs(key):.2f})" if r else "–")
                c = values["c_peer"]
                row += [ratio(values[i], c) if values[i] and c else "–" for i in SDPA]
                lines.append("| " + " | ".join(row) + " |")
            lines.append("")
        lines.append("A MAC is one of the D + DV multiply-adds of a visible (query, key) pair (causal: top-left). "
                     "Ratios below 1 mean fewer than the C peer.")
        lines.append("")
        lines.append("Assumptions of the cycle estimate:")
        lines.append("")
        lines += [f"- {a}" for a in ASSUMPTIONS]
        lines.append("")

        lines.append(f"**Where sdpa's instructions go** (per function, top {top}; instructions and estimated cycles "
                     "per call):")
        lines.append("")
        for key, (desc, *_rest) in WORKLOADS.items():
            for impl in SDPA:
                r = m4.get(impl, {}).get(key)
                if not r:
                    continue
                lines.append(f"- {desc}, {IMPLS[impl]}:")
                ranked = sorted(r["functions"].items(), key=lambda kv: -kv[1][0])
                shown = ranked[:top]
                rest = ranked[top:]
                for name, (i, c) in shown:
                    lines.append(f"  - `{name}`: {fmt(i)} ({100 * i / r['instructions']:.1f} %), ~{fmt(c)} cycles")
                if rest:
                    i = sum(v[0] for _, v in rest)
                    lines.append(f"  - {len(rest)} others: {fmt(i)} ({100 * i / r['instructions']:.1f} %)")
        lines.append("")

        lines.append("**Library calls inside the measured call** (executions of each function's first instruction):")
        lines.append("")
        lines.append("| workload | implementation | " + " | ".join(f"`{l}`" if "," not in l else l for l, _ in LIBRARY) + " |")
        lines.append("|---|---|" + "---:|" * len(LIBRARY))
        for key, (desc, *_rest) in WORKLOADS.items():
            for impl in IMPLS:
                r = m4.get(impl, {}).get(key)
                if r:
                    lines.append(f"| {desc} | {SHORT[impl]} | "
                                 + " | ".join(fmt(r["library"][l]) for l, _ in LIBRARY) + " |")
        lines.append("")

        same = []
        for key in WORKLOADS:
            a, b = (m4.get(i, {}).get(key) for i in SDPA)
            if a and b and a["output"] and b["output"]:
                same.append(f"{key} {'identical' if a['output'][0] == b['output'][0] else 'different'}")
        if same:
            lines.append("Outputs of (a) and (b), bit for bit (FNV-1a of the output): " + ", ".join(same) + ".")
            lines.append("")

    m0 = results.get("thumbv6m-none-eabi", {}).get("sdpa_rust", {})
    if m0:
        lines.append("**Cortex-M0** (thumbv6m-none-eabi, no FPU: soft-float; QEMU `microbit`), (a) sdpa Rust API:")
        lines.append("")
        lines.append("| workload | MACs | instructions per call | per MAC |")
        lines.append("|---|---:|---:|---:|")
        for key, (desc, *_rest) in WORKLOADS.items():
            r = m0.get(key)
            if r:
                lines.append(f"| {desc} | {fmt(macs(key))} | {fmt(r['instructions'])} | {r['instructions'] / macs(key):.1f} |")
        lines.append("")

    lines.append("Plugin self-checks:")
    lines.append("")
    lines += [f"- [{'ok' if ok else 'FAIL'}] {text}" for ok, text in checks]
    return "\n".join(lines)


def figures_of(results):
    fresh = {}
    for target, impls in results.items():
        for impl, workloads in impls.items():
            if impl in SDPA:
                for key, r in workloads.items():
                    fresh.setdefault(target, {}).setdefault(impl, {})[key] = r["instructions"]
    return fresh


def check_figures(path, fresh):
    """Compares fresh counts with the committed ones; returns the failures."""
    with open(path) as f:
        committed = json.load(f)["instructions"]
    failures = []
    print(f"Committed instruction counts ({path}) and this run's (fail above +{100 * TOLERANCE:.0f} %):\n")
    print("| target | implementation | workload | committed | now | change |")
    print("|---|---|---|---:|---:|---:|")
    for target in sorted(set(committed) | set(fresh)):
        for impl in sorted(set(committed.get(target, {})) | set(fresh.get(target, {}))):
            old_w = committed.get(target, {}).get(impl, {})
            new_w = fresh.get(target, {}).get(impl, {})
            for key in WORKLOADS:
                old, new = old_w.get(key), new_w.get(key)
                if old is None and new is None:
                    continue
                if old is None or new is None:
                    failures.append(f"{target} {impl} {key}: committed {old}, now {new}")
                    print(f"| {target} | {impl} | {key} | {old} | {new} | missing |")
                    continue
                change = (new - old) / old
                print(f"| {target} | {impl} | {key} | {fmt(old)} | {fmt(new)} | {100 * change:+.2f} % |")
                if new > old * (1 + TOLERANCE):
                    failures.append(f"{target} {impl} {key}: {new} instructions, committed {old} (+{100 * change:.2f} %)")
    print()
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", nargs=4, action="append", required=True, metavar=("TARGET", "ELF", "COUNTS", "LOG"))
    parser.add_argument("--figures", help="committed counts (JSON) to check against")
    parser.add_argument("--update", action="store_true", help="rewrite --figures with this run's counts")
    parser.add_argument("--top", type=int, default=5, help="functions per breakdown")
    parser.add_argument("--markdown", help="also write the report to this file")
    args = parser.parse_args()

    runs = [Run(*r) for r in args.run]
    results, checks = collect(runs)
    text = report(results, checks, args.top)
    print(text)
    print()
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    failed = [t for ok, t in checks if not ok]
    if args.figures:
        fresh = figures_of(results)
        if args.update:
            with open(args.figures, "w") as f:
                json.dump({
                    "about": "Exact instructions per attention call of sdpa on QEMU (firmware/scripts/count.sh); "
                             ".ci/firmware.sh fails when a fresh count exceeds one of these by more than 2 %. "
                             "Update: bash firmware/scripts/count.sh --update",
                    "instructions": fresh,
                }, f, indent=2, sort_keys=True)
                f.write("\n")
            print(f"updated {args.figures}")
        else:
            failed += check_figures(args.figures, fresh)
    for f in failed:
        print(f"FAILED: {f}", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
