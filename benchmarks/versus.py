"""dcgan_runtime against plain onnxruntime, OpenVINO and torch.compile, side by side in one run.

    python -m benchmarks.versus [--sizes 1,2,4,8,16,32,64,256] [--seconds 1] [--threads N] [--json out.json]

The classic 64x64 generator (random weights, randomised BatchNorm statistics, exported as users
would). Per batch size, every backend runs in rounds, round-robin (a pause and an untimed call
before each block, so one backend's spinning threads do not slow the next); a backend's figure is
the median of its blocks. Every figure is also a share of this machine's fp32 matrix-multiply rate,
measured in the same run (the fastest call of torch.mm, numpy and a oneDNN 1x1 convolution), and the
CPU and its flags head the report. dcgan_runtime is tuned on this machine first (not cached).
OpenVINO runs twice with the latency hint (`dcgan_runtime.engine.bench.peers`, what `dcgan bench
--versus` runs too): in fp32, and with its default precision (bf16 on CPUs with AMX or
AVX512-BF16). Where the CPU has bf16 units, the bf16 matmul rate is measured too, and the runtime's
bf16 file (`precision="bf16"`) and int8 file run beside the fp32 rows.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from benchmarks.conftest import classic_model, cpu_flags, cpu_name
from dcgan_runtime import Generator, parse
from dcgan_runtime.engine.openvino_cpu import bf16_units
from dcgan_runtime.engine.session import available_cpus
from dcgan_runtime.engine.tune import round_robin
from train.config import TrainConfig
from train.model import generator_flops


def fp32_rate(seconds: float = 1.0, dtype: torch.dtype = torch.float32) -> dict[str, float]:
    """GFLOP/s of a 2048^3 product by torch.mm and numpy (fp32 only), and of a oneDNN 1x1 convolution."""
    n, c, hw = 2048, 512, 64
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    x = torch.randn(1, c, hw, hw, dtype=dtype).contiguous(memory_format=torch.channels_last)
    w = torch.randn(c, c, 1, 1, dtype=dtype)
    jobs = {
        "torch.mm": (lambda: torch.mm(a, b), 2 * n**3),
        "oneDNN 1x1 conv": (lambda: torch.nn.functional.conv2d(x, w), 2 * c * c * hw * hw),
    }
    if dtype == torch.float32:
        an, bn = a.numpy(), b.numpy()
        jobs["numpy matmul"] = (lambda: np.matmul(an, bn), 2 * n**3)
    rates = {}
    with torch.inference_mode():
        for name, (fn, flops) in jobs.items():
            fn()
            times, end = [], time.perf_counter() + seconds
            while len(times) < 3 or time.perf_counter() < end:
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            rates[name] = flops / min(times) / 1e9  # a peak: the best the hardware was seen to do
    return rates


def backends(onnx: Path, eager: torch.nn.Module, threads: int) -> tuple[dict[str, Callable], str]:
    """name -> fn(z) for every backend that is installed here, and the tuned plan."""
    from dcgan_runtime.engine.bench import peers
    from dcgan_runtime.engine.openvino_cpu import unavailable

    tuned = Generator.load(onnx, device="cpu", threads=threads, tune=False)
    tuned.tune(save=False)
    print(f"tuned plan: {tuned.plan.describe()}", file=sys.stderr)
    built_in = Generator.load(onnx, device="cpu", threads=threads, tune=False)
    out: dict[str, Callable] = {
        "dcgan_runtime, tuned": lambda z: tuned.decode(z.reshape(len(z), -1), output="float", batch_size=4096),
        "dcgan_runtime, built-in plan": lambda z: built_in.decode(
            z.reshape(len(z), -1), output="float", batch_size=4096
        ),
        **peers(onnx, threads),  # plain onnxruntime, OpenVINO fp32 and default: dcgan bench --versus's peers
    }
    if not any(name.startswith("OpenVINO") for name in out):
        print("OpenVINO is not installed (pip install 'dcgan[bench]'): no OpenVINO rows", file=sys.stderr)
    for precision in ("int8", "bf16"):
        if precision == "bf16" and unavailable() is not None:
            print(f"no dcgan_runtime bf16 row: {unavailable()}", file=sys.stderr)
            continue
        g = Generator.load(onnx.parent, device="cpu", threads=threads, precision=precision)
        out[f"dcgan_runtime {precision}"] = functools.partial(_decode, g)
    compiled = torch.compile(eager, dynamic=False)

    def run_compiled(z: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return compiled(torch.from_numpy(z)).numpy()

    out["torch.compile"] = run_compiled
    return out, tuned.plan.describe()


def _decode(g: Generator, z: np.ndarray) -> np.ndarray:
    return g.decode(z.reshape(len(z), -1), output="float", batch_size=4096)


def measure(fns: dict[str, Callable], sizes: list[int], seconds: float, rounds: int = 5) -> dict[str, dict[int, float]]:
    z_all = np.random.RandomState(0).standard_normal((max(sizes), 100, 1, 1)).astype(np.float32)
    rates: dict[str, dict[int, float]] = {name: {} for name in fns}
    for size in sizes:
        z = z_all[:size]
        once = {}
        for name, fn in fns.items():  # warm-up (torch.compile compiles for this size here)
            fn(z)
            t = time.perf_counter()
            fn(z)
            once[name] = time.perf_counter() - t
        calls = {name: max(1, int(seconds / rounds / once[name])) for name in fns}
        blocks = round_robin({name: functools.partial(fn, z) for name, fn in fns.items()}, calls, rounds)
        for name, per_call in blocks.items():
            rates[name][size] = size / float(np.median(per_call))
        print(f"batch {size}: " + ", ".join(f"{n} {rates[n][size]:,.0f}" for n in fns), file=sys.stderr)
    return rates


def markdown(
    rates: dict[str, dict[int, float]], peak: dict[str, float], threads: int, plan: str, bf16: dict[str, float]
) -> str:
    gflop = generator_flops(TrainConfig()) / 1e9
    best_peak = max(peak.values())
    sizes = sorted({s for r in rates.values() for s in r})
    walls = ", ".join(f"{k} {v:,.0f}" for k, v in peak.items())
    lines = [
        f"CPU: {cpu_name()} ({cpu_flags() or 'no AVX2/AVX-512 flags'}), {threads} threads for every backend; "
        f"fp32 matmul rate measured in this run: {best_peak:,.0f} GFLOP/s ({walls})"
        + (f"; bf16: {max(bf16.values()):,.0f} GFLOP/s" if bf16 else "; no bf16 units (bf16 rate not measured)")
        + f"; the generator is {gflop:.3f} GFLOP per image.",
        "",
        "images/s (share of the fp32 matmul rate), median of 5 round-robin blocks per cell:",
        "",
        "| backend | " + " | ".join(f"batch {s}" for s in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for name, r in rates.items():
        cells = [f"{r[s]:,.0f} ({r[s] * gflop / best_peak:.0%})" for s in sizes]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ratio_rows(rates, sizes)
    lines += ["", f"Tuned plan: {plan}."]
    return "\n".join(lines) + "\n"


def ratio_rows(rates: dict[str, dict[int, float]], sizes: list[int]) -> list[str]:
    """The runtime's fp32 against the best fp32 peer, and its best precision against OpenVINO's default."""
    fp32_peers = [n for n in rates if not n.startswith(("dcgan_runtime", "OpenVINO default"))]
    default = next((n for n in rates if n.startswith("OpenVINO default")), None)
    ours = [n for n in rates if n.startswith("dcgan_runtime") and "built-in" not in n]
    rows = []
    for title, mine, theirs in (
        ("fp32: tuned / best fp32 peer", ["dcgan_runtime, tuned"], fp32_peers),
        ("best of the runtime's precisions / OpenVINO default", ours, [default] if default else []),
    ):
        if not theirs:
            continue
        cells = []
        for s in sizes:
            me, peer = max(mine, key=lambda n: rates[n][s]), max(theirs, key=lambda n: rates[n][s])
            cells.append(
                f"{rates[me][s] / rates[peer][s]:.2f}x ({me.removeprefix('dcgan_runtime')[1:].strip()} / {peer})"
            )
        rows.append(f"| {title} | " + " | ".join(cells) + " |")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.versus", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1,2,4,8,16,32,64,256", help="batch sizes (default 1,2,4,8,16,32,64,256)")
    p.add_argument("--seconds", type=float, default=1.0, help="timed seconds per backend and size (default 1)")
    p.add_argument("--threads", type=int, default=available_cpus(), help="threads for every backend (default all)")
    p.add_argument("--json", help="also write the figures here")
    a = p.parse_args(argv)
    sizes = parse.parse_ints(a.sizes, 4096)
    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        onnx, eager = classic_model(Path(tmp), ("--int8", "--bf16"))
        fns, plan = backends(onnx, eager, a.threads)
        peak = fp32_rate()
        bf16 = fp32_rate(dtype=torch.bfloat16) if bf16_units() else {}
        rates = measure(fns, sizes, a.seconds)
    text = markdown(rates, peak, a.threads, plan, bf16)
    print(text)
    if a.json:
        Path(a.json).write_text(
            json.dumps(
                {
                    "cpu": cpu_name(),
                    "cpu_flags": cpu_flags(),
                    "threads": a.threads,
                    "fp32_gflops": peak,
                    "bf16_gflops": bf16,
                    "images_per_s": rates,
                    "plan": plan,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
