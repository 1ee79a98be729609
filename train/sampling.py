"""The fixed-noise sample grid and the SWD bookkeeping that keeps `checkpoints/best.pt`.

Every `--sample-every` steps the eval-mode generator draws seeds 0-63 (the images `dcgan generate
--seeds 0-63` makes from the export) into `samples/stepNNNNNN.png`, and 256 samples are scored by
SWD against 256 real images; a new best score saves `best.pt`, so late mode collapse cannot cost
the best model. The grid's spread (its images' mean distance to their mean image, over the same of
64 real images) falls towards 0 when the samples collapse into one. The floor (`floor`): the same
SWD between the scored real images and as many other real ones, measured once per run, is what a
generator that drew the data itself would score; a run reads its SWD against it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from train import artifacts
from train.swd import pixels, swd

SAMPLE_SEEDS = range(64)  # the fixed-noise grid shows seeds 0-63
SWD_IMAGES = 256  # generated and real images behind the SWD that picks checkpoints/best.pt
FLOOR_MIN = 32  # fewer real images than SWD_IMAGES + this leave no floor to measure (nan)


class Sampler:
    """Draws the sample grid and scores SWD; tracks the best score so far.

    >>> s = Sampler(torch.zeros(8, 3, 32, 32, dtype=torch.uint8), nz=100, seed=0, device=torch.device("cpu"),
    ...             samples_dir=Path("/tmp"))
    >>> s.best
    inf
    """

    def __init__(
        self,
        real: torch.Tensor,
        nz: int,
        seed: int,
        device: torch.device,
        samples_dir: Path,
        best: float = float("inf"),
    ):
        n = min(SWD_IMAGES, len(real))
        order = np.random.RandomState([seed, 7]).permutation(len(real))
        self.real = real[order[:n]].numpy()
        # the floor: the same SWD between the scored real images and as many others, drawn from the rest
        other = real[order[n : 2 * n]].numpy()
        self.floor = swd(other, self.real[: len(other)])["mean"] if len(other) >= FLOOR_MIN else float("nan")
        self.z = artifacts.fixed_latents(range(max(n, len(SAMPLE_SEEDS))), nz).to(device)
        self.samples_dir, self.best = samples_dir, best
        self.real_spread = spread(self.real[: len(SAMPLE_SEEDS)])
        self.last_spread = float("nan")  # the latest grid's spread relative to the real images'

    def __call__(self, g: nn.Module, step: int) -> float:
        """Save step's grid and return its SWD (x1e3) against the real images (`last_spread` set too)."""
        g.eval()  # the running statistics: what export ships
        with torch.no_grad():
            images = torch.cat([g(self.z[i : i + 128]) for i in range(0, len(self.z), 128)]).float().cpu()
        g.train()
        artifacts.save_samples(images[: len(SAMPLE_SEEDS)], self.samples_dir / f"step{step:06d}.png")
        fake = pixels(images[: max(len(self.real), len(SAMPLE_SEEDS))])
        self.last_spread = round(spread(fake[: len(SAMPLE_SEEDS)]) / max(self.real_spread, 1e-6), 4)
        return swd(fake[: len(self.real)], self.real)["mean"]

    def improves(self, score: float) -> bool:
        """Whether `score` beats the best so far (and becomes it)."""
        if score < self.best:
            self.best = score
            return True
        return False


def spread(images: np.ndarray) -> float:
    """Mean RMS distance (in [0, 1] pixel units) of uint8 images from their mean image."""
    x = images.reshape(len(images), -1).astype(np.float32) / 255
    return float(np.sqrt(((x - x.mean(axis=0)) ** 2).mean(axis=1)).mean())
