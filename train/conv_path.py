"""Which CPU training step is fastest on this machine: memory layout x convolution library, measured once.

The candidates compute the same step (train/step.py) with different kernels: channels_last through
oneDNN ("onednn-cl"), contiguous NCHW through oneDNN ("onednn"), and contiguous through ATen's own
im2col + BLAS path ("native", oneDNN off). Where the CPUs torch may use include SMT siblings (two
hardware threads of one core share its vector units), each also runs with one thread per physical
core ("onednn-cl@2"). Which wins depends on the CPU (vector width, caches, SMT, what oneDNN's JIT
finds there) and the model's shape, so `--conv auto` times a few steps of each on fresh copies of
the networks (the run's weights and random streams are untouched) and keeps the fastest, cached per
CPU, torch version, threads, precision and model shape in $DCGAN_CACHE/train-step/.

>>> sorted(CANDIDATES)
['native', 'onednn', 'onednn-cl']
>>> with_path(Execution(torch.device("cpu"), None), "onednn@1").conv_path
'onednn@1'
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch

from dcgan_runtime.engine.tune import machine_key
from dcgan_runtime.errors import first_line
from dcgan_runtime.files import atomic_write, cache_dir, read_json
from train.config import TrainConfig
from train.model import build_models
from train.step import Execution, GANStep

CANDIDATES = {"onednn-cl": (True, True), "onednn": (False, True), "native": (False, False)}  # (cl, oneDNN)
SHAPE = ("image_size", "channels", "nz", "ngf", "ndf", "batch_size")  # what the step's speed depends on


def with_path(execution: Execution, label: str) -> Execution:
    """`execution` on the path `label` names: a CANDIDATES name, with "@N" for N threads."""
    name, _, threads = label.partition("@")
    channels_last, onednn = CANDIDATES[name]
    return dataclasses.replace(execution, channels_last=channels_last, onednn=onednn, threads=int(threads or 0))


def physical_cores() -> int:
    """Cores (not SMT siblings) among the CPUs this process may run on; all of them if unknown."""
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topology / "physical_package_id").read_text(), (topology / "core_id").read_text()))
        except OSError:
            return len(cpus)
    return len(cores)


BUSY_SHARE = 0.5  # timing that got less CPU than this share of its threads was shared with other work


def labels(execution: Execution) -> list[str]:
    """The candidates on this machine: each path on torch's threads, and on one per physical core if fewer.
    Under bf16 autocast only oneDNN's paths: ATen's own convolutions have no fast bf16 kernels."""
    names = [n for n in CANDIDATES if execution.amp_dtype is None or CANDIDATES[n][1]]
    threads, cores = torch.get_num_threads(), physical_cores()
    return names + ([f"{name}@{cores}" for name in names] if cores < threads else [])


def measure(cfg: TrainConfig, execution: Execution, seconds: float = 3.0) -> dict[str, float]:
    """Images/s of each candidate step: one warm-up step each, then rounds of one step per candidate
    (round-robin, so noise hits all alike; 3 to 7 rounds, about `seconds` in all), the median per candidate."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        real = torch.rand(cfg.batch_size, cfg.channels, cfg.image_size, cfg.image_size) * 2 - 1
        z = torch.randn(cfg.batch_size, cfg.nz, 1, 1)
        steps, warm, threads = {}, 0.0, torch.get_num_threads()
        try:
            for label in labels(execution):
                ex = with_path(execution, label)
                g, d = build_models(cfg)
                fmt = torch.channels_last if ex.channels_last else torch.contiguous_format
                g, d = (m.to(ex.device, memory_format=fmt) for m in (g, d))
                steps[label] = (GANStep(g, d, cfg, ex), ex.threads or threads)
                torch.set_num_threads(ex.threads or threads)
                t = time.perf_counter()
                steps[label][0](real, z)  # warm-up: oneDNN builds its kernels on the first call
                warm += time.perf_counter() - t
            times: dict[str, list[float]] = {label: [] for label in steps}
            for _ in range(max(3, min(7, int(seconds / warm)))):
                for label, (step, n) in steps.items():
                    torch.set_num_threads(n)
                    t = time.perf_counter()
                    step(real, z)
                    times[label].append(time.perf_counter() - t)
        finally:
            torch.set_num_threads(threads)
    return {label: cfg.batch_size / sorted(ts)[len(ts) // 2] for label, ts in times.items()}


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
    try:  # untrusted: a regular file, size-capped, JSON; anything wrong only costs a re-measure
        data = read_json(path)
        if isinstance(data, dict) and data.get("key") == key and data.get("choice") in labels(execution):
            return with_path(execution, data["choice"])
        log(f"ignoring the conv-path cache {path}: not a conv-path choice for this machine and model; timing again")
    except FileNotFoundError:
        pass  # none yet
    except (OSError, ValueError) as e:
        log(f"ignoring the conv-path cache {path}: {first_line(e)}; timing again")
    log(f"timing the CPU step's paths once for this machine and model shape: {', '.join(labels(execution))}")
    wall, cpu = time.perf_counter(), time.process_time()
    rates = measure(cfg, execution)
    share = (time.process_time() - cpu) / max((time.perf_counter() - wall) * torch.get_num_threads(), 1e-9)
    choice = max(rates, key=lambda name: rates[name])
    data = {"key": key, "choice": choice, "images_per_s": {k: round(v, 1) for k, v in rates.items()}}
    try:
        if share < BUSY_SHARE:  # another process had the cores: right for now, not to keep
            where = (
                f"not cached: the machine was busy, this process got {share:.0%} of its threads; timed again next run"
            )
        else:
            atomic_write(path, (json.dumps(data, indent=1) + "\n").encode())
            where = f"cached in {path}"
    except OSError as e:  # an unwritable cache costs a re-measure next time, never the run
        where = f"not cached: {e}"
    log(
        "conv path: "
        + ", ".join(f"{k} {v:,.1f} img/s" for k, v in rates.items())
        + f" -> {choice} ({where}; --conv NAME overrides)"
    )
    return with_path(execution, choice)
