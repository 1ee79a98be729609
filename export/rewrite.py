"""Exact graph rewrites that make the ONNX file faster on onnxruntime without changing its outputs.

The first layer is a transposed convolution on a 1x1 input: each latent scatters through the whole
4x4 kernel, which is one matrix product, (N, nz) @ (nz, out*16), reshaped to (N, out, 4, 4).
onnxruntime runs it as one Gemm over the batch instead of one tiny product per image.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class LatentProjection(nn.Module):
    """ConvTranspose2d(nz, out, k, stride=1, padding=0) on a 1x1 input, as a matrix product."""

    def __init__(self, conv: nn.ConvTranspose2d):
        super().__init__()
        if conv.stride != (1, 1) or conv.padding != (0, 0) or conv.groups != 1:
            raise ValueError("only a stride-1, unpadded, ungrouped transposed convolution is a projection")
        self.out_channels, self.k = conv.out_channels, conv.kernel_size[0]
        weight = conv.weight.detach()  # (nz, out, k, k)
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)
        self.weight = nn.Parameter(weight.reshape(weight.shape[0], -1).clone(), requires_grad=False)
        self.bias = nn.Parameter(bias.repeat_interleave(self.k * self.k), requires_grad=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, z.flatten(1), self.weight).view(-1, self.out_channels, self.k, self.k)


def project_first_layer(model: nn.Module) -> nn.Module:
    """A copy of a (folded) generator whose first layer is a LatentProjection.

    >>> from train.model import Generator
    >>> type(project_first_layer(Generator(nz=8, ngf=4, image_size=32)).main[0]).__name__
    'LatentProjection'
    """
    model = copy.deepcopy(model)
    model.main[0] = LatentProjection(model.main[0])
    return model
