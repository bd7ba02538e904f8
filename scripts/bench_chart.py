#!/usr/bin/env python3
"""Tables and chart of BENCHMARKS.md from criterion's output and the PyTorch peers.

Two steps, so the figures in the repository are always those of one real run:

  # after `cargo bench --bench suite` in each configuration, run from benches/
  # (see BENCHMARKS.md), and `benches/torch_peers.py` (writes benches/results/torch.json):
  python3 scripts/bench_chart.py --collect native=benches/target/criterion-native \\
      default=benches/target/criterion-default \\
      --note native='RUSTFLAGS="-C target-cpu=native"' --note default='default flags' \\
      --backend native=f32x16 --backend default=f32x4
  # rewrites benches/results/<config>.json (medians, CPU model from /proc/cpuinfo,
  # commit), then BENCHMARKS.md's tables and bench_chart.svg; alone it only regenerates:
  python3 scripts/bench_chart.py --from-results

`--from-results` regenerates the tables and the SVG from the committed JSON; CI
runs it and checks that nothing changes. Tables for PyTorch, the const-generic
loop, the layer workloads and the persistent-worker threads appear when their
results exist (results of older runs lack them). Standard library only.
"""

import argparse
import datetime
import json
import math
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benches" / "results"
MARKDOWN = ROOT / "BENCHMARKS.md"
SVG = ROOT / "bench_chart.svg"
CONFIGS = ["native", "default"]
RUST_PEERS = ["const loop", "autovec", "ndarray", "nalgebra", "naive"]
TORCH = ["torch 1 thread", "torch 2 threads"]
IMPLS = ["sdpa"] + RUST_PEERS + TORCH
COLORS = {"sdpa": "#d62728", "const loop": "#ff7f0e", "autovec": "#1f77b4", "ndarray": "#2ca02c",
          "nalgebra": "#9467bd", "naive": "#8c564b", "torch 1 thread": "#17becf", "torch 2 threads": "#7f7f7f"}
BEGIN, END = "<!-- generated:begin -->", "<!-- generated:end -->"
PEAK = "machine/fma peak"


def collect(criterion_dir: pathlib.Path) -> dict:
    """Median time (ns) and throughput of every benchmark under a criterion home."""
    out = {}
    for bench in sorted(criterion_dir.glob("**/new/benchmark.json")):
        meta = json.loads(bench.read_text())
        est = json.loads((bench.parent / "estimates.json").read_text())
        key = f"{meta['group_id']}/{meta['function_id'] or ''}/{meta.get('value_str') or ''}".rstrip("/")
        tp = meta.get("throughput") or {}
        out[key] = {
            "median_ns": round(est["median"]["point_estimate"], 3),
            "elements": tp.get("Elements"),
            "bytes": tp.get("Bytes"),
        }
    return out


def cpu_model() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def fmt_time(ns: float) -> str:
    if ns < 1e3:
        return f"{ns:.1f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns / 1e6:.2f} ms"


def fmt_ratio(peer, ours) -> str:
    return f"{peer / ours:.2f}×" if peer and ours else "–"


def workloads(data: dict) -> list:
    """Attention groups in W order: (id, group name)."""
    # Only the workload groups themselves ("attention W8 1x1024x64x64"), not
    # the K/V storage group of the same workload, whose name holds a "/".
    groups = {k.split("/")[0] for k in data if re.match(r"attention W\d+ \d+x\d+x\d+x\d+( causal)?/", k)}
    groups = sorted(groups, key=lambda g: int(g.split()[1][1:]))
    return [(g.split()[1], g) for g in groups]


def gflops(entry: dict) -> float:
    return entry["elements"] / entry["median_ns"]


def peak(data: dict):
    """(entry, unit) of the FMA peak: `machine/fma peak/<unit>` since the peak is
    detected at run time; plain `machine/fma peak` (unit None) in older runs."""
    keyed = sorted(k for k in data if k.startswith(PEAK + "/"))
    if keyed:
        return data[keyed[-1]], keyed[-1][len(PEAK) + 1:]
    return data.get(PEAK), None


def torch_entry(torch: dict, wid: str, threads: int):
    """A torch result as a criterion-like entry (median ns, flops) or None."""
    r = (torch or {}).get("results", {}).get(wid)
    if not r or str(threads) not in r.get("median_ns", {}):
        return None
    return {"median_ns": r["median_ns"][str(threads)], "elements": r["flops"]}


def row_entries(data: dict, torch: dict, wid: str, group: str) -> dict:
    row = {impl: data.get(f"{group}/{impl}") for impl in ["sdpa"] + RUST_PEERS}
    row["torch 1 thread"] = torch_entry(torch, wid, 1)
    row["torch 2 threads"] = torch_entry(torch, wid, 2)
    return row


def torch_line(torch: dict, cpu) -> list:
    if not torch:
        return []
    quick = " **smoke run (`--quick`), not a measurement**" if torch.get("quick") else ""
    other = ""
    if cpu and torch.get("cpu") != cpu:
        other = f" (**not** the CPU of the Rust run: `{torch.get('cpu')}`)"
    t = torch.get("timing", {})
    return [f"PyTorch {torch.get('torch')} (CPU capability {torch.get('torch_cpu_capability')}), "
            f"`benches/torch_peers.py` at {torch.get('date_utc')}{other}: {t.get('statistic', 'median')} over "
            f"≥ {t.get('min_samples')} samples after {t.get('warmup_s')} s of warm-up; every output checked "
            f"against float64 numpy first.{quick}", ""]


def tables(config: str, res: dict, torch: dict) -> str:
    data, note = res["benchmarks"], res.get("note", "")
    pk, unit = peak(data)
    peak_gf = gflops(pk) if pk else float("nan")
    cpu = res.get("cpu")
    lines = [f"### {config}: {note}", ""]
    if unit:
        how = f"on **{unit}**, the widest FMA unit of this CPU, detected at run time"
    else:
        how = f"on `{res.get('backend', '?')}`, the build's widest vector: this run predates the runtime-detected peak"
    where = f"CPU `{cpu}`" if cpu else "CPU model not recorded by this run"
    commit = f", commit {res['commit']}" if res.get("commit") else ""
    lines.append(f"Backend `{res.get('backend', '?')}`{commit}. Measured FMA peak: **{peak_gf:.1f} GFLOP/s** "
                 f"(`machine/fma peak`, {fmt_time(pk['median_ns']) if pk else '?'} per call, {how}); {where}.")
    lines.append("")
    lines += torch_line(torch, cpu)

    wls = workloads(data)
    rows = {wid: row_entries(data, torch, wid, g) for wid, g in wls}
    present = [i for i in IMPLS if any(r[i] for r in rows.values())]
    peers = [p for p in present if p != "sdpa"]
    single = [p for p in peers if p != "torch 2 threads"]
    head = "| workload | " + " | ".join(present) + " | best 1-thread peer | best peer / sdpa | sdpa GFLOP/s | % of peak |"
    lines += [head, "|---" + "|---:" * (len(present) + 4) + "|"]
    for wid, group in wls:
        row = rows[wid]
        ours = row["sdpa"]
        cands = {p: row[p] for p in single if row[p]}
        best = min(cands, key=lambda p: cands[p]["median_ns"]) if cands else None
        ratio = fmt_ratio(cands[best]["median_ns"], ours and ours["median_ns"]) if best else "–"
        cells = [fmt_time(row[i]["median_ns"]) if row[i] else "–" for i in present]
        ours_gf = gflops(ours) if ours else float("nan")
        lines.append(f"| {group[len('attention '):]} | " + " | ".join(cells)
                     + f" | {best or '–'} | {ratio} | {ours_gf:.1f} | {100 * ours_gf / peak_gf:.0f} % |")
    lines.append("")
    if len(peers) > 1:
        vs = "; torch at 2 threads against sdpa at 1" if "torch 2 threads" in peers else ""
        lines += [f"Peer time / sdpa time (above 1: sdpa is faster{vs}):", "",
                  "| workload | " + " | ".join(peers) + " |", "|---" + "|---:" * len(peers) + "|"]
        for wid, group in wls:
            ours = rows[wid]["sdpa"]
            lines.append(f"| {wid} | " + " | ".join(
                fmt_ratio(rows[wid][p] and rows[wid][p]["median_ns"], ours and ours["median_ns"]) for p in peers)
                + " |")
        lines.append("")

    stream = data.get("machine/L2 stream K+V of W8")
    w8 = [data.get(f"{g}/sdpa") for w, g in wls if w == "W8"]
    if stream and w8 and w8[0]:
        lines.append(f"W8 against streaming its K and V (512 KiB) once from L2: sdpa {fmt_time(w8[0]['median_ns'])}, "
                     f"stream {fmt_time(stream['median_ns'])} → **{w8[0]['median_ns'] / stream['median_ns']:.2f}×** "
                     f"the stream time (target ≤ 1.3×, issue 12).")
        lines.append("")

    lines += layer_table(data, torch, peak_gf)

    threads = sorted({k.split("/")[0] for k in data if k.startswith("threads ")})
    if threads:
        pooled = any(f"{g}/2 threads, persistent worker" in data for g in threads)
        if pooled:
            lines += ["| two threads (`attention_rows`) | 1 thread | 2 threads, `std::thread::scope` per call | "
                      "2 threads, persistent worker | speed-up, scope | speed-up, persistent |",
                      "|---|---:|---:|---:|---:|---:|"]
        else:
            lines += ["| two threads (`attention_rows`, `std::thread::scope`) | 1 thread | 2 threads | speed-up |",
                      "|---|---:|---:|---:|"]
        for g in threads:
            one, two = data.get(f"{g}/1 thread"), data.get(f"{g}/2 threads")
            if not (one and two):
                continue
            name = g[len('threads attention '):]
            if pooled:
                pool = data.get(f"{g}/2 threads, persistent worker")
                lines.append(f"| {name} | {fmt_time(one['median_ns'])} | {fmt_time(two['median_ns'])} | "
                             f"{fmt_time(pool['median_ns']) if pool else '–'} | "
                             f"{fmt_ratio(one['median_ns'], two['median_ns'])} | "
                             f"{fmt_ratio(one['median_ns'], pool and pool['median_ns'])} |")
            else:
                lines.append(f"| {name} | {fmt_time(one['median_ns'])} | "
                             f"{fmt_time(two['median_ns'])} | {one['median_ns'] / two['median_ns']:.2f}× |")
        lines.append("")

    kernels = sorted(k for k in data if k.startswith("kernel "))
    if kernels:
        lines += ["| kernel | implementation | n | median | elements/ns |", "|---|---|---:|---:|---:|"]
        for k in kernels:
            group, impl, n = k.split("/")
            e = data[k]
            lines.append(f"| {group[len('kernel '):]} | {impl} | {n} | {fmt_time(e['median_ns'])} | "
                         f"{e['elements'] / e['median_ns']:.2f} |")
        lines.append("")
    return "\n".join(lines)


def layer_table(data: dict, torch: dict, peak_gf: float) -> list:
    """sdpa's layer workloads (groups `layer L<n> …`) beside PyTorch at 1 and 2 threads."""
    groups = {k.split("/")[0] for k in data if re.match(r"layer L\d+ ", k)}
    by_id = {g.split()[1]: g for g in groups}
    torch_ids = [i for i in (torch or {}).get("results", {}) if i.startswith("L")]
    ids = sorted(set(by_id) | set(torch_ids), key=lambda i: int(i[1:]))
    if not ids:
        return []
    has_ndarray = any(f"{g}/ndarray" in data for g in groups)
    cols = ["sdpa"] + (["ndarray"] if has_ndarray else []) + TORCH
    lines = ["Layer workloads (`sdpa::layer::SelfAttention` with biases and no positional encoding, one "
             "`decode` step, `kernels::linear`; PyTorch `nn.MultiheadAttention`, `F.scaled_dot_product_attention` "
             "with an in-place K/V cache, `F.linear`):", "",
             "| workload | " + " | ".join(cols) + " | torch 1 thread / sdpa | torch 2 threads / sdpa | "
             "sdpa GFLOP/s | sdpa % of peak | torch 1 thread % of peak |",
             "|---" + "|---:" * (len(cols) + 5) + "|"]
    for i in ids:
        g = by_id.get(i)
        name = g[len("layer "):] if g else torch_name(torch, i)
        row = {c: data.get(f"{g}/{c}") if g else None for c in ["sdpa", "ndarray"]}
        row["torch 1 thread"], row["torch 2 threads"] = torch_entry(torch, i, 1), torch_entry(torch, i, 2)
        ours = row["sdpa"]
        cells = [fmt_time(row[c]["median_ns"]) if row[c] else "–" for c in cols]
        o = ours and ours["median_ns"]
        t1, t2 = row["torch 1 thread"], row["torch 2 threads"]
        pct = lambda e: f"{100 * gflops(e) / peak_gf:.0f} %" if e else "–"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {fmt_ratio(t1 and t1['median_ns'], o)} | "
                     f"{fmt_ratio(t2 and t2['median_ns'], o)} | {f'{gflops(ours):.1f}' if ours else '–'} | "
                     f"{pct(ours)} | {pct(t1)} |")
    lines.append("")
    return lines


def torch_name(torch: dict, wid: str) -> str:
    """A layer workload's name from torch.json's shape (when sdpa has no result)."""
    s = torch["results"][wid]["shape"]
    if "position" in s:
        return f"{wid} decode at {s['position']} E{s['width']} H{s['heads']}"
    if "in" in s:
        return f"{wid} linear T{s['tokens']} {s['in']}->{s['out']} bias"
    model = f"{s['model']} " if s.get("model") else ""
    return f"{wid} {model}N{s['tokens']} E{s['width']} H{s['heads']}{' causal' if s.get('causal') else ''}"


def svg(results: dict, torch: dict) -> str:
    """Grouped bars of GFLOP/s per workload and implementation (log scale), one
    panel per configuration, the measured FMA peak as a dashed line."""
    panel_w, panel_h, left, top, bottom = 900, 300, 70, 40, 60
    configs = [c for c in CONFIGS if c in results]
    width, height = panel_w + left + 20, len(configs) * (panel_h + top + bottom) + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">', f'<rect width="{width}" height="{height}" fill="white"/>']
    lo, hi = 0.01, 1000.0  # GFLOP/s axis
    y_of = lambda v, y0: y0 + panel_h - panel_h * (math.log10(max(v, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
    for p, config in enumerate(configs):
        data = results[config]["benchmarks"]
        y0 = 30 + p * (panel_h + top + bottom) + top
        out.append(f'<text x="{left}" y="{y0 - 14}" font-size="14" font-weight="bold">{config}: '
                   f'{results[config].get("note", "")} — GFLOP/s (log scale), higher is better</text>')
        for e in range(int(math.log10(lo)), int(math.log10(hi)) + 1):
            y = y_of(10.0 ** e, y0)
            out.append(f'<line x1="{left}" x2="{left + panel_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{10.0 ** e:g}</text>')
        wls = workloads(data)
        rows = {wid: row_entries(data, torch, wid, g) for wid, g in wls}
        impls = [i for i in IMPLS if any(r[i] for r in rows.values())]
        slot = panel_w / max(len(wls), 1)
        bar = slot * 0.8 / len(impls)
        for i, (wid, group) in enumerate(wls):
            x0 = left + i * slot + slot * 0.1
            for j, impl in enumerate(impls):
                e = rows[wid][impl]
                if not e:
                    continue
                v = gflops(e)
                y = y_of(v, y0)
                out.append(f'<rect x="{x0 + j * bar:.1f}" y="{y:.1f}" width="{bar - 1:.1f}" '
                           f'height="{y0 + panel_h - y:.1f}" fill="{COLORS[impl]}"><title>{impl} {wid}: '
                           f'{v:.2f} GFLOP/s</title></rect>')
            out.append(f'<text x="{left + (i + 0.5) * slot:.1f}" y="{y0 + panel_h + 16}" text-anchor="middle">{wid}</text>')
            out.append(f'<text x="{left + (i + 0.5) * slot:.1f}" y="{y0 + panel_h + 30}" text-anchor="middle" '
                       f'font-size="10">{group.split()[2]}{" causal" if "causal" in group else ""}</text>')
        pk, unit = peak(data)
        if pk:
            y = y_of(gflops(pk), y0)
            out.append(f'<line x1="{left}" x2="{left + panel_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="black" '
                       f'stroke-dasharray="6,4"/>')
            out.append(f'<text x="{left + panel_w - 4}" y="{y - 5:.1f}" text-anchor="end">FMA peak '
                       f'{gflops(pk):.1f} GFLOP/s{f" ({unit})" if unit else ""}</text>')
        step = panel_w / max(len(impls), 7)
        for j, impl in enumerate(impls):
            lx = left + j * min(120, step)
            ly = y0 + panel_h + 46
            out.append(f'<rect x="{lx:g}" y="{ly - 10}" width="12" height="12" fill="{COLORS[impl]}"/>')
            out.append(f'<text x="{lx + 16:g}" y="{ly}">{impl}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--collect", nargs="*", default=[], metavar="CONFIG=DIR")
    ap.add_argument("--note", action="append", default=[], metavar="CONFIG=TEXT")
    ap.add_argument("--backend", action="append", default=[], metavar="CONFIG=NAME")
    ap.add_argument("--from-results", action="store_true", help="only regenerate (the default without --collect)")
    ap.add_argument("--results-dir", type=pathlib.Path, default=RESULTS, help=argparse.SUPPRESS)
    ap.add_argument("--markdown", type=pathlib.Path, default=MARKDOWN, help=argparse.SUPPRESS)
    ap.add_argument("--svg", type=pathlib.Path, default=SVG, help=argparse.SUPPRESS)
    args = ap.parse_args()
    notes = dict(n.split("=", 1) for n in args.note)
    backends = dict(n.split("=", 1) for n in args.backend)
    results_dir = args.results_dir
    results_dir.mkdir(parents=True, exist_ok=True)
    for item in args.collect:
        config, directory = item.split("=", 1)
        res = {"note": notes.get(config, ""), "backend": backends.get(config, "?"), "cpu": cpu_model(),
               "commit": git_commit(),
               "collected_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "benchmarks": collect(pathlib.Path(directory))}
        (results_dir / f"{config}.json").write_text(json.dumps(res, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    results = {c: json.loads((results_dir / f"{c}.json").read_text()) for c in CONFIGS
               if (results_dir / f"{c}.json").exists()}
    torch_path = results_dir / "torch.json"
    torch = json.loads(torch_path.read_text()) if torch_path.exists() else None
    if not results:
        print(f"no results in {results_dir}", file=sys.stderr)
        return 1
    generated = "\n".join(tables(c, results[c], torch) for c in CONFIGS if c in results)
    text = args.markdown.read_text()
    if BEGIN not in text or END not in text:
        print(f"{args.markdown} lacks the {BEGIN} / {END} markers", file=sys.stderr)
        return 1
    text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: f"{BEGIN}\n{generated}\n{END}", text, flags=re.S)
    args.markdown.write_text(text)
    args.svg.write_text(svg(results, torch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
