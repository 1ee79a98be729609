"""Turn a pytest-benchmark JSON file into a markdown report and a throughput plot."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from train.config import TrainConfig
from train.model import generator_flops

GFLOP_PER_IMAGE = generator_flops(TrainConfig()) / 1e9  # the 64x64 generator, counted from its layers


def load(path: Path) -> tuple[dict, list[dict]]:
    data = json.loads(Path(path).read_text())
    rows = []
    for b in data["benchmarks"]:
        info = b["extra_info"]
        rows.append(
            {**info, "median_s": b["stats"]["median"], "min_s": b["stats"]["min"], "rounds": b["stats"]["rounds"]}
        )
    machine = next((r["machine"] for r in rows if "machine" in r), {})
    return machine, rows


def markdown(machine: dict, rows: list[dict]) -> str:
    """The report: the machine, then a section for each kind of measurement the rows hold."""
    peak = _peaks(rows)
    inference = [r for r in rows if "kind" not in r and not r["backend"].startswith("cold start")]
    table: dict[str, dict[int, float]] = defaultdict(dict)
    for r in inference:
        table[r["backend"]][r["batch_size"]] = r["median_s"]
    sizes = sorted({r["batch_size"] for r in inference})
    out = _machine(machine)
    out += _inference(table, sizes, peak.get("cpu fp32"))
    out += _versus_others(table, sizes, peak.get("cpu fp32"))
    out += _inference_notes(inference, table, sizes)
    out += _rooflines(table, peak)
    out += _cold_start(rows) + _soak(rows) + _training(rows, peak)
    return "\n".join(out) + "\n"


def _peaks(rows: list[dict]) -> dict[str, float]:
    # the fastest measured matmul per "device dtype", from its fastest round: a peak is the best the
    # hardware was seen to do (a oneDNN 1x1 convolution's median can halve when its output's pages fault)
    peak: dict[str, float] = {}
    for r in rows:
        if r.get("kind") == "peak":
            best = r["flops_per_call"] / r.get("min_s", r["median_s"]) / 1e9
            peak[r["provider"]] = max(peak.get(r["provider"], 0.0), best)
    return peak


def _machine(machine: dict) -> list[str]:
    return [
        f"Machine: {machine.get('cpu', '?')} ({machine.get('cpu_flags') or 'no AVX2/AVX-512 flags recorded'}"
        + (f"; instruction sets capped by {machine['isa_caps']}" if machine.get("isa_caps") else "")
        + "), "
        f"{machine.get('threads', '?')} threads for every backend, "
        f"torch {machine.get('torch', '?')}, onnxruntime {machine.get('onnxruntime', '?')}"
        + (f", GPU {machine['gpu']}" if machine.get("gpu") else "")
        + ".",
        "",
    ]


def _inference(table: dict[str, dict[int, float]], sizes: list[int], cpu_peak: float | None) -> list[str]:
    eager = table.get("PyTorch eager CPU", {})
    out: list[str] = []
    if table:
        out += [
            "Inference, 64x64 generator: median ms per batch / images per second / speed vs PyTorch eager CPU"
            + (
                f" / share of the fp32 matmul rate measured in this run ({cpu_peak:,.0f} GFLOP/s, CPU rows)."
                if cpu_peak
                else " (no matmul peak measured in this run: run the bench_training peaks too for shares)."
            ),
            "",
            "| backend | " + " | ".join(f"batch {s}" for s in sizes) + " |",
            "|---|" + "---|" * len(sizes),
        ]
    for backend, by_size in table.items():
        cells = []
        for s in sizes:
            if s not in by_size:
                cells.append("")
                continue
            t = by_size[s]
            ratio = f", {eager[s] / t:.2f}x" if s in eager else ""
            share = f", {s / t * GFLOP_PER_IMAGE / cpu_peak:.0%}" if cpu_peak and "CUDA" not in backend else ""
            cells.append(f"{t * 1e3:.2f} ms / {s / t:,.0f} img/s{ratio}{share}")
        out.append(f"| {backend} | " + " | ".join(cells) + " |")
    return out


def _inference_notes(inference: list[dict], table: dict[str, dict[int, float]], sizes: list[int]) -> list[str]:
    out: list[str] = []
    plans = {r["plan"] for r in inference if "plan" in r}
    if plans:
        out += ["", "Tuned plan (measured at the start of this run): " + "; ".join(sorted(plans)) + "."]
    q, f = table.get("dcgan_runtime int8 (onnxruntime CPU)", {}), table.get("dcgan_runtime, built-in plan", {})
    if q and f:
        out += [
            "",
            "int8 vs fp32 dcgan_runtime (images/s ratio, same run): "
            + ", ".join(f"{f[s] / q[s]:.2f}x at batch {s}" for s in sizes if s in q and s in f)
            + ".",
        ]
    compile_s = {r["batch_size"]: r["compile_s"] for r in inference if "compile_s" in r}
    if compile_s:
        out += [
            "",
            "torch.compile first-call time (compilation; not in the table; inductor keeps an on-disk cache, "
            "so repeat runs compile faster): "
            + ", ".join(f"{s:.1f} s at batch {b}" for b, s in sorted(compile_s.items()))
            + ".",
        ]
    return out


def _rooflines(table: dict[str, dict[int, float]], peak: dict[str, float]) -> list[str]:
    out: list[str] = []
    for dev in ("cpu", "cuda"):
        fp32 = peak.get(f"{dev} fp32")
        rates = [
            s / t
            for b, by in table.items()
            if (dev == "cuda") == ("CUDA" in b) and "int8" not in b
            for s, t in by.items()
        ]
        if fp32 and rates:
            bf16 = peak.get(f"{dev} bf16")
            out += [
                "",
                f"Roofline ({dev}): {GFLOP_PER_IMAGE:.3f} GFLOP per image; "
                f"fastest measured fp32 matrix product {fp32:,.0f} GFLOP/s"
                + (f", bf16 {bf16:,.0f} GFLOP/s" if bf16 else "")
                + f" -> at most {fp32 / GFLOP_PER_IMAGE:,.0f} img/s in fp32. Best measured: {max(rates):,.0f} img/s "
                f"({max(rates) * GFLOP_PER_IMAGE / fp32:.0%} of the fp32 matmul rate; int8 is not bound by it).",
            ]
    return out


def _cold_start(rows: list[dict]) -> list[str]:
    out: list[str] = []
    cold = [r for r in rows if r["backend"].startswith("cold start")]
    if cold:
        out += [
            "",
            "Cold start (fresh process: import, load, one image):",
            "",
            "| program | seconds | peak RSS MB |",
            "|---|---|---|",
        ]
        out += [f"| {r['backend'][12:]} | {r['median_s']:.2f} | {r['peak_rss_mb']:.0f} |" for r in cold]
        if len(cold) == 2:
            a, b = sorted(cold, key=lambda r: r["median_s"])
            out.append(
                f"\n{a['backend'][12:]} starts {b['median_s'] / a['median_s']:.1f}x faster with "
                f"{b['peak_rss_mb'] / a['peak_rss_mb']:.1f}x less peak memory than {b['backend'][12:]}."
            )
    return out


def _soak(rows: list[dict]) -> list[str]:
    out: list[str] = []
    for r in (r for r in rows if r.get("kind") == "soak"):
        out += [
            "",
            f"Soak: {r['calls']:,} calls from {r['threads']} threads on one Generator, mixed batch sizes: "
            f"{r['errors']} errors, {r['mismatches']} results differing from serial calls, "
            f"{r['calls_per_s']:,} calls/s; "
            f"resident memory {r['rss_mb_after_50']} MB after 50 calls, {r['rss_mb_half']} MB half-way, "
            f"{r['rss_mb_end']} MB at the end ({r['rss_growth']:+.1%} overall, {r['rss_growth_second_half']:+.1%} "
            "over the second half).",
        ]
    return out


def _training(rows: list[dict], peak: dict[str, float]) -> list[str]:
    out: list[str] = []
    train = [r for r in rows if r.get("kind") == "training"]
    if train:
        out += [
            "",
            "Training step (D and G update), 64x64 classic model:",
            "",
            "| loop | precision | conv path | batch | images/s | vs reference | GFLOP/image | GFLOP/s | of fp32 rate |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        ref = next((r for r in train if "reference" in r["backend"]), None)
        for r in train:
            ips = r["batch_size"] / r["median_s"]
            gflops = ips * r["flops_per_image"] / 1e9
            prec = r["provider"].split()[-1]
            frac = f"{gflops / peak[r['provider']]:.0%} of {prec}" if r["provider"] in peak else ""
            speedup = f"{ref['median_s'] / r['median_s']:.2f}x" if ref else ""
            out.append(
                f"| {r['backend'][15:]} | {prec} | {r.get('conv_path', 'onednn')} | {r['batch_size']} | {ips:,.1f} | "
                f"{speedup} | {r['flops_per_image'] / 1e9:.2f} | {gflops:,.0f} | {frac} |"
            )
    return out


OTHERS = ("onnxruntime, plain session", "torch.compile CPU", "OpenVINO CPU")


def _versus_others(table: dict[str, dict[int, float]], sizes: list[int], cpu_peak: float | None) -> list[str]:
    """The tuned runtime against the best of plain onnxruntime, torch.compile and OpenVINO, size by size."""
    tuned = table.get("dcgan_runtime, tuned", {})
    cells = []
    for s in sizes:
        others = {name: table[name][s] for name in OTHERS if s in table.get(name, {})}
        if s not in tuned or not others:
            continue
        name, t = min(others.items(), key=lambda kv: kv[1])
        cells.append(f"batch {s}: {t / tuned[s]:.2f}x the best other ({name})")
    if not cells:
        return []
    lines = [
        "",
        "dcgan_runtime tuned vs the fastest of "
        + ", ".join(OTHERS)
        + " (rows timed one after another, so noise between rows counts; `python -m benchmarks.versus` "
        "times them side by side): " + "; ".join(cells) + ".",
    ]
    if cpu_peak and 64 in tuned:
        share = {s: s / tuned[s] * GFLOP_PER_IMAGE / cpu_peak for s in (1, 64) if s in tuned}
        lines.append(
            f"At batch 64 the tuned runtime runs at {share[64]:.0%} of the fp32 matmul rate"
            + (f"; at batch 1 {share[1]:.0%}." if 1 in share else ".")
        )
    return lines


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for r in rows:
        if "kind" not in r and not r["backend"].startswith("cold start"):
            series[r["backend"]].append((r["batch_size"], r["batch_size"] / r["median_s"]))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, pts in sorted(series.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size")
    ax.set_ylabel("images / s")
    ax.set_title("DCGAN 64x64 generator throughput")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
