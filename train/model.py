"""DCGAN generator and discriminator (Radford et al. 2016), as in pytorch/examples dcgan.

The classic 64x64 model; other sizes add or drop one stride-2 stage per factor of two.

>>> from train.config import TrainConfig
>>> g, d = build_models(TrainConfig())
>>> count_params(g), count_params(d)
(3576704, 2765568)
"""

from __future__ import annotations

import torch
from torch import nn

from train.config import TrainConfig


class Generator(nn.Module):
    """z (N, nz, 1, 1) -> image (N, channels, size, size) in [-1, 1]."""

    def __init__(self, nz: int = 100, ngf: int = 64, channels: int = 3, image_size: int = 64):
        super().__init__()
        n_up = image_size.bit_length() - 3
        mult = 2 ** (n_up - 1)
        layers: list[nn.Module] = [
            # input is Z, going into a convolution
            nn.ConvTranspose2d(nz, ngf * mult, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * mult),
            nn.ReLU(True),
            # (ngf*mult) x 4 x 4, mult = 8 at 64x64
        ]
        size = 4
        for _ in range(n_up - 1):
            layers += [
                nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf * mult // 2),
                nn.ReLU(True),
            ]
            mult, size = mult // 2, size * 2
            # (ngf*mult) x size x size: (ngf*4) x 8 x 8, (ngf*2) x 16 x 16, ngf x 32 x 32 at 64x64
        layers += [
            nn.ConvTranspose2d(ngf, channels, 4, 2, 1, bias=False),
            nn.Tanh(),
            # channels x image_size x image_size
        ]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)


class Discriminator(nn.Module):
    """image (N, channels, size, size) -> one logit per image, shape (N,)."""

    def __init__(self, ndf: int = 64, channels: int = 3, image_size: int = 64):
        super().__init__()
        n_down = image_size.bit_length() - 3
        layers: list[nn.Module] = [
            # channels x image_size x image_size
            nn.Conv2d(channels, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            # ndf x size/2 x size/2
        ]
        mult = 1
        for _ in range(n_down - 1):
            layers += [
                nn.Conv2d(ndf * mult, ndf * mult * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ndf * mult * 2),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            mult *= 2
            # (ndf*mult) x ..., down to (ndf*8) x 4 x 4 at 64x64
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 0, bias=False))  # 1 x 1 x 1: a logit, no sigmoid
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).flatten()


def weights_init(m: nn.Module) -> None:
    """The paper's init: conv weights N(0, 0.02), BatchNorm scale N(1, 0.02), shift 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def build_generator(cfg: TrainConfig) -> Generator:
    return Generator(cfg.nz, cfg.ngf, cfg.channels, cfg.image_size)


def build_discriminator(cfg: TrainConfig) -> Discriminator:
    return Discriminator(cfg.ndf, cfg.channels, cfg.image_size)


def build_models(cfg: TrainConfig) -> tuple[Generator, Discriminator]:
    """Both networks, initialised from the global torch RNG (seed it first)."""
    g = build_generator(cfg)
    d = build_discriminator(cfg)
    g.apply(weights_init)
    d.apply(weights_init)
    return g, d


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def generator_flops(cfg: TrainConfig) -> int:
    """FLOPs (2 x multiply-adds) of one image through G, counted from its layers: 0.21 G at 64x64.

    A transposed convolution scatters every input pixel through in x out x k x k weights.
    """
    flops, size = 0, 1  # spatial size of the layer's input
    for m in build_generator(cfg).main:
        if isinstance(m, nn.ConvTranspose2d):
            flops += 2 * size * size * m.in_channels * m.out_channels * m.kernel_size[0] * m.kernel_size[1]
            size = 4 if size == 1 else size * 2
    return flops
