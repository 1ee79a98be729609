"""Fold BatchNorm into the transposed convolution before it, and recompute BN statistics.

For eval-mode BN, y = gamma * (x - mean) / sqrt(var + eps) + beta is per output channel affine,
so it folds into the preceding ConvTranspose2d, whose weight is laid out (in, out, kH, kW): the
scale multiplies dim 1 and the shift becomes the bias.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from train.model import Generator


@torch.no_grad()
def fold_batchnorm(g: Generator) -> Generator:
    """An eval-mode copy of `g` with every BatchNorm folded into its transposed convolution.

    >>> from train.model import Generator
    >>> folded = fold_batchnorm(Generator(nz=8, ngf=4, channels=1, image_size=32))
    >>> any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    False
    """
    g = copy.deepcopy(g).eval()
    layers = list(g.main)
    for i, bn in enumerate(layers):
        if not isinstance(bn, nn.BatchNorm2d):
            continue
        conv = layers[i - 1]
        if not isinstance(conv, nn.ConvTranspose2d) or conv.groups != 1:
            raise ValueError(f"BatchNorm at main.{i} does not follow an ungrouped ConvTranspose2d")
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        shift = bn.bias - bn.running_mean * scale
        folded = nn.ConvTranspose2d(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            conv.stride,
            conv.padding,
            conv.output_padding,
            conv.groups,
            bias=True,
            dilation=conv.dilation,
        )
        folded.weight.copy_(conv.weight * scale.view(1, -1, 1, 1))
        base = conv.bias if conv.bias is not None else torch.zeros_like(shift)
        folded.bias.copy_(base * scale + shift)
        g.main[i - 1], g.main[i] = folded, nn.Identity()
    return g.eval()


@torch.no_grad()
def recalibrate_batchnorm(g: Generator, batches: int, batch_size: int = 64, seed: int = 0) -> Generator:
    """A copy of `g` whose BN running statistics are the exact average over `batches` fresh latent batches.

    Training-mode BN normalises with batch statistics; the running averages kept during training lag
    behind the weights ("standing statistics", Brock et al. 2019). Recomputing them makes the
    exported model match what G produced while it trained.
    """
    if batches < 1:
        raise ValueError(f"--recalibrate-bn needs at least 1 batch, got {batches}")
    g = copy.deepcopy(g).train()
    bns = [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average: the plain mean over all batches
    nz = g.main[0].in_channels
    gen = torch.Generator().manual_seed(seed)
    for _ in range(batches):
        g(torch.randn(batch_size, nz, 1, 1, generator=gen))
    for bn in bns:
        bn.momentum = 0.1
    return g.eval()
