#!/usr/bin/env python3
"""Writes tests/data/layer_vectors.rs: small self-attention layers and their numpy float64 outputs.

The reference is written here from the papers' and PyTorch's definitions, independently of the
Rust code: projections as x @ W.T + b (nn.Linear), heads by reshape(T, H, HD), GQA by
np.repeat over the kv heads (PyTorch's enable_gqa / repeat_interleave), RoPE as complex
multiplication of pairs (interleaved, Meta's llama) or rotate_half (half-split, Hugging Face),
ALiBi slopes from the paper's closed form, masks as boolean matrices, a softmax whose fully
masked rows are zero. Inputs are drawn as float64, rounded to float32 (the values Rust
receives), and the reference computes in float64 from those float32 values.

Run: python3 scripts/layer_vectors.py   (numpy's legacy RandomState: streams are stable)
"""
import math
import pathlib

import numpy as np


def alibi_slopes(n):
    """The ALiBi paper's slopes: geometric from 2^(-8/n) for a power of two, else the
    closest power of two's slopes followed by every other slope of twice that count."""
    def power_of_two(m):
        start = 2.0 ** (-8.0 / m)
        return [start ** (i + 1) for i in range(m)]

    if math.log2(n).is_integer():
        return power_of_two(n)
    closest = 2 ** math.floor(math.log2(n))
    return power_of_two(closest) + power_of_two(2 * closest)[0::2][: n - closest]


def rope(x, positions, theta, layout):
    """x: (H, T, HD). Rotates pair i of token t by positions[t] * theta^(-2i/HD)."""
    hd = x.shape[-1]
    inv_freq = theta ** (-np.arange(0, hd // 2 * 2, 2, dtype=np.float64) / hd)
    angles = np.outer(positions, inv_freq)  # (T, HD/2)
    rot = np.exp(1j * angles)
    if layout == "interleaved":
        z = x[..., 0::2] + 1j * x[..., 1::2]
        z = z * rot
        out = x.copy()
        out[..., 0::2] = z.real
        out[..., 1::2] = z.imag
        return out
    half = hd // 2
    cos = np.concatenate([np.cos(angles), np.cos(angles)], axis=-1)
    sin = np.concatenate([np.sin(angles), np.sin(angles)], axis=-1)
    rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rotated * sin


def allowed(t, causal, window, keep):
    i = np.arange(t)[:, None]
    j = np.arange(t)[None, :]
    ok = np.ones((t, t), dtype=bool)
    if causal:
        ok &= j <= i
    if window is not None:
        left, right = window
        ok &= (j >= i - left) & (j <= i + right)
    if keep is not None:
        ok &= np.asarray(keep, dtype=bool)[None, :]
    return ok


def layer(case, x, w):
    t, qh, kvh, hd = case["T"], case["QH"], case["KVH"], case["HD"]

    def project(name, heads):
        y = x @ w["W" + name].T
        if "B" + name in w:
            y = y + w["B" + name]
        return y.reshape(t, heads, hd).transpose(1, 0, 2)  # (heads, T, HD)

    q, k, v = project("Q", qh), project("K", kvh), project("V", kvh)
    pos = case["positions"]
    if pos[0] == "rope":
        _, layout, theta = pos
        q = rope(q, np.arange(t), theta, layout)
        k = rope(k, np.arange(t), theta, layout)
    k = np.repeat(k, qh // kvh, axis=0)
    v = np.repeat(v, qh // kvh, axis=0)
    scores = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
    if pos[0] == "alibi":
        dist = np.abs(np.arange(t)[:, None] - np.arange(t)[None, :])
        scores = scores - np.asarray(alibi_slopes(qh))[:, None, None] * dist[None]
    ok = allowed(t, case["causal"], case["window"], case["keep"])
    scores = np.where(ok[None], scores, -np.inf)
    m = scores.max(axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.where(ok[None], np.exp(scores - m), 0.0)
    s = e.sum(axis=-1, keepdims=True)
    p = np.divide(e, s, out=np.zeros_like(e), where=s > 0)
    heads = (p @ v).transpose(1, 0, 2).reshape(t, qh * hd)
    out = heads @ w["WO"].T
    if "BO" in w:
        out = out + w["BO"]
    return out


CASES = [
    # BERT/MiniLM-style encoder: biases, bidirectional, key padding, no positions in the layer.
    dict(name="bert", D=16, QH=4, KVH=4, HD=4, T=6, biases=True, positions=("none",),
         causal=False, window=None, keep=[1, 1, 1, 1, 0, 0]),
    # llama-style decoder: GQA 4:2, RoPE half-split (Hugging Face), theta 10000, causal, no biases.
    dict(name="llama_gqa", D=16, QH=4, KVH=2, HD=4, T=7, biases=False,
         positions=("rope", "half_split", 10000.0), causal=True, window=None, keep=None),
    # MQA with interleaved RoPE (llama2.c) and a small theta so the rotation is large.
    dict(name="mqa_interleaved", D=16, QH=4, KVH=1, HD=4, T=7, biases=False,
         positions=("rope", "interleaved", 100.0), causal=True, window=None, keep=None),
    # ALiBi with 6 heads (not a power of two), GQA 6:3, biases, causal.
    dict(name="alibi6", D=24, QH=6, KVH=3, HD=4, T=8, biases=True, positions=("alibi",),
         causal=True, window=None, keep=None),
    # Sliding window of 3 (causal, left 2) with RoPE half-split, MQA 2:1, head dim 8.
    dict(name="sliding", D=16, QH=2, KVH=1, HD=8, T=9, biases=False,
         positions=("rope", "half_split", 10000.0), causal=True, window=(2, 0), keep=None),
    # Sliding window of 4 (causal, left 3) with ALiBi, 3 heads (not a power of two), MQA.
    dict(name="alibi_sliding", D=12, QH=3, KVH=1, HD=4, T=9, biases=False, positions=("alibi",),
         causal=True, window=(3, 0), keep=None),
    # Bidirectional local window (2 left, 1 right) with ALiBi, 3 heads, padding in the middle.
    dict(name="alibi_local", D=12, QH=3, KVH=3, HD=4, T=7, biases=True, positions=("alibi",),
         causal=False, window=(2, 1), keep=[1, 1, 0, 1, 1, 1, 0]),
]


def f32(a):
    return np.asarray(a, dtype=np.float64).astype(np.float32)


def rust_f32(name, a):
    vals = [np.format_float_scientific(np.float32(v), unique=True, trim="-") for v in np.ravel(a)]
    lines = ",\n".join("        " + ", ".join(vals[i:i + 8]) for i in range(0, len(vals), 8))
    return f"    pub const {name}: [f32; {len(vals)}] = [\n{lines},\n    ];\n"


def rust_f64(name, a):
    vals = [repr(float(v)) for v in np.ravel(a)]
    lines = ",\n".join("        " + ", ".join(vals[i:i + 6]) for i in range(0, len(vals), 6))
    return f"    pub const {name}: [f64; {len(vals)}] = [\n{lines},\n    ];\n"


def emit_case(rng, case):
    d, qh, kvh, hd, t = case["D"], case["QH"], case["KVH"], case["HD"], case["T"]
    assert qh * hd == d and qh % kvh == 0
    scale = 1.0 / math.sqrt(d)
    w = {
        "WQ": f32(rng.randn(qh * hd, d) * scale),
        "WK": f32(rng.randn(kvh * hd, d) * scale),
        "WV": f32(rng.randn(kvh * hd, d) * scale),
        "WO": f32(rng.randn(d, qh * hd) * scale),
    }
    if case["biases"]:
        w["BQ"] = f32(rng.randn(qh * hd) * 0.1)
        w["BK"] = f32(rng.randn(kvh * hd) * 0.1)
        w["BV"] = f32(rng.randn(kvh * hd) * 0.1)
        w["BO"] = f32(rng.randn(d) * 0.1)
    x = f32(rng.uniform(-1.0, 1.0, size=(t, d)))
    out = layer(case, x.astype(np.float64), {k: v.astype(np.float64) for k, v in w.items()})
    text = f"pub mod {case['name']} {{\n"
    text += f"    // D {d}, QH {qh}, KVH {kvh}, HD {hd}, T {t}; positions {case['positions']}; "
    text += f"causal {case['causal']}, window {case['window']}, keep {case['keep']}.\n"
    for key, value in [("D", d), ("QH", qh), ("KVH", kvh), ("HD", hd), ("T", t)]:
        text += f"    pub const {key}: usize = {value};\n"
    if case["keep"] is not None:
        text += f"    pub const KEEP: [bool; {t}] = [{', '.join('true' if k else 'false' for k in case['keep'])}];\n"
    text += rust_f32("X", x)
    for key in ["WQ", "BQ", "WK", "BK", "WV", "BV", "WO", "BO"]:
        if key in w:
            text += rust_f32(key, w[key])
    text += rust_f64("OUT", out)
    return text + "}\n"


def main():
    rng = np.random.RandomState(20240607)
    text = "// Generated by scripts/layer_vectors.py (numpy float64 reference); do not edit.\n"
    for case in CASES:
        text += emit_case(rng, case)
    # ALiBi slopes for 1..=40 heads, flattened head by head.
    slopes = [s for n in range(1, 41) for s in alibi_slopes(n)]
    text += "/// ALiBi slopes of n = 1..=40 heads, the n slopes of each count one after the other.\n"
    text += rust_f64("ALIBI_SLOPES", slopes).replace("    pub const", "pub const")
    # Sinusoidal encodings, "Attention Is All You Need" 3.5, d = 10, positions 0..40.
    d, n = 10, 40
    pos = np.arange(n, dtype=np.float64)[:, None]
    i = np.arange(0, d, 2, dtype=np.float64)
    pe = np.zeros((n, d))
    pe[:, 0::2] = np.sin(pos / 10000.0 ** (i / d))
    pe[:, 1::2] = np.cos(pos / 10000.0 ** (i / d))
    text += "/// Sinusoidal encodings of positions 0..40 for d = 10, row-major.\n"
    text += rust_f64("SINUSOIDAL_10", pe).replace("    pub const", "pub const")
    path = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "layer_vectors.rs"
    path.write_text(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
