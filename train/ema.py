"""An exponential moving average of the generator's weights (StyleGAN's G_ema, Karras et al. 2019/2020).

After every step, each of G's parameters moves the average towards it: ema = beta * ema + (1 - beta)
* g, with beta = 0.5 ** (batch / half_life): the average forgets half of what it held every
`half_life` images. The half-life ramps up with training (`rampup`: at most that share of the
images seen so far, StyleGAN2-ADA's ema_rampup), so the early, fast-changing weights are not averaged
in for long. The averaged weights are what a GAN at small data oscillates around: samples, the SWD,
`best.pt`'s choice and the exported file use them; the raw G stays in every checkpoint for --resume.

BatchNorm's running statistics belong to the weights that made them, so the average's are not
averaged but recomputed (`calibrate`): reset, then the mean over a few fixed batches of latents in
training mode, the statistics `export` folds. The latents come from their own generator, so the
training RNG, and with it `--resume`, is untouched.

>>> from train.model import Generator
>>> g = Generator(nz=8, ngf=4, image_size=32)
>>> ema = EMA(g, half_life=1_000, rampup=0.0, batch=64)
>>> round(ema.beta(images=64_000), 4)
0.9566
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

CALIBRATION_BATCHES, CALIBRATION_BATCH = 8, 64  # latents behind the average's BatchNorm statistics
CALIBRATION_SEED = 20_160_107  # the latents' own generator (not the training RNG)


class EMA:
    """The average of G (`model`, eval mode, no gradients), updated by `update` after each step."""

    def __init__(self, g: nn.Module, half_life: int, rampup: float, batch: int) -> None:
        self.model = copy.deepcopy(g).eval().requires_grad_(False)
        self.half_life, self.rampup, self.batch = half_life, rampup, batch
        self._calibrated = False  # the statistics fit the weights as they are (a grid and a save share them)

    def beta(self, images: int) -> float:
        """How much of the average stays, after `images` training images have been seen."""
        half = min(self.half_life, self.rampup * images) if self.rampup else self.half_life
        return 0.5 ** (self.batch / max(half, 1e-8))

    @torch.no_grad()
    def update(self, g: nn.Module, images: int) -> None:
        """Move the average towards G's weights now (`images`: seen so far, this step's included)."""
        weight = 1.0 - self.beta(images)
        for mine, theirs in zip(self.model.parameters(), g.parameters()):
            mine.lerp_(theirs.detach().to(mine.dtype), weight)
        self._calibrated = False

    @torch.no_grad()
    def calibrate(self) -> nn.Module:
        """Recompute the average's BatchNorm statistics on fixed latents (once per weights: they depend on
        nothing else); returns the model (eval mode)."""
        if self._calibrated:
            return self.model.eval()
        norms = [m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative mean over the calibration batches
        rng = torch.Generator().manual_seed(CALIBRATION_SEED)
        nz = next(self.model.parameters()).shape[0]  # the first transposed convolution's input channels
        device = next(self.model.parameters()).device
        self.model.train()
        for _ in range(CALIBRATION_BATCHES):
            self.model(torch.randn(CALIBRATION_BATCH, nz, 1, 1, generator=rng).to(device))
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        self._calibrated = True
        return self.model.eval()

    def state_dict(self) -> dict[str, Any]:
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state)
        self._calibrated = False
