"""What a run leaves for people: sample grids, a loss curve, a progress GIF, metrics.jsonl."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.utils import make_grid

from train.checkpoint import atomic_write


def fixed_latents(seeds: range | list[int], nz: int) -> torch.Tensor:
    """The seed rule shared with `dcgan_runtime`: one `RandomState(seed).standard_normal(nz)` per image."""
    z = np.stack([np.random.RandomState(s).standard_normal(nz) for s in seeds]).astype(np.float32)
    return torch.from_numpy(z).view(len(seeds), nz, 1, 1)


def grid_image(images: torch.Tensor, nrow: int = 8) -> Image.Image:
    """(N, C, H, W) in [-1, 1] -> one PIL grid with 2 px gaps."""
    grid = make_grid(images.float().cpu(), nrow=nrow, padding=2, normalize=True, value_range=(-1, 1))
    arr = grid.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(arr[..., 0] if images.shape[1] == 1 else arr)


def save_png(img: Image.Image, path: Path) -> None:
    atomic_write(path, lambda f: img.save(f, format="PNG"))


def save_progress_gif(frames: list[Path], path: Path, ms_per_frame: int = 250) -> None:
    """The paper's 'visualising the learning process': the fixed-noise grids in order, as one GIF."""
    if not frames:
        return
    images = [Image.open(p).convert("RGB") for p in frames]
    images += [images[-1]] * 4  # rest on the final grid

    def write(f):
        images[0].save(f, format="GIF", save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0)

    atomic_write(path, write)


def read_metrics(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def truncate_metrics(path: Path, last_step: int) -> None:
    """On resume, drop lines logged after the checkpoint (a crashed run's tail)."""
    rows = [r for r in read_metrics(path) if r["step"] <= last_step]
    atomic_write(path, lambda f: f.write("".join(json.dumps(r) + "\n" for r in rows).encode()))


def save_loss_curve(metrics: list[dict], path: Path) -> None:
    """Losses and D outputs against steps, as a PNG."""
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
    ax2.set_ylabel("mean D output")
    ax2.set_xlabel("step")
    ax2.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buf.getvalue()))
