"""`dcgan bench`: latency per batch size (p50/p90/p99, min, mean, std) and images/s, with what ran where.

Each row names the precision, the active providers and the CPU plan; the report names the CPU, its
flags, onnxruntime's version and the threads, so a figure never travels without its machine.

>>> rows = measure(Generator.load("generator.onnx"), [1, 64], rounds=20)   # doctest: +SKIP
>>> print(to_json(rows))                                                   # doctest: +SKIP
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import io
import json
import time
from collections.abc import Callable, Sequence
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


def peers(path: Any, threads: int) -> dict[str, Any]:
    """What a user could run instead on the same fp32 file: a plain onnxruntime session, and OpenVINO in
    fp32 and with its default precision (bf16 on AMX/AVX512-BF16 CPUs) where installed. name -> fn(z)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    plain = ort.InferenceSession(str(path), so, ["CPUExecutionProvider"])
    name = plain.get_inputs()[0].name
    out: dict[str, Any] = {"onnxruntime, plain session": lambda z: plain.run(None, {name: z})[0]}
    if importlib.util.find_spec("openvino") is not None:
        import openvino as ov

        core = ov.Core()
        for label, hint in (("OpenVINO fp32", {"INFERENCE_PRECISION_HINT": "f32"}), ("OpenVINO default", {})):
            config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads, **hint}
            compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
            runs = str(compiled.get_property("INFERENCE_PRECISION_HINT")).split("'")[1]
            out[f"{label} ({runs})"] = functools.partial(_infer, compiled.create_infer_request())
    return out


def _infer(request: Any, z: np.ndarray) -> np.ndarray:
    return request.infer({0: z})[0]


def fp32_rate(seconds: float = 1.0) -> float:
    """GFLOP/s of numpy's 2048^3 fp32 matrix product, the fastest call in `seconds` (the fp32 wall)."""
    n = 2048
    a = np.random.RandomState(0).standard_normal((n, n)).astype(np.float32)
    best, end = float("inf"), time.perf_counter() + seconds
    while best == float("inf") or time.perf_counter() < end:
        t = time.perf_counter()
        np.matmul(a, a)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def versus(
    g: Any, fp32_file: Any, sizes: Sequence[int], threads: int, seconds: float = 0.5
) -> dict[str, dict[int, float]]:
    """Images/s of Generator `g` and its `peers` on `fp32_file`, per batch size, round-robin: five rounds
    of one block each, a pause before every block (tune.round_robin), medians."""
    fns: dict[str, Callable[[np.ndarray], Any]] = {
        f"dcgan_runtime {g.metadata.precision}": lambda z: g.decode(z.reshape(len(z), -1), "float", len(z))
    }
    fns.update(peers(fp32_file, threads))
    rates: dict[str, dict[int, float]] = {n: {} for n in fns}
    for size in sizes:
        z = g.latents(size, seed=0).reshape(size, -1, 1, 1)
        once = {}
        for n, fn in fns.items():
            fn(z)
            t = time.perf_counter()
            fn(z)
            once[n] = max(time.perf_counter() - t, 1e-6)
        calls = {n: max(1, int(seconds / 5 / once[n])) for n in fns}
        bound = {n: functools.partial(fn, z) for n, fn in fns.items()}
        for n, per_call in tune.round_robin(bound, calls, 5).items():
            rates[n][size] = size / float(np.median(per_call))
    return rates


def versus_table(rates: dict[str, dict[int, float]], gflop_per_image: float, wall: float, threads: int) -> str:
    """The side-by-side table: images/s (share of the fp32 wall) and the runtime against the best peer."""
    m = machine(threads)
    sizes = sorted({s for r in rates.values() for s in r})
    ours = next(iter(rates))
    lines = [
        f"cpu {m['cpu']} ({m['cpu_flags'] or 'no AVX flags'}), {threads} threads each; fp32 wall (numpy "
        f"matmul) {wall:,.0f} GFLOP/s; {gflop_per_image:.3f} GFLOP per image",
        f"{'images/s (share of the fp32 wall)':<36}" + "".join(f"{'batch ' + str(s):>16}" for s in sizes),
    ]
    for name, r in rates.items():
        lines.append(
            f"{name:<36}" + "".join(f"{f'{r[s]:,.0f} ({r[s] * gflop_per_image / wall:.0%})':>16}" for s in sizes)
        )
    ratio = [rates[ours][s] / max(r[s] for n, r in rates.items() if n != ours) for s in sizes]
    lines.append(f"{'runtime / best peer':<36}" + "".join(f"{f'{x:.2f}x':>16}" for x in ratio))
    return "\n".join(lines)


def gflop_per_image(meta: Any) -> float:
    """GFLOP (2 x multiply-adds) of one image through the DCGAN generator the metadata describes (its
    training config's ngf; 64, the paper's, where absent): 0.209 for the classic 64x64 model.

    >>> from dcgan_runtime.metadata import Metadata
    >>> round(gflop_per_image(Metadata(latent_dim=100, image_size=64, channels=3)), 3)
    0.209
    """
    ngf = int(meta.training_config.get("ngf", 64))
    n_up = meta.image_size.bit_length() - 3
    widths = [ngf * 2 ** (n_up - 1 - i) for i in range(n_up)] + [meta.channels]
    flops = 2 * meta.latent_dim * widths[0] * 16  # 1x1 -> 4x4
    for i, (cin, cout) in enumerate(zip(widths[:-1], widths[1:])):
        side = 4 * 2**i
        flops += 2 * side * side * cin * cout * 16
    return flops / 1e9
