"""Where one training step spends its time, op by op (torch.profiler), on this CPU.

    python -m benchmarks.profile_step [--loop reference|onednn-cl|onednn|native] [--precision fp32|bf16]
                                      [--batch-size 128] [--steps 3] [--rows 15]

The classic 64x64 model, random data. Prints the CPU and its flags, the images/s of the profiled
steps, and the ops by self time: what to look at on a CPU where a path is slower than expected
(issue #20's AVX2-only EPYC). ONEDNN_VERBOSE=1 in the environment also prints oneDNN's kernel per call.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks.conftest import cpu_flags, cpu_name
from benchmarks.reference import ReferenceStep
from train import conv_path
from train.config import TrainConfig
from train.model import build_models
from train.step import Execution, GANStep


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile_step", description=__doc__.split("\n\n")[0])
    p.add_argument("--loop", default="onednn-cl", choices=["reference", *conv_path.CANDIDATES])
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=3, help="profiled steps, after one warm-up (default 3)")
    p.add_argument("--rows", type=int, default=15, help="ops to list (default 15)")
    a = p.parse_args(argv)
    cfg = TrainConfig(batch_size=a.batch_size, device="cpu")
    torch.manual_seed(0)
    g, d = build_models(cfg)
    if a.loop == "reference":
        step = ReferenceStep(g, d, cfg)
    else:
        execution = conv_path.with_path(
            Execution(torch.device("cpu"), torch.bfloat16 if a.precision == "bf16" else None), a.loop
        )
        layout = torch.channels_last if execution.channels_last else torch.contiguous_format
        g, d = (m.to(memory_format=layout) for m in (g, d))
        step = GANStep(g, d, cfg, execution)
    real = torch.rand(cfg.batch_size, 3, 64, 64) * 2 - 1
    z = torch.randn(cfg.batch_size, cfg.nz, 1, 1)
    step(real, z)  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t = time.perf_counter()
        for _ in range(a.steps):
            step(real, z)
        seconds = time.perf_counter() - t
    print(
        f"{cpu_name()} ({cpu_flags() or 'no AVX2/AVX-512 flags'}), {torch.get_num_threads()} threads, torch "
        f"{torch.__version__}: {a.loop} {a.precision if a.loop != 'reference' else 'fp32'}, batch {cfg.batch_size}, "
        f"{a.steps * cfg.batch_size / seconds:,.1f} images/s under the profiler"
    )
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=a.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
