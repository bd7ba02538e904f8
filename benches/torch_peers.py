#!/usr/bin/env python3
"""PyTorch as a peer of sdpa, on the workloads of benches/benches/suite (BENCHMARKS.md).

  ~/bench-venv/bin/python benches/torch_peers.py            # writes benches/results/torch.json
  ~/bench-venv/bin/python benches/torch_peers.py --quick    # smoke run: a few calls each, JSON to stdout

Measured, each at 1 and 2 threads (torch.set_num_threads), under
torch.inference_mode():

  W1–W8  torch.nn.functional.scaled_dot_product_attention on f32 contiguous
         [1, 1, N, D] tensors (batch 1, head 1), the same inputs as the Rust
         suite (SplitMix64, same seeds); W7 with is_causal=True.
  L1–L4  torch.nn.MultiheadAttention(E, heads, bias=True, batch_first=True),
         eval mode, self-attention mha(x, x, x, need_weights=False), no
         positional encoding; L4 causal (attn_mask = causal mask, is_causal=True).
  L5     one decode step at position 255 (E 512, 8 heads): q/k/v projections
         with F.linear, k and v written in place into a preallocated
         [1, 8, 256, 64] cache, F.scaled_dot_product_attention for the one
         query over the 256 cached keys, output projection with F.linear.
  L6     F.linear, 128 tokens, 768 → 768, with bias.

Time per call: the median over many samples after a warm-up
(time.perf_counter_ns; a sample times enough back-to-back calls to last at
least 20 µs). Every workload's torch output is first checked against a
float64 numpy reference (max |Δ| ≤ 1e-5 · max(1, max |reference|)), so a
wrong peer cannot slip in. Flops are counted as in the Rust suite.

Never run in CI (it needs torch); a real measurement belongs on a quiet
machine, right after `cargo bench --bench suite` (BENCHMARKS.md).
"""

import argparse
import datetime
import json
import math
import pathlib
import platform
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benches" / "results" / "torch.json"
TOLERANCE = 1e-5

# id, NQ, NK, D, DV, causal: benches/src/data.rs WORKLOADS.
ATTENTION = [
    ("W1", 3, 5, 4, 6, False),
    ("W2", 16, 16, 16, 16, False),
    ("W3", 64, 64, 32, 32, False),
    ("W4", 128, 128, 64, 64, False),
    ("W5", 256, 256, 64, 64, False),
    ("W6", 512, 512, 64, 64, False),
    ("W7", 256, 256, 64, 64, True),
    ("W8", 1, 1024, 64, 64, False),
]
# id, model, tokens N, width E, heads, causal: benches/src/layers.rs LAYERS.
LAYERS = [
    ("L1", "MiniLM", 14, 384, 12, False),
    ("L2", "", 128, 256, 4, False),
    ("L3", "BERT-base", 128, 768, 12, False),
    ("L4", "", 256, 512, 8, True),
]
DECODE = ("L5", 256, 512, 8)  # cache capacity (the step is at position 255), E, heads
LINEAR = ("L6", 128, 768, 768)  # tokens, in, out

MASK64 = (1 << 64) - 1


def splitmix_unit(seed: int, n: int) -> tuple:
    """n floats uniform in [-1, 1) from SplitMix64, exactly as benches/src/data.rs
    (the same f32 values: every step of the conversion is exact). Returns
    (values, next seed)."""
    out = np.empty(n, dtype=np.float32)
    state = seed
    for i in range(n):
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        z ^= z >> 31
        out[i] = np.float32(2.0) * (np.float32(z >> 40) / np.float32(1 << 24)) - np.float32(1.0)
    return out, state


def attention_inputs(nq: int, nk: int, d: int, dv: int):
    seed = (0x5D0A0005 + nq * 31 + nk) & MASK64
    q, seed = splitmix_unit(seed, nq * d)
    k, seed = splitmix_unit(seed, nk * d)
    v, _ = splitmix_unit(seed, nk * dv)
    return q.reshape(nq, d), k.reshape(nk, d), v.reshape(nk, dv)


def sdpa_f64(q, k, v, causal: bool, scale: float):
    """Softmax attention in float64 numpy, upper-left causal as torch's is_causal."""
    s = q.astype(np.float64) @ k.astype(np.float64).T * scale
    if causal:
        s = np.where(np.tril(np.ones(s.shape, dtype=bool)), s, -np.inf)
    s = np.exp(s - s.max(axis=-1, keepdims=True))
    return (s / s.sum(axis=-1, keepdims=True)) @ v.astype(np.float64)


def linear_f64(x, w, b):
    return x.astype(np.float64) @ w.astype(np.float64).T + b.astype(np.float64)


def mha_f64(x, wq, bq, wk, bk, wv, bv, wo, bo, heads: int, causal: bool):
    """The layer in float64: projections, per-head attention, merge, out projection."""
    n, e = x.shape
    hd = e // heads
    q, k, v = linear_f64(x, wq, bq), linear_f64(x, wk, bk), linear_f64(x, wv, bv)
    merged = np.empty((n, e))
    for h in range(heads):
        c = slice(h * hd, (h + 1) * hd)
        merged[:, c] = sdpa_f64(q[:, c], k[:, c], v[:, c], causal, 1.0 / math.sqrt(hd))
    return merged @ wo.astype(np.float64).T + bo.astype(np.float64)


def check(what: str, ours: torch.Tensor, reference: np.ndarray) -> float:
    got = ours.detach().reshape(reference.shape).numpy().astype(np.float64)
    diff = float(np.abs(got - reference).max())
    scale = max(1.0, float(np.abs(reference).max()))
    if not diff <= TOLERANCE * scale:
        sys.exit(f"{what}: torch differs from the float64 reference by {diff:.3g} (allowed {TOLERANCE * scale:.3g})")
    return diff


def measure(fn, warmup_s: float, measure_s: float, min_samples: int) -> tuple:
    """Median ns per call of fn() over samples after a warm-up; (median, samples)."""
    calls, start = 0, time.perf_counter_ns()
    while calls < 3 or time.perf_counter_ns() - start < warmup_s * 1e9:
        fn()
        calls += 1
    per_call = (time.perf_counter_ns() - start) / calls
    inner = max(1, math.ceil(20_000 / per_call))
    samples, start = [], time.perf_counter_ns()
    while len(samples) < min_samples or time.perf_counter_ns() - start < measure_s * 1e9:
        t0 = time.perf_counter_ns()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter_ns() - t0) / inner)
    samples.sort()
    mid = len(samples) // 2
    median = samples[mid] if len(samples) % 2 else (samples[mid - 1] + samples[mid]) / 2
    return median, len(samples)


def cpu_model() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def workloads():
    """(id, description dict, flops, callable, reference check) per workload."""
    gen = torch.Generator().manual_seed(0x70C4)
    for wid, nq, nk, d, dv, causal in ATTENTION:
        q, k, v = attention_inputs(nq, nk, d, dv)
        tq, tk, tv = (torch.from_numpy(a).reshape(1, 1, *a.shape).contiguous() for a in (q, k, v))
        full = 2 * nq * nk * (d + dv)
        fn = lambda tq=tq, tk=tk, tv=tv, causal=causal: F.scaled_dot_product_attention(tq, tk, tv, is_causal=causal)
        ref = lambda fn=fn, q=q, k=k, v=v, d=d, causal=causal, wid=wid: check(
            wid, fn(), sdpa_f64(q, k, v, causal, 1.0 / math.sqrt(d)))
        shape = {"nq": nq, "nk": nk, "d": d, "dv": dv, "causal": causal, "tensor": [1, 1, nq, d]}
        yield wid, "F.scaled_dot_product_attention", shape, full // 2 if causal else full, fn, ref

    for lid, model, n, e, heads, causal in LAYERS:
        mha = torch.nn.MultiheadAttention(e, heads, bias=True, batch_first=True).eval()
        x = torch.rand(1, n, e, generator=gen) * 2 - 1
        mask = torch.nn.Transformer.generate_square_subsequent_mask(n) if causal else None

        def fn(mha=mha, x=x, mask=mask, causal=causal):
            return mha(x, x, x, need_weights=False, attn_mask=mask, is_causal=causal)[0]

        def ref(fn=fn, mha=mha, x=x, heads=heads, causal=causal, e=e, lid=lid):
            wq, wk, wv = (t.detach().numpy() for t in mha.in_proj_weight.split(e))
            bq, bk, bv = (t.detach().numpy() for t in mha.in_proj_bias.split(e))
            wo, bo = mha.out_proj.weight.detach().numpy(), mha.out_proj.bias.detach().numpy()
            return check(lid, fn(), mha_f64(x[0].numpy(), wq, bq, wk, bk, wv, bv, wo, bo, heads, causal))

        attention = 4 * n * n * e
        flops = 8 * n * e * e + (attention // 2 if causal else attention)
        shape = {"tokens": n, "width": e, "heads": heads, "causal": causal, "model": model}
        yield lid, "nn.MultiheadAttention", shape, flops, fn, ref

    did, cap, e, heads = DECODE
    hd = e // heads
    bound = 1 / math.sqrt(e)
    w = [(torch.rand(e, e, generator=gen) * 2 - 1) * bound for _ in range(4)]
    b = [(torch.rand(e, generator=gen) * 2 - 1) * bound for _ in range(4)]
    xs = torch.rand(cap, e, generator=gen) * 2 - 1
    # The cache holds the keys and values of positions 0..254; position 255 is written by each step.
    k_cache = torch.zeros(1, heads, cap, hd)
    v_cache = torch.zeros(1, heads, cap, hd)
    k_cache[0, :, : cap - 1] = F.linear(xs[: cap - 1], w[1], b[1]).reshape(cap - 1, heads, hd).transpose(0, 1)
    v_cache[0, :, : cap - 1] = F.linear(xs[: cap - 1], w[2], b[2]).reshape(cap - 1, heads, hd).transpose(0, 1)
    last = xs[cap - 1 :].reshape(1, 1, e).contiguous()

    def decode_step():
        q = F.linear(last, w[0], b[0]).view(1, 1, heads, hd).transpose(1, 2)
        k_cache[:, :, cap - 1 : cap] = F.linear(last, w[1], b[1]).view(1, 1, heads, hd).transpose(1, 2)
        v_cache[:, :, cap - 1 : cap] = F.linear(last, w[2], b[2]).view(1, 1, heads, hd).transpose(1, 2)
        o = F.scaled_dot_product_attention(q, k_cache, v_cache)
        return F.linear(o.transpose(1, 2).reshape(1, 1, e), w[3], b[3])

    def decode_ref():
        n = [t.numpy() for t in w + b]
        full = mha_f64(xs.numpy(), n[0], n[4], n[1], n[5], n[2], n[6], n[3], n[7], heads, True)
        return check(did, decode_step(), full[cap - 1 :])

    shape = {"position": cap - 1, "cache": cap, "width": e, "heads": heads}
    yield did, "F.linear + in-place K/V cache + F.scaled_dot_product_attention", shape, 8 * e * e + 4 * cap * e, \
        decode_step, decode_ref

    pid, tokens, n_in, n_out = LINEAR
    x = torch.rand(tokens, n_in, generator=gen) * 2 - 1
    wl = (torch.rand(n_out, n_in, generator=gen) * 2 - 1) / math.sqrt(n_in)
    bl = torch.rand(n_out, generator=gen) * 2 - 1
    fn = lambda: F.linear(x, wl, bl)
    ref = lambda: check(pid, fn(), linear_f64(x.numpy(), wl.numpy(), bl.numpy()))
    shape = {"tokens": tokens, "in": n_in, "out": n_out, "bias": True}
    yield pid, "F.linear", shape, 2 * tokens * n_in * n_out, fn, ref


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--warmup", type=float, default=0.5, help="seconds of warm-up per benchmark")
    ap.add_argument("--measure", type=float, default=2.0, help="seconds of samples per benchmark")
    ap.add_argument("--min-samples", type=int, default=50)
    ap.add_argument("--quick", action="store_true",
                    help="smoke run (a few calls each, not a measurement); JSON to stdout unless --out")
    ap.add_argument("--out", type=pathlib.Path, default=None, help=f"default {DEFAULT_OUT.relative_to(ROOT)}")
    ap.add_argument("--only", nargs="*", default=None, metavar="ID", help="only these workload ids")
    args = ap.parse_args()
    if args.quick:
        args.warmup, args.measure, args.min_samples = 0.0, 0.0, 3
    out_path = args.out or (None if args.quick else DEFAULT_OUT)

    results = {}
    with torch.inference_mode():
        for wid, op, shape, flops, fn, ref in workloads():
            if args.only is not None and wid not in args.only:
                continue
            torch.set_num_threads(max(args.threads))
            err = ref()
            entry = {"op": op, "shape": shape, "flops": flops, "max_abs_err_vs_f64": err,
                     "median_ns": {}, "samples": {}}
            for t in args.threads:
                torch.set_num_threads(t)
                median, n = measure(fn, args.warmup, args.measure, args.min_samples)
                entry["median_ns"][str(t)] = round(median, 1)
                entry["samples"][str(t)] = n
                print(f"{wid} {op} threads={t}: {median / 1e3:.2f} µs ({flops / median:.2f} GFLOP/s, "
                      f"{n} samples; max |Δ| vs f64 {err:.1e})", file=sys.stderr)
            results[wid] = entry

    doc = {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": args.threads,
        "quick": args.quick,
        "timing": {"statistic": "median ns per call", "warmup_s": args.warmup, "measure_s": args.measure,
                   "min_samples": args.min_samples, "min_sample_ns": 20000},
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "results": results,
    }
    text = json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    if out_path is None:
        sys.stdout.write(text)
    else:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
