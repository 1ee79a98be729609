"""`precision="auto"`: the export folder's fastest file on this CPU, chosen by measurement, never by CPU name.

`dcgan tune FOLDER --precision auto` (or `choose`) loads each file the folder holds that can run here
(fp32 always; int8; bf16 where the CPU has AMX or AVX512-BF16 and OpenVINO is installed), times them
side by side in round-robin rounds at batch 1, 8 and 64, and keeps a lower precision only where it is
faster than fp32 at every size, by more than `MARGIN` in median and in most rounds (a busy moment that
hits one block does not decide). The choice is cached per folder (its fp32 file's sha256), thread
count, engine versions and CPU; `Generator.load(FOLDER, precision="auto")` loads the cached choice,
and fp32 (with one logged line) where nothing was measured. One precision serves every batch size,
so a seed names the same image whatever the batch.

>>> # dcgan tune runs/faces/export --precision auto   ->  "chosen: int8 (2.31x fp32 at batch 64)"
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dcgan_runtime import files
from dcgan_runtime.engine import openvino_cpu, tune
from dcgan_runtime.errors import ModelError
from dcgan_runtime.metadata import FILENAMES

log = logging.getLogger(__name__)
SIZES = (1, 8, 64)
MARGIN = 0.05  # a lower precision must beat fp32 by this much (median) to be chosen
MAJORITY = 0.8  # ... and in this share of the paired rounds
CANDIDATES = ("fp32", "int8", "bf16")  # fp16 is for GPUs: onnxruntime's CPU kernels upcast it


@dataclass(frozen=True)
class Choice:
    precision: str  # what precision="auto" loads
    rates: dict[str, dict[int, float]]  # images/s (median of the rounds) per precision and batch size
    skipped: dict[str, str]  # precision -> why it was not measured
    source: str  # where the choice came from


def runnable(folder: Path) -> tuple[list[str], dict[str, str]]:
    """The precisions of `folder` that can run here, and why the others cannot."""
    ok, skipped = [], {}
    for p in CANDIDATES:
        if not (folder / FILENAMES[p]).is_file():
            skipped[p] = f"{FILENAMES[p]} is not in the folder (python -m export --{p})"
        elif p == "bf16" and (why := openvino_cpu.unavailable()) is not None:
            skipped[p] = why
        else:
            ok.append(p)
    return ok, skipped


def decide(blocks: dict[str, dict[int, list[float]]]) -> str:
    """The fastest precision that beats fp32 at every size clearly and repeatably; else fp32.

    >>> decide({"fp32": {1: [1.0] * 5}, "int8": {1: [0.5] * 5}})
    'int8'
    >>> decide({"fp32": {1: [1.0] * 5}, "int8": {1: [0.97] * 5}})
    'fp32'
    """
    winners = []
    for p, by_size in blocks.items():
        if p == "fp32":
            continue
        if all(_beats(mine, blocks["fp32"][size]) for size, mine in by_size.items()):
            winners.append((sum(np.log(np.median(t)) for t in by_size.values()), p))
    return min(winners)[1] if winners else "fp32"


def choose(
    folder: Path, load: Callable[[str], Any], threads: int, seconds: float = 1.0, sizes: Sequence[int] = SIZES
) -> Choice:
    """Measure every runnable precision of `folder` (`load(precision)` -> a Generator) and cache the choice."""
    candidates, skipped = runnable(folder)
    gens = {p: load(p) for p in candidates}
    try:
        blocks: dict[str, dict[int, list[float]]] = {p: {} for p in gens}
        for size in sizes:
            z = np.random.RandomState(0).standard_normal((size, gens["fp32"].metadata.latent_dim)).astype(np.float32)
            fns = {p: functools.partial(g.decode, z, "float", size) for p, g in gens.items()}
            once = max(_once(f) for f in fns.values())
            calls = max(1, int(seconds / 5 / len(fns) / once))
            for p, per_call in tune.round_robin(fns, dict.fromkeys(fns, calls), 5).items():
                blocks[p][size] = per_call
    finally:
        for g in gens.values():
            g.close()
    rates = {p: {n: n / float(np.median(t)) for n, t in v.items()} for p, v in blocks.items()}
    chosen = decide(blocks)
    key = cache_key(folder, threads)
    data = {"format": 1, "key": key, "precision": chosen, "images_per_s": rates, "skipped": skipped}
    data["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    path = files.atomic_write(_file(key), (json.dumps(data, indent=1) + "\n").encode())
    return Choice(chosen, rates, skipped, f"measured now, cached in {path}")


def _beats(mine: list[float], fp32: list[float]) -> bool:
    """Seconds per call, paired by round: faster by MARGIN in median and in MAJORITY of the rounds."""
    wins = sum(m < f for m, f in zip(mine, fp32))
    return bool(np.median(fp32) / np.median(mine) > 1 + MARGIN and wins >= MAJORITY * len(mine))


def _once(fn: Callable[[], object]) -> float:
    fn()
    t = time.perf_counter()
    fn()
    return max(time.perf_counter() - t, 1e-6)


def cache_key(folder: Path, threads: int) -> dict[str, Any]:
    fp32 = folder / FILENAMES["fp32"]
    if not fp32.is_file():
        raise ModelError(
            f"precision='auto' takes an export folder holding {FILENAMES['fp32']}; {str(folder)!r} has none"
        )
    import onnxruntime

    key = {"folder_fp32_sha256": files.sha256_file(fp32), "threads": threads, "onnxruntime": onnxruntime.__version__}
    return {**key, **tune.machine_key()}


def _file(key: dict[str, Any]) -> Path:
    """Beside the plans in the tuning cache, named by the same hash of its key."""
    plan = tune.cache_file(key)
    return plan.with_name("precision-" + plan.name)


def cached(folder: Path, threads: int) -> str:
    """The precision `dcgan tune --precision auto` chose for `folder` on this machine, else fp32 (logged)."""
    key = cache_key(folder, threads)
    path = _file(key)
    try:
        data = files.read_json(path)
        if isinstance(data, dict) and data.get("key") == key and data.get("precision") in CANDIDATES:
            log.info("precision auto: %s, as measured on this machine (%s)", data["precision"], path)
            return str(data["precision"])
    except (OSError, ValueError):
        pass
    log.info("precision auto: fp32, nothing measured for this folder here (dcgan tune FOLDER --precision auto)")
    return "fp32"
