"""Training speed: the project's default CPU step against the pytorch/examples dcgan loop, side by side.

Also the machine's measured matrix-multiply rate (fp32 and bf16; the fastest of torch.mm, numpy and
oneDNN), so every figure can be read as a fraction of what the hardware allows (a roofline line).
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.conftest import cpu_flags, record
from benchmarks.reference import ReferenceStep
from train import conv_path
from train.config import TrainConfig
from train.conv_path import CANDIDATES
from train.model import build_models
from train.step import GANStep, cpu_has_bf16, pick_execution


def _setup(quick: bool):
    cfg = TrainConfig(batch_size=32 if quick else 128, device="cpu")
    torch.manual_seed(0)
    real = torch.rand(cfg.batch_size, 3, 64, 64) * 2 - 1
    noise = torch.randn(cfg.batch_size, cfg.nz, 1, 1)
    return cfg, real, noise


def _flops(step, real, noise) -> int:
    with FlopCounterMode(display=False) as counter:
        step(real, noise)
    return counter.get_total_flops()


LOOPS = ["reference (pytorch/examples, fp32)", "default"] + [f"fp32 {name}" for name in CANDIDATES]


@pytest.mark.parametrize("loop", LOOPS)
def test_training_step(benchmark, request, loop, rounds):
    """The reference loop; the default step (precision by CPU, conv path as `--conv auto` would choose:
    measured, not cached, here); and the fp32 step on each conv path (what an fp32-only CPU runs)."""
    cfg, real, noise = _setup(request.config.getoption("--quick"))
    torch.manual_seed(0)
    g, d = build_models(cfg)
    if loop.startswith("reference"):
        step, precision = ReferenceStep(g, d, cfg), "fp32 onednn"  # torch's default: NCHW through oneDNN
    else:
        if loop == "default":
            execution = pick_execution(cfg)
            rates = conv_path.measure(cfg, execution)
            execution = conv_path.with_path(execution, max(rates, key=lambda k: rates[k]))
        else:
            execution = conv_path.with_path(pick_execution(cfg.replace(precision="fp32")), loop.split()[1])
        layout = torch.channels_last if execution.channels_last else torch.contiguous_format
        g, d = (m.to(memory_format=layout) for m in (g, d))
        step = GANStep(g, d, cfg, execution)
        precision = f"{execution.precision} {execution.conv_path}"
    flops = _flops(step, real, noise)
    record(
        benchmark,
        f"training step: {loop}",
        cfg.batch_size,
        f"cpu {precision.split()[0]}",
        conv_path=precision.split()[-1],
        flops_per_image=flops / cfg.batch_size,
        kind="training",
    )
    benchmark.pedantic(step, args=(real, noise), rounds=max(3, rounds["rounds"] // 2), warmup_rounds=1)


def test_matmul_peak_numpy(benchmark, request, rounds):
    """numpy's BLAS can beat torch.mm on some CPUs: the roofline takes the faster of the two."""
    import numpy as np

    n = 1024 if request.config.getoption("--quick") else 2048
    a, b = np.random.rand(n, n).astype(np.float32), np.random.rand(n, n).astype(np.float32)
    record(benchmark, f"numpy matmul {n}x{n} fp32", 1, "cpu fp32", flops_per_call=2 * n**3, kind="peak")
    benchmark.pedantic(np.matmul, args=(a, b), rounds=rounds["rounds"], warmup_rounds=rounds["warmup_rounds"])


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_matmul_peak_onednn(benchmark, request, dtype, rounds):
    """A matrix product (channels x channels) @ (channels x pixels) run as a 1x1 convolution through oneDNN,
    the library behind PyTorch's CPU convolutions: on some CPUs far faster than torch.mm's BLAS."""
    skip_emulated_bf16(dtype, "cpu")
    c, hw = (256, 32) if request.config.getoption("--quick") else (512, 64)
    t = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    x = torch.randn(1, c, hw, hw, dtype=t).contiguous(memory_format=torch.channels_last)
    w = torch.randn(c, c, 1, 1, dtype=t)
    record(
        benchmark,
        f"oneDNN 1x1 conv {c}x{c}x{hw * hw} {dtype}",
        1,
        f"cpu {dtype}",
        flops_per_call=2 * c * c * hw * hw,
        kind="peak",
    )
    benchmark.pedantic(
        torch.nn.functional.conv2d, args=(x, w), rounds=rounds["rounds"], warmup_rounds=rounds["warmup_rounds"]
    )


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_matmul_peak(benchmark, request, dtype, device, rounds):
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine")
    skip_emulated_bf16(dtype, device)
    n = (1024 if request.config.getoption("--quick") else 2048) * (4 if device == "cuda" else 1)
    t = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    a, b = torch.randn(n, n, dtype=t, device=device), torch.randn(n, n, dtype=t, device=device)
    record(benchmark, f"matmul {n}x{n} {dtype}", 1, f"{device} {dtype}", flops_per_call=2 * n**3, kind="peak")

    def mm():
        out = torch.mm(a, b)
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    benchmark.pedantic(mm, rounds=rounds["rounds"], warmup_rounds=rounds["warmup_rounds"])


def skip_emulated_bf16(dtype: str, device: str) -> None:
    """bf16 on a CPU without native bf16 (no AVX512-BF16 or AMX) is emulated at a tiny fraction of fp32
    (0.3 GFLOP/s measured on an AVX2-only EPYC): a peak there means nothing and takes many minutes."""
    if dtype == "bf16" and device == "cpu" and not cpu_has_bf16():
        pytest.skip(f"this CPU has no native bf16 ({cpu_flags() or 'no AVX-512/AMX flags'}): bf16 is not measured")
