"""`dcgan bench`: latency per batch size (p50/p90/p99, min, mean, std) and images/s, with what ran where.

Each row names the precision, the active providers and the CPU plan; the report names the CPU, its
flags, onnxruntime's version and the threads, so a figure never travels without its machine.

>>> rows = measure(Generator.load("generator.onnx"), [1, 64], rounds=20)   # doctest: +SKIP
>>> print(to_json(rows))                                                   # doctest: +SKIP
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from dcgan_runtime.engine import tune

FORMATS = ("table", "json", "csv")


@dataclass(frozen=True)
class Row:
    precision: str  # the file's precision: fp32, fp16, int8 or bf16
    providers: str  # what actually ran, first first ("CPUExecutionProvider")
    plan: str  # the CPU plan's one-line description ("" off the CPU)
    batch_size: int  # images per call
    rounds: int  # timed calls (after one untimed warm-up call)
    p50_ms: float  # median milliseconds per call
    p90_ms: float
    p99_ms: float
    min_ms: float
    mean_ms: float
    std_ms: float
    images_per_s: float  # batch_size / median


def measure(g: Any, sizes: Sequence[int], rounds: int) -> list[Row]:
    """Time `rounds` decode calls of each batch size on Generator `g` (float output: the model alone)."""
    rows = []
    for bs in sizes:
        z = g.latents(bs, seed=0)
        g.decode(z, output="float", batch_size=bs)  # warm-up: sessions, buffers and caches
        ms = np.empty(rounds)
        for i in range(rounds):
            t = time.perf_counter()
            g.decode(z, output="float", batch_size=bs)
            ms[i] = 1000 * (time.perf_counter() - t)
        p50, p90, p99 = (float(v) for v in np.percentile(ms, [50, 90, 99]))
        rows.append(
            Row(
                precision=g.metadata.precision,
                providers=",".join(g.providers),
                plan=g.plan.describe() if g.plan else "",
                batch_size=bs,
                rounds=rounds,
                p50_ms=round(p50, 4),
                p90_ms=round(p90, 4),
                p99_ms=round(p99, 4),
                min_ms=round(float(ms.min()), 4),
                mean_ms=round(float(ms.mean()), 4),
                std_ms=round(float(ms.std()), 4),
                images_per_s=round(bs / p50 * 1000, 2),
            )
        )
    return rows


def machine(threads: int) -> dict[str, Any]:
    """The CPU, its flags, the engines' versions (OpenVINO's where installed: it runs bf16) and the threads."""
    import onnxruntime

    versions = {"onnxruntime": onnxruntime.__version__}
    if importlib.util.find_spec("openvino") is not None:
        import openvino

        versions["openvino"] = openvino.get_version().split("-")[0]
    return {**tune.machine_key(), **versions, "threads": threads}


def to_json(rows: Sequence[Row], threads: int) -> str:
    return json.dumps({"machine": machine(threads), "results": [asdict(r) for r in rows]}, indent=2)


def to_csv(rows: Sequence[Row], threads: int) -> str:
    """One header line and a line per row; the machine's columns repeat on every line (a flat table)."""
    extra = machine(threads)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, [f.name for f in fields(Row)] + list(extra), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({**asdict(r), **extra})
    return buf.getvalue()


def to_table(rows: Sequence[Row], threads: int) -> str:
    m = machine(threads)
    engines = f"onnxruntime {m['onnxruntime']}" + (f", OpenVINO {m['openvino']}" if "openvino" in m else "")
    lines = [f"cpu {m['cpu']} ({m['cpu_flags'] or 'no AVX flags'}), {engines}, {threads} threads"]
    shown = None
    for r in rows:
        if (r.precision, r.providers, r.plan) != shown:
            shown = (r.precision, r.providers, r.plan)
            lines.append(f"{r.precision}  providers {r.providers}" + (f"\ncpu plan  {r.plan}" if r.plan else ""))
            lines.append(f"{'batch':>6}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}{'images/s':>11}")
        lines.append(f"{r.batch_size:>6}{r.p50_ms:>10.2f}{r.p90_ms:>10.2f}{r.p99_ms:>10.2f}{r.images_per_s:>11.1f}")
    return "\n".join(lines)
