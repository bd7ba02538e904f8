#!/usr/bin/env python3
"""Tables and chart of BENCHMARKS.md from criterion's output.

Two steps, so the figures in the repository are always those of one real run:

  # after `cargo bench --bench suite` in each configuration (see BENCHMARKS.md):
  python3 scripts/bench_chart.py --collect native=target/criterion-native default=target/criterion-default \
      --note native="RUSTFLAGS=-C target-cpu=native" --note default="no RUSTFLAGS"
  # rewrites benches/results/<config>.json (medians), then BENCHMARKS.md's tables and bench_chart.svg:
  python3 scripts/bench_chart.py --from-results

`--from-results` alone regenerates the tables and the SVG from the committed
JSON; CI runs it and checks that nothing changes. Standard library only.
"""

import argparse
import json
import math
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benches" / "results"
MARKDOWN = ROOT / "BENCHMARKS.md"
SVG = ROOT / "bench_chart.svg"
CONFIGS = ["native", "default"]
PEERS = ["autovec", "ndarray", "nalgebra", "naive"]
IMPLS = ["sdpa"] + PEERS
COLORS = {"sdpa": "#d62728", "autovec": "#1f77b4", "ndarray": "#2ca02c", "nalgebra": "#9467bd", "naive": "#8c564b"}
BEGIN, END = "<!-- generated:begin -->", "<!-- generated:end -->"


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


def fmt_time(ns: float) -> str:
    if ns < 1e3:
        return f"{ns:.1f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns / 1e6:.2f} ms"


def workloads(data: dict) -> list:
    """Attention groups in W order: (id, group name)."""
    groups = sorted({k.split("/")[0] for k in data if k.startswith("attention W")}, key=lambda g: int(g.split()[1][1:]))
    return [(g.split()[1], g) for g in groups]


def gflops(entry: dict) -> float:
    return entry["elements"] / entry["median_ns"]


def tables(config: str, res: dict) -> str:
    data, note = res["benchmarks"], res.get("note", "")
    peak = data.get("machine/fma peak")
    peak_gf = gflops(peak) if peak else float("nan")
    lines = [f"### {config}: {note}", ""]
    lines.append(f"Backend `{res.get('backend', '?')}`. Measured FMA peak: **{peak_gf:.1f} GFLOP/s** "
                 f"(`machine/fma peak`, {fmt_time(peak['median_ns']) if peak else '?'} per call).")
    lines.append("")
    head = "| workload | sdpa | " + " | ".join(PEERS) + " | best peer | best peer / sdpa | sdpa GFLOP/s | % of peak |"
    lines += [head, "|---" + "|---:" * (len(IMPLS) + 4) + "|"]
    for wid, group in workloads(data):
        row = {impl: data.get(f"{group}/{impl}") for impl in IMPLS}
        ours = row["sdpa"]
        peers = {p: row[p] for p in PEERS if row[p]}
        best = min(peers, key=lambda p: peers[p]["median_ns"]) if peers else None
        ratio = peers[best]["median_ns"] / ours["median_ns"] if best and ours else float("nan")
        cells = [fmt_time(row[i]["median_ns"]) if row[i] else "–" for i in IMPLS]
        ours_gf = gflops(ours) if ours else float("nan")
        lines.append(f"| {group[len('attention '):]} | " + " | ".join(cells)
                     + f" | {best} | {ratio:.2f}× | {ours_gf:.1f} | {100 * ours_gf / peak_gf:.0f} % |")
    lines.append("")
    stream = data.get("machine/L2 stream K+V of W8")
    w8 = [data.get(f"{g}/sdpa") for w, g in workloads(data) if w == "W8"]
    if stream and w8 and w8[0]:
        lines.append(f"W8 against streaming its K and V (512 KiB) once from L2: sdpa {fmt_time(w8[0]['median_ns'])}, "
                     f"stream {fmt_time(stream['median_ns'])} → **{w8[0]['median_ns'] / stream['median_ns']:.2f}×** "
                     f"the stream time (target ≤ 1.5×).")
        lines.append("")
    threads = sorted({k.split("/")[0] for k in data if k.startswith("threads ")})
    if threads:
        lines += ["| two threads (`attention_rows`, `std::thread::scope`) | 1 thread | 2 threads | speed-up |",
                  "|---|---:|---:|---:|"]
        for g in threads:
            one, two = data.get(f"{g}/1 thread"), data.get(f"{g}/2 threads")
            if one and two:
                lines.append(f"| {g[len('threads attention '):]} | {fmt_time(one['median_ns'])} | "
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


def svg(results: dict) -> str:
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
        slot = panel_w / max(len(wls), 1)
        bar = slot * 0.8 / len(IMPLS)
        for i, (wid, group) in enumerate(wls):
            x0 = left + i * slot + slot * 0.1
            for j, impl in enumerate(IMPLS):
                e = data.get(f"{group}/{impl}")
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
        peak = data.get("machine/fma peak")
        if peak:
            y = y_of(gflops(peak), y0)
            out.append(f'<line x1="{left}" x2="{left + panel_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="black" '
                       f'stroke-dasharray="6,4"/>')
            out.append(f'<text x="{left + panel_w - 4}" y="{y - 5:.1f}" text-anchor="end">FMA peak '
                       f'{gflops(peak):.1f} GFLOP/s</text>')
        for j, impl in enumerate(IMPLS):
            lx = left + j * 120
            ly = y0 + panel_h + 46
            out.append(f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{COLORS[impl]}"/>')
            out.append(f'<text x="{lx + 16}" y="{ly}">{impl}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--collect", nargs="*", default=[], metavar="CONFIG=DIR")
    ap.add_argument("--note", action="append", default=[], metavar="CONFIG=TEXT")
    ap.add_argument("--backend", action="append", default=[], metavar="CONFIG=NAME")
    ap.add_argument("--from-results", action="store_true")
    args = ap.parse_args()
    notes = dict(n.split("=", 1) for n in args.note)
    backends = dict(n.split("=", 1) for n in args.backend)
    RESULTS.mkdir(parents=True, exist_ok=True)
    for item in args.collect:
        config, directory = item.split("=", 1)
        res = {"note": notes.get(config, ""), "backend": backends.get(config, "?"),
               "benchmarks": collect(pathlib.Path(directory))}
        (RESULTS / f"{config}.json").write_text(json.dumps(res, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    results = {c: json.loads((RESULTS / f"{c}.json").read_text()) for c in CONFIGS if (RESULTS / f"{c}.json").exists()}
    if not results:
        print("no results in benches/results/", file=sys.stderr)
        return 1
    generated = "\n".join(tables(c, results[c]) for c in CONFIGS if c in results)
    text = MARKDOWN.read_text()
    if BEGIN not in text or END not in text:
        print(f"{MARKDOWN} lacks the {BEGIN} / {END} markers", file=sys.stderr)
        return 1
    text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: f"{BEGIN}\n{generated}\n{END}", text, flags=re.S)
    MARKDOWN.write_text(text)
    SVG.write_text(svg(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
