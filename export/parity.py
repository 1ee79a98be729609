"""Parity: every exported file against the unfolded PyTorch eval model, on the same numpy latents."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from dcgan_runtime.images import to_uint8
from dcgan_runtime.latent import latents_from_seeds

BATCH_SIZES = (1, 3, 64)
TOLERANCE = {"fp32": 1e-5, "fp16": 2e-2}  # max abs difference on the [-1, 1] output; fp16 has ~3 decimal digits
# PSNR of PSNR_LATENTS images against the reference, peak-to-peak 2 ([-1, 1]), for the reduced precisions
MIN_PSNR = {"int8": 35.0, "bf16": 40.0}
PSNR_LATENTS = 1024


def parity_rows(
    name: str, run: Callable[[np.ndarray], np.ndarray], reference: torch.nn.Module, nz: int, precision: str = "fp32"
) -> dict:
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
    worst = max(r["max_abs"] for r in rows)
    return {
        "format": name,
        "precision": precision,
        "tolerance": tol,
        "max_abs": worst,
        "passed": worst <= tol,
        "ms_per_batch64": ms_per_batch64(run, nz),
        "batches": rows,
    }


def psnr_rows(
    name: str, run: Callable[[np.ndarray], np.ndarray], reference: torch.nn.Module, nz: int, precision: str, **facts
) -> dict:
    """PSNR over PSNR_LATENTS images (pass: >= MIN_PSNR[precision]), the uint8 pixel differences, batch
    invariance (the first 3 images alone against the same 3 in the whole batch)."""
    z = latents_from_seeds(range(PSNR_LATENTS), nz).reshape(-1, nz, 1, 1)
    with torch.no_grad():
        want = np.concatenate([reference(torch.from_numpy(z[i : i + 64])).numpy() for i in range(0, len(z), 64)])
    got = run(z)
    err = got.astype(np.float64) - want
    per_image = 10 * np.log10(4.0 / np.maximum((err**2).mean(axis=(1, 2, 3)), 1e-30))
    psnr = float(10 * np.log10(4.0 / max(float((err**2).mean()), 1e-30)))
    levels = np.abs(to_uint8(got).astype(np.int16) - to_uint8(want).astype(np.int16))
    return {
        "format": name,
        "precision": precision,
        "tolerance": f"PSNR >= {MIN_PSNR[precision]:g} dB",
        "passed": psnr >= MIN_PSNR[precision],
        "psnr_db": round(psnr, 2),
        "min_image_psnr_db": round(float(per_image.min()), 2),
        "latents": len(z),
        "max_abs": float(np.abs(err).max()),
        "uint8_levels_off": {
            **{f"<={k}": round(float((levels <= k).mean()), 5) for k in (0, 1, 2, 4, 8)},
            "max": int(levels.max()),
        },
        "batch_invariant": bool(np.array_equal(run(z[:3]), got[:3])),
        "ms_per_batch64": ms_per_batch64(run, nz),
        **facts,
    }


def ms_per_batch64(run: Callable[[np.ndarray], np.ndarray], nz: int) -> float:
    """Median of 5 timed calls on 64 latents, after one warm-up."""
    z64 = latents_from_seeds(range(64), nz).reshape(64, nz, 1, 1)
    run(z64)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        run(z64)
        times.append(time.perf_counter() - t)
    return round(1000 * float(np.median(times)), 2)


def onnx_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """Through dcgan_runtime itself (CPU), so parity also proves the runtime accepts the file."""
    from dcgan_runtime import Generator

    g = Generator.load(path, device="cpu")
    return lambda z: g.decode(z, output="float")


def plain_onnx_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """A plain onnxruntime CPU session on the file, whatever its metadata says (the bf16 graph in fp32)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda z: session.run(None, {session.get_inputs()[0].name: z})[0]


def torchscript_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    from export.torchscript_export import load_torchscript

    module, _ = load_torchscript(path)

    def run(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(z)).numpy()

    return run
