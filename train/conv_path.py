"""Which CPU training step is fastest on this machine: memory layout x convolution library, measured once.

The candidates compute the same step (train/step.py) with different kernels: channels_last through
oneDNN ("onednn-cl"), contiguous NCHW through oneDNN ("onednn"), and contiguous through ATen's own
im2col + BLAS path ("native", oneDNN off). Which wins depends on the CPU (vector width, caches, what
oneDNN's JIT finds there) and the model's shape, so `--conv auto` times a few steps of each on fresh
copies of the networks (the run's weights and random streams are untouched) and keeps the fastest,
cached per CPU, torch version, threads, precision and model shape in $DCGAN_CACHE/train-step/.

>>> sorted(CANDIDATES)
['native', 'onednn', 'onednn-cl']
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch

from dcgan_runtime.files import atomic_write, cache_dir
from dcgan_runtime.tune import machine_key
from train.config import TrainConfig
from train.model import build_models
from train.step import Execution, GANStep

CANDIDATES = {"onednn-cl": (True, True), "onednn": (False, True), "native": (False, False)}  # (cl, oneDNN)
SHAPE = ("image_size", "channels", "nz", "ngf", "ndf", "batch_size")  # what the step's speed depends on


def with_path(execution: Execution, name: str) -> Execution:
    channels_last, onednn = CANDIDATES[name]
    return dataclasses.replace(execution, channels_last=channels_last, onednn=onednn)


def measure(cfg: TrainConfig, execution: Execution, seconds: float = 3.0) -> dict[str, float]:
    """Images/s of each candidate step: one warm-up step each, then rounds of one step per candidate
    (round-robin, so noise hits all alike; 3 to 7 rounds, about `seconds` in all), the median per candidate."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        real = torch.rand(cfg.batch_size, cfg.channels, cfg.image_size, cfg.image_size) * 2 - 1
        z = torch.randn(cfg.batch_size, cfg.nz, 1, 1)
        steps, warm = {}, 0.0
        for name in CANDIDATES:
            ex = with_path(execution, name)
            g, d = build_models(cfg)
            fmt = torch.channels_last if ex.channels_last else torch.contiguous_format
            g, d = (m.to(ex.device, memory_format=fmt) for m in (g, d))
            steps[name] = GANStep(g, d, cfg, ex)
            t = time.perf_counter()
            steps[name](real, z)  # warm-up: oneDNN builds its kernels on the first call
            warm += time.perf_counter() - t
        times: dict[str, list[float]] = {name: [] for name in CANDIDATES}
        for _ in range(max(3, min(7, int(seconds / warm)))):
            for name, step in steps.items():
                t = time.perf_counter()
                step(real, z)
                times[name].append(time.perf_counter() - t)
    return {name: cfg.batch_size / sorted(ts)[len(ts) // 2] for name, ts in times.items()}


def cache_key(cfg: TrainConfig, execution: Execution) -> dict[str, object]:
    shape = {name: getattr(cfg, name) for name in SHAPE}
    return {
        **machine_key(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "precision": execution.precision,
        **shape,
    }


def _cache_file(key: dict[str, object]) -> Path:
    return (
        cache_dir()
        / "train-step"
        / (hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24] + ".json")
    )


def choose(cfg: TrainConfig, execution: Execution, log: Callable[[str], None] = print) -> Execution:
    """`execution` with the conv path `cfg.conv` names, or for "auto" the cached or measured fastest (CPU only)."""
    if execution.device.type != "cpu":
        return execution  # channels_last, cuDNN
    if cfg.conv != "auto":
        return with_path(execution, cfg.conv)
    key = cache_key(cfg, execution)
    path = _cache_file(key)
    try:
        data = json.loads(path.read_text())
        if data.get("key") == key and data.get("choice") in CANDIDATES:
            return with_path(execution, data["choice"])
    except (OSError, ValueError, AttributeError):
        pass  # none yet, or unreadable: measure (again)
    log(f"timing the CPU step's convolution paths once for this machine and model shape ({', '.join(CANDIDATES)})")
    rates = measure(cfg, execution)
    choice = max(rates, key=lambda name: rates[name])
    data = {"key": key, "choice": choice, "images_per_s": {k: round(v, 1) for k, v in rates.items()}}
    atomic_write(path, (json.dumps(data, indent=1) + "\n").encode())
    log(
        "conv path: "
        + ", ".join(f"{k} {v:,.1f} img/s" for k, v in rates.items())
        + f" -> {choice} (cached in {path}; --conv NAME overrides)"
    )
    return with_path(execution, choice)
