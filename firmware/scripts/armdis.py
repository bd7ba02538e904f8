"""The disassembly of a Cortex-M ELF, for insn_report.py and libcalls.py.

Reads `arm-none-eabi-objdump -d -C` (instructions and the functions they
belong to) and `arm-none-eabi-nm` (every defined symbol, aliases included).
Standard library only.
"""

import bisect
import re
import subprocess

HEADER = re.compile(r"^([0-9a-f]+) <(.*)>:$")
INSN = re.compile(r"^\s*([0-9a-f]+):\t([^\t]+)\t?(.*)$")
TARGET = re.compile(r"^([0-9a-f]+) <")

CONDITIONS = {"eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al"}


class Image:
    """Instructions by address, functions by range, symbols by name."""

    def __init__(self, elf):
        self.elf = elf
        text = subprocess.run(
            ["arm-none-eabi-objdump", "-d", "-C", "--no-show-raw-insn", elf],
            capture_output=True, text=True, check=True,
        ).stdout
        self.insns = {}  # pc -> (mnemonic, operands)
        starts = {}
        for line in text.splitlines():
            m = HEADER.match(line)
            if m:
                starts[int(m[1], 16)] = m[2]
                continue
            m = INSN.match(line)
            if m:
                operands = m[3].split("@")[0].strip() if m[3] else ""
                self.insns[int(m[1], 16)] = (m[2].strip(), operands)
        self.starts = sorted(starts)
        self.names = [starts[a] for a in self.starts]
        # Raw (not demangled) defined symbols: name -> address, Thumb bit cleared.
        listing = subprocess.run(
            ["arm-none-eabi-nm", "--defined-only", elf], capture_output=True, text=True, check=True
        ).stdout
        self.symbols = {}
        for line in listing.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "TtWw":
                self.symbols[parts[2]] = int(parts[0], 16) & ~1

    def function_index(self, pc):
        i = bisect.bisect_right(self.starts, pc) - 1
        return i if i >= 0 else None

    def function_of(self, pc):
        """Name of the function holding `pc` (the closest header below it)."""
        i = self.function_index(pc)
        return self.names[i] if i is not None else "?"

    def function_range(self, i):
        end = self.starts[i + 1] if i + 1 < len(self.starts) else max(self.insns) + 4
        return self.starts[i], end

    def address_of(self, name):
        return self.symbols.get(name)


def split_mnemonic(mnemonic, bases):
    """(base, condition) of a Thumb-2 mnemonic as objdump prints it:
    `ldrne.w` -> ('ldr', 'ne'), `vmla.f32` -> ('vmla', ''), `adds` -> ('add', '').
    `bases` is the set of known base mnemonics; the longest base whose
    remainder is empty, `s`, a condition or `s` + condition wins."""
    word = mnemonic.split(".")[0].lower()
    for n in range(len(word), 0, -1):
        base, rest = word[:n], word[n:]
        if base not in bases:
            continue
        if rest.startswith("s") and base not in ("b", "bl"):
            rest_cond = rest[1:]
        else:
            rest_cond = rest
        if rest_cond == "" or rest_cond in CONDITIONS:
            return base, rest_cond
        if rest in CONDITIONS:
            return base, rest
    return word, ""


def branch_target(operands):
    """Address of a direct branch's target (`320a <bench_start>`), or None."""
    m = TARGET.match(operands.split(",")[-1].strip())
    return int(m[1], 16) if m else None
