#!/usr/bin/env python3
"""Checks that a regenerated data file equals its committed version up to
the last bits of its f64 values: the same text once every number is
replaced by a placeholder, and each number within 1e-12 relative (numpy
builds sum in different orders, so a regenerated f64 reference can move by
an ulp or two; the tests compare f32 results against it at 1e-5 and up).

usage: same_numbers.py <path>   (compares the work tree with git HEAD)
"""
import re
import subprocess
import sys

NUMBER = re.compile(r"-?\d+\.\d+(?:[eE][-+]?\d+)?|-?\d+[eE][-+]?\d+")


def split(text):
    return NUMBER.sub("#", text), [float(x) for x in NUMBER.findall(text)]


path = sys.argv[1]
committed = subprocess.run(["git", "show", f"HEAD:{path}"], check=True, capture_output=True, text=True).stdout
with open(path) as f:
    regenerated = f.read()
(shape_a, a), (shape_b, b) = split(committed), split(regenerated)
if shape_a != shape_b or len(a) != len(b):
    sys.exit(f"{path}: the regenerated file differs beyond its numbers (see git diff)")
worst = max((abs(x - y) / max(abs(x), abs(y), 1e-300) for x, y in zip(a, b)), default=0.0)
print(f"{path}: {len(a)} numbers, max relative difference {worst:.2e} (limit 1e-12)")
if worst > 1e-12:
    sys.exit(f"{path}: a regenerated value moved by more than 1e-12 relative")
