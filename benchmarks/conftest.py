"""Benchmark fixtures: one exported generator shared by every backend, fixed threads, machine info.

`pytest benchmarks/` runs the full set; `pytest benchmarks/ --quick` (what `make test` runs) uses
small batch sizes and few rounds so CI catches breakage in well under a minute.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np
import pytest
import torch

from dcgan_runtime.engine.tune import cpu_info

ISA_CAPS = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS")  # set to mimic an older CPU
THREADS = int(os.environ.get("DCGAN_BENCH_THREADS", torch.get_num_threads()))


def pytest_addoption(parser):
    parser.addoption("--quick", action="store_true", help="small batch sizes, few rounds (CI smoke mode)")


def pytest_configure(config):
    torch.set_num_threads(THREADS)


def quick(config) -> bool:
    return bool(config.getoption("--quick"))


def pytest_generate_tests(metafunc):
    if "batch_size" in metafunc.fixturenames:
        metafunc.parametrize("batch_size", [1, 8] if quick(metafunc.config) else [1, 2, 8, 16, 64, 256])


def cpu_name() -> str:
    return cpu_info()[0]


def cpu_flags() -> str:
    """The CPU features that decide the fast paths: avx2, avx512f, avx512_vnni, avx512_bf16, amx_*."""
    have = cpu_info()[1]
    named = ["avx2", "avx512f", "avx512_vnni", "avx512_bf16"] + sorted(f for f in have if f.startswith("amx"))
    return " ".join(f for f in named if f in have)


def machine_info() -> dict:
    import onnxruntime

    info = {
        "cpu": cpu_name(),
        "cpu_flags": cpu_flags(),
        "cores": os.cpu_count(),
        "threads": THREADS,
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "python": platform.python_version(),
        "isa_caps": " ".join(f"{k}={os.environ[k]}" for k in ISA_CAPS if k in os.environ),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


@pytest.fixture(scope="session")
def rounds(request) -> dict:
    return {"rounds": 3, "warmup_rounds": 1} if quick(request.config) else {"rounds": 15, "warmup_rounds": 3}


def classic_model(root: Path, formats: tuple[str, ...] = ()) -> tuple[Path, torch.nn.Module]:
    """The classic 64x64 generator with random weights and randomised BN statistics, exported into `root`
    as users would (extra `formats`: "--fp16", "--int8"): (its generator.onnx, the eager model in eval mode)."""
    from export.__main__ import main as export_main
    from train.checkpoint import save_checkpoint
    from train.config import TrainConfig
    from train.model import build_models

    torch.manual_seed(0)
    cfg = TrainConfig()
    g, _ = build_models(cfg)
    for m in g.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    save_checkpoint(
        root / "g.pt", {"config": cfg.to_dict(), "step": 0, "generator": g.state_dict(), "dataset": "random weights"}
    )
    assert export_main([str(root / "g.pt"), "--outdir", str(root / "export"), *formats]) == 0
    return root / "export" / "generator.onnx", g.eval()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """The classic generator's folder: g.pt and export/ (fp32, fp16, int8, bf16)."""
    root = tmp_path_factory.mktemp("bench")
    classic_model(root, ("--fp16", "--int8", "--bf16"))
    return root


@pytest.fixture(scope="session")
def tuned(model_dir, request):
    """The exported generator, tuned on this machine now (not cached: the run stands on its own)."""
    from dcgan_runtime import Generator

    g = Generator.load(model_dir / "export" / "generator.onnx", device="cpu", threads=THREADS, tune=False)
    g.tune(save=False, seconds_per_size=0.1 if quick(request.config) else 1.5)
    yield g
    g.close()


@pytest.fixture(scope="session")
def eager_model(model_dir) -> torch.nn.Module:
    """The unfolded model in eval mode: what a user would run without this project."""
    from train.checkpoint import load_generator

    return load_generator(model_dir / "g.pt")[2].eval()


def latents(batch_size: int, nz: int = 100) -> np.ndarray:
    return np.random.RandomState(0).standard_normal((batch_size, nz, 1, 1)).astype(np.float32)


def record(benchmark, backend: str, batch_size: int, provider: str, **extra) -> None:
    """Attach what the report needs (call before measuring)."""
    benchmark.extra_info.update(
        {"backend": backend, "batch_size": batch_size, "provider": provider, "machine": machine_info(), **extra}
    )


def measure(benchmark, fn, *args, rounds: dict, **kwargs) -> None:
    """Time `fn(*args, **kwargs)`; then store the median's ms per batch and images/s in extra_info."""
    benchmark.pedantic(fn, args=args, kwargs=kwargs, **rounds)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # None with --benchmark-disable: the function ran once, untimed
        median = stats.stats.median
        benchmark.extra_info["ms_per_batch"] = round(median * 1e3, 4)
        benchmark.extra_info["images_per_s"] = round(benchmark.extra_info["batch_size"] / median, 1)
