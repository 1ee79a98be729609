"""dcgan_runtime against plain onnxruntime, OpenVINO and torch.compile, side by side in one run.

    python -m benchmarks.versus [--sizes 1,2,4,8,16,32,64,256] [--seconds 1] [--threads N] [--json out.json]

The classic 64x64 generator (random weights, randomised BatchNorm statistics, exported as users
would). Per batch size, every backend runs in rounds, round-robin (a pause and an untimed call
before each block, so one backend's spinning threads do not slow the next); a backend's figure is
the median of its blocks. Every figure is also a share of this machine's fp32 matrix-multiply rate,
measured in the same run (the fastest call of torch.mm, numpy and a oneDNN 1x1 convolution), and the
CPU and its flags head the report. dcgan_runtime is tuned on this machine first (not cached).
OpenVINO runs in fp32 (on CPUs with native bf16 its default would be bf16) with the latency hint.
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
from dcgan_runtime.engine.session import available_cpus
from dcgan_runtime.engine.tune import round_robin
from train.config import TrainConfig
from train.model import generator_flops


def fp32_rate(seconds: float = 1.0) -> dict[str, float]:
    """GFLOP/s of a 2048^3 fp32 product by torch.mm and numpy, and of a oneDNN 1x1 convolution."""
    n, c, hw = 2048, 512, 64
    a, b = torch.randn(n, n), torch.randn(n, n)
    an, bn = a.numpy(), b.numpy()
    x = torch.randn(1, c, hw, hw).contiguous(memory_format=torch.channels_last)
    w = torch.randn(c, c, 1, 1)
    jobs = {
        "torch.mm": (lambda: torch.mm(a, b), 2 * n**3),
        "numpy matmul": (lambda: np.matmul(an, bn), 2 * n**3),
        "oneDNN 1x1 conv": (lambda: torch.nn.functional.conv2d(x, w), 2 * c * c * hw * hw),
    }
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
    import onnxruntime as ort

    tuned = Generator.load(onnx, device="cpu", threads=threads, tune=False)
    tuned.tune(save=False)
    print(f"tuned plan: {tuned.plan.describe()}", file=sys.stderr)
    built_in = Generator.load(onnx, device="cpu", threads=threads, tune=False)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    plain = ort.InferenceSession(str(onnx), so, ["CPUExecutionProvider"])
    out: dict[str, Callable] = {
        "dcgan_runtime, tuned": lambda z: tuned.decode(z.reshape(len(z), -1), output="float", batch_size=4096),
        "dcgan_runtime, built-in plan": lambda z: built_in.decode(
            z.reshape(len(z), -1), output="float", batch_size=4096
        ),
        "onnxruntime, plain session": lambda z: plain.run(None, {"z": z})[0],
    }
    try:
        import openvino as ov

        core = ov.Core()
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads}
        request = core.compile_model(core.read_model(str(onnx)), "CPU", config).create_infer_request()
        out["OpenVINO"] = lambda z: request.infer({0: z})[0]
    except ImportError:
        print("OpenVINO is not installed (pip install 'dcgan[bench]'): no OpenVINO column", file=sys.stderr)
    compiled = torch.compile(eager, dynamic=False)

    def run_compiled(z: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return compiled(torch.from_numpy(z)).numpy()

    out["torch.compile"] = run_compiled
    return out, tuned.plan.describe()


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


def markdown(rates: dict[str, dict[int, float]], peak: dict[str, float], threads: int, plan: str) -> str:
    gflop = generator_flops(TrainConfig()) / 1e9
    best_peak = max(peak.values())
    sizes = sorted({s for r in rates.values() for s in r})
    lines = [
        f"CPU: {cpu_name()} ({cpu_flags() or 'no AVX2/AVX-512 flags'}), {threads} threads for every backend; "
        f"fp32 matmul rate measured in this run: {best_peak:,.0f} GFLOP/s ("
        + ", ".join(f"{k} {v:,.0f}" for k, v in peak.items())
        + f"); the generator is {gflop:.3f} GFLOP per image.",
        "",
        "images/s (share of the fp32 matmul rate), median of 5 round-robin blocks per cell:",
        "",
        "| backend | " + " | ".join(f"batch {s}" for s in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for name, r in rates.items():
        cells = [f"{r[s]:,.0f} ({r[s] * gflop / best_peak:.0%})" for s in sizes]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    others = [n for n in rates if not n.startswith("dcgan_runtime")]
    ratio = []
    for s in sizes:
        best = max(others, key=lambda n: rates[n][s])
        ratio.append(f"{rates['dcgan_runtime, tuned'][s] / rates[best][s]:.2f}x ({best})")
    lines.append("| tuned / best other | " + " | ".join(ratio) + " |")
    lines += ["", f"Tuned plan: {plan}."]
    return "\n".join(lines) + "\n"


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
        onnx, eager = classic_model(Path(tmp))
        fns, plan = backends(onnx, eager, a.threads)
        peak = fp32_rate()
        rates = measure(fns, sizes, a.seconds)
    text = markdown(rates, peak, a.threads, plan)
    print(text)
    if a.json:
        Path(a.json).write_text(
            json.dumps(
                {
                    "cpu": cpu_name(),
                    "cpu_flags": cpu_flags(),
                    "threads": a.threads,
                    "fp32_gflops": peak,
                    "images_per_s": rates,
                    "plan": plan,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
