#!/usr/bin/env python3
"""Library calls in one attention instance's code, from the disassembly.

Walks the direct calls and branches (bl, b.w, b, cbz, ...) from the root
function of a firmware ELF to every function they reach, and lists the
call sites whose target is one of the library functions that sdpa's hot
path should not call on a Cortex-M4F (by default fmaxf, fminf, expf,
memset and __aeabi_mem*: on FPv4-SP there is no VMAXNM, so `f32::max`
becomes a call; a zeroed array becomes __aeabi_memclr). The library
functions themselves are not walked into.

    libcalls.py ELF [--root REGEX] [--minus BASELINE_ELF] [--pattern REGEX] [--fail]

--minus subtracts, per called function, the call sites the same walk finds
in a baseline program (a size probe without the attention call), so only
the attention instance's own calls remain. --fail exits 1 if any remain.
Indirect calls (blx rN) cannot be followed; they are counted and reported.
Standard library only.
"""

import argparse
import re
import sys
from collections import Counter, defaultdict

from armdis import Image, branch_target, split_mnemonic

BRANCHES = {"b", "bl", "blx", "cbz", "cbnz"}
DEFAULT_PATTERN = r"^(fmaxf|fminf|expf|memset|__aeabi_mem.*)$"


def walk(image, root, pattern):
    """(call sites {callee: Counter(caller)}, functions walked, indirect calls, root names)."""
    names_at = defaultdict(set)  # address -> every symbol there (aliases)
    for name, address in image.symbols.items():
        names_at[address].add(name)

    def is_library(i):
        start = image.starts[i]
        return pattern.match(image.names[i]) or any(pattern.match(n) for n in names_at.get(start, ()))

    roots = [i for i, name in enumerate(image.names) if root.search(name)]
    if not roots:
        sys.exit(f"{image.elf}: no function matches {root.pattern}")
    seen, todo = set(roots), list(roots)
    sites = defaultdict(Counter)
    indirect = 0
    while todo:
        i = todo.pop()
        start, end = image.function_range(i)
        for pc in range(start, end, 2):
            if pc not in image.insns:
                continue
            mnemonic, operands = image.insns[pc]
            base, _ = split_mnemonic(mnemonic, BRANCHES)
            if base not in BRANCHES:
                continue
            target = branch_target(operands)
            if target is None:
                indirect += base in ("blx",)
                continue
            j = image.function_index(target)
            if j is None or j == i:
                continue  # a branch inside the function
            if is_library(j):
                sites[image.names[j]][image.names[i]] += 1
            elif j not in seen:
                seen.add(j)
                todo.append(j)
    return sites, seen, indirect, [image.names[i] for i in roots]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("elf")
    parser.add_argument("--root", default=r"__cortex_m_rt_main$", help="regex of the root function(s)")
    parser.add_argument("--minus", metavar="BASELINE_ELF", help="subtract the baseline program's call sites")
    parser.add_argument("--pattern", default=DEFAULT_PATTERN, help="regex of the library functions")
    parser.add_argument("--fail", action="store_true", help="exit 1 if the instance calls any")
    args = parser.parse_args()
    pattern, root = re.compile(args.pattern), re.compile(args.root)

    sites, seen, indirect, roots = walk(Image(args.elf), root, pattern)
    base = {}
    if args.minus:
        base_sites, _, _, _ = walk(Image(args.minus), root, pattern)
        base = {callee: sum(c.values()) for callee, c in base_sites.items()}

    print(f"{args.elf}: from {', '.join(roots)} ({len(seen)} functions reached, {indirect} indirect calls)")
    own_total = 0
    for callee in sorted(sites):
        callers = sites[callee]
        n = sum(callers.values())
        own = n - base.get(callee, 0)
        own_total += max(own, 0)
        where = ", ".join(f"{caller} ({k})" for caller, k in callers.most_common())
        extra = f"; {base[callee]} of them also in the baseline" if callee in base else ""
        print(f"  {callee}: {n} call sites{extra}: {where}")
    if not sites:
        print("  none")
    print(f"  calls of the instance itself: {own_total}" + (f" (after subtracting {args.minus})" if args.minus else ""))
    sys.exit(1 if args.fail and own_total else 0)


if __name__ == "__main__":
    main()
