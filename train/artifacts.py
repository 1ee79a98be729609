"""What a run leaves for people: sample grids, a loss curve, a progress GIF, metrics.jsonl.

Pictures go through `dcgan_runtime`'s pixel rule, grid and encoders, so a sample grid holds the
very images `dcgan generate --seeds 0-63 --grid 8x8` makes from the exported file.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dcgan_runtime.files import atomic_write
from dcgan_runtime.images import encode_gif, make_grid, save_image, to_uint8
from dcgan_runtime.latent import latents_from_seeds


def fixed_latents(seeds: range | list[int], nz: int) -> torch.Tensor:
    """The runtime's seed rule as a (N, nz, 1, 1) tensor: one `RandomState(seed).standard_normal(nz)` per image."""
    return torch.from_numpy(latents_from_seeds(seeds, nz)).view(len(seeds), nz, 1, 1)


def save_samples(images: torch.Tensor, path: Path, nrow: int = 8) -> None:
    """(N, C, H, W) in [-1, 1] -> one PNG grid, as `dcgan generate --grid` draws it."""
    save_image(make_grid(to_uint8(images.float().cpu().numpy()), nrow=nrow), path)


def save_progress_gif(frames: list[Path], path: Path, ms_per_frame: int = 250) -> None:
    """The paper's 'visualising the learning process': the fixed-noise grids in order, as one GIF."""
    if not frames:
        return
    images = [np.asarray(Image.open(p).convert("RGB")) for p in frames]
    images += [images[-1]] * 4  # rest on the final grid
    atomic_write(path, encode_gif(np.stack(images), fps=1000 / ms_per_frame))


def read_metrics(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def truncate_metrics(path: Path, last_step: int) -> None:
    """On resume, drop lines logged after the checkpoint (a crashed run's tail)."""
    rows = [r for r in read_metrics(path) if r["step"] <= last_step]
    atomic_write(path, "".join(json.dumps(r) + "\n" for r in rows).encode())


def save_loss_curve(metrics: list[dict], path: Path) -> None:
    """Losses and D outputs against steps, as a PNG; failures train/watch.py named are dashed lines."""
    events = [m for m in metrics if "event" in m]
    metrics = [m for m in metrics if "loss_d" in m]
    if not metrics:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [m["step"] for m in metrics]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    ax1.plot(steps, [m["loss_d"] for m in metrics], label="D loss", lw=0.8)
    ax1.plot(steps, [m["loss_g"] for m in metrics], label="G loss", lw=0.8)
    ax1.set_ylabel("loss")
    ax1.legend()
    ax2.plot(steps, [m["d_x"] for m in metrics], label="D(x)", lw=0.8)
    ax2.plot(steps, [m["d_g_z"] for m in metrics], label="D(G(z))", lw=0.8)
    if all("augment_p" in m for m in metrics):  # adaptive DiffAugment's probability, on the same 0-1 scale
        ax2.plot(steps, [m["augment_p"] for m in metrics], label="augment p", lw=0.8, color="grey")
    if all("g_lr_scale" in m for m in metrics):  # its second stage: G's learning rate over --lr, less 1
        ax2.plot(steps, [m["g_lr_scale"] - 1 for m in metrics], label="G lr scale - 1", lw=0.8, color="grey", ls=":")
    ax2.set_ylabel("mean D output")
    for e in events:
        for ax in (ax1, ax2):
            ax.axvline(e["step"], color="red", ls="--", lw=0.8)
        ax1.annotate(e["event"], (e["step"], 1), xycoords=("data", "axes fraction"), color="red", va="top")
    ax2.set_xlabel("step")
    ax2.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write(path, buf.getvalue())
