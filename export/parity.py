"""Parity: every exported file against the unfolded PyTorch eval model, on the same numpy latents."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from dcgan_runtime.latent import latents_from_seeds

BATCH_SIZES = (1, 3, 64)
TOLERANCE = {"fp32": 1e-5, "fp16": 2e-2}  # max abs difference on the [-1, 1] output; fp16 has ~3 decimal digits


def parity_rows(name: str, run: Callable[[np.ndarray], np.ndarray], reference: torch.nn.Module, nz: int,
                precision: str = "fp32") -> dict:
    """Max/mean abs difference per batch size, pass/fail against the precision's tolerance, ms per batch of 64."""
    rows, tol = [], TOLERANCE[precision]
    for bs in BATCH_SIZES:
        z = latents_from_seeds(range(bs), nz).reshape(bs, nz, 1, 1)
        with torch.no_grad():
            want = reference(torch.from_numpy(z)).numpy()
        got = run(z)
        if got.shape != want.shape:
            raise AssertionError(f"{name}: batch {bs} gave shape {got.shape}, expected {want.shape}")
        diff = np.abs(got.astype(np.float64) - want)
        rows.append({"batch_size": bs, "max_abs": float(diff.max()), "mean_abs": float(diff.mean())})
    z64 = latents_from_seeds(range(64), nz).reshape(64, nz, 1, 1)
    run(z64)  # warm-up
    times = []
    for _ in range(5):
        t = time.perf_counter()
        run(z64)
        times.append(time.perf_counter() - t)
    worst = max(r["max_abs"] for r in rows)
    return {"format": name, "precision": precision, "tolerance": tol, "max_abs": worst, "passed": worst <= tol,
            "ms_per_batch64": round(1000 * float(np.median(times)), 2), "batches": rows}


def onnx_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """Through dcgan_runtime itself (CPU), so parity also proves the runtime accepts the file."""
    from dcgan_runtime import Generator

    g = Generator.load(path, device="cpu")
    return lambda z: g.decode(z, output="float")


def torchscript_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    from export.torchscript_export import load_torchscript

    module, _ = load_torchscript(path)

    def run(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(z)).numpy()

    return run
