"""Exact graph rewrites that make the ONNX file faster on onnxruntime without changing its outputs.

The first layer is a transposed convolution on a 1x1 input: each latent scatters through the whole
4x4 kernel, which is one matrix product, (N, nz) @ (nz, out*16), reshaped to (N, out, 4, 4).
onnxruntime runs it as one Gemm over the batch instead of one tiny product per image.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from dcgan_runtime.latent import latents_from_seeds

REWRITE_TOLERANCE = 1e-5  # the fp32 rewrite must reproduce the ConvTranspose model to this (max abs)


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


# ---------------------------------------------------------------- stride-2 layers as plain convolutions
#
# ConvTranspose2d(k=4, s=2, p=1) writes output row 2m+a from input rows m-1+a and m+a only, through
# kernel rows (3, 1) for a = 0 and (2, 0) for a = 1 (likewise for columns). So each of the four output
# phases (a, b) is an ordinary 2x2 convolution of the input, and the layer is those four convolutions
# interleaved: depth-to-space. onnxruntime quantizes Conv well and ConvTranspose badly, hence this form.
TAPS = ((3, 1), (2, 0))  # kernel rows (or columns) read by output phase 0 and 1, first input row first

# form -> (kernel size, padding): "2x2" computes the four phases' 2x2 windows at every offset (1x the
# arithmetic, plus a (H+1)/H border); "3x3" reads one 3x3 window per position holding both phases'
# 2x2 windows, zeros elsewhere (2.25x the arithmetic, a plainer graph).
FORMS = {"2x2": (2, 1), "3x3": (3, 1)}


def phase_kernel(weight: torch.Tensor, form: str) -> torch.Tensor:
    """ConvTranspose2d weight (in, out, 4, 4) -> Conv2d weight (4*out, in, k, k), phase-major channels."""
    k = FORMS[form][0]
    cin, cout = weight.shape[:2]
    kernel = torch.zeros(2, 2, cout, cin, k, k, dtype=weight.dtype)
    for a in (0, 1):
        for b in (0, 1):
            for i in (0, 1):
                for j in (0, 1):
                    row, col = i + a * (k == 3), j + b * (k == 3)  # the 3x3 window starts one row earlier
                    kernel[a, b, :, :, row, col] = weight[:, :, TAPS[a][i], TAPS[b][j]].T
    return kernel.reshape(4 * cout, cin, k, k)


class PhaseConv(nn.Module):
    """A stride-2 ConvTranspose2d (kernel 4, padding 1) and its activation as one Conv2d and a depth-to-space.

    The activation runs before the interleaving (it is elementwise) so onnxruntime fuses it into the
    convolution; the interleaving is written in NHWC so that, once onnxruntime runs the convolutions
    channels-last, its layout transposes cancel and only a block copy remains.
    """

    def __init__(self, conv: nn.ConvTranspose2d, activation: nn.Module, form: str = "2x2"):
        super().__init__()
        if form not in FORMS:
            raise ValueError(f"form must be one of {list(FORMS)}, got {form!r}")
        if (conv.kernel_size, conv.stride, conv.padding, conv.output_padding, conv.groups, conv.dilation) != (
            (4, 4),
            (2, 2),
            (1, 1),
            (0, 0),
            1,
            (1, 1),
        ):
            raise ValueError("only ConvTranspose2d(kernel 4, stride 2, padding 1), ungrouped, has the phase form")
        k, pad = FORMS[form]
        self.form, self.channels, self.activation = form, conv.out_channels, activation
        self.conv = nn.Conv2d(conv.in_channels, 4 * conv.out_channels, k, padding=pad)
        bias = conv.bias if conv.bias is not None else torch.zeros(conv.out_channels)
        with torch.no_grad():
            self.conv.weight.copy_(phase_kernel(conv.weight.detach(), form))
            self.conv.bias.copy_(bias.detach().repeat(4))
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.activation(self.conv(x)).permute(0, 2, 3, 1)  # N x H' x W' x (a, b, c)
        c = self.channels
        if self.form == "3x3":  # H' = H: every position holds all four phases
            h, w = y.shape[1], y.shape[2]
            y = y.reshape(-1, h, w, 2, 2 * c).permute(0, 1, 3, 2, 4)  # N x H x a x W x (b, c)
        else:  # H' = H + 1: phase (a, b) is the window that starts a rows and b columns later
            h, w = y.shape[1] - 1, y.shape[2] - 1
            rows = [
                torch.stack([y[:, a : a + h, b : b + w, (2 * a + b) * c : (2 * a + b + 1) * c] for b in (0, 1)], 3)
                for a in (0, 1)
            ]  # each N x H x W x b x C
            y = torch.stack(rows, 2)  # N x H x a x W x b x C
        return y.reshape(-1, 2 * h, 2 * w, c).permute(0, 3, 1, 2)


def phase_decompose(model: nn.Module, form: str = "2x2") -> nn.Module:
    """A copy of a folded generator whose stride-2 transposed convolutions are PhaseConvs (exact).

    >>> from train.model import Generator
    >>> g = phase_decompose(Generator(nz=8, ngf=4, image_size=32).eval())
    >>> [type(m).__name__ for m in g.main].count("PhaseConv")  # the 3 stride-2 stages; 1 -> 4 stays as it was
    3
    """
    layers = [m for m in copy.deepcopy(model).main if not isinstance(m, nn.Identity)]
    out, i = [], 0
    while i < len(layers):
        m = layers[i]
        if isinstance(m, nn.ConvTranspose2d) and m.stride == (2, 2):
            act = (
                layers[i + 1]
                if i + 1 < len(layers) and isinstance(layers[i + 1], (nn.ReLU, nn.Tanh))
                else nn.Identity()
            )
            out.append(PhaseConv(m, act, form))
            i += 1 + (not isinstance(act, nn.Identity))
        else:
            out.append(m)
            i += 1
    model = copy.deepcopy(model)
    model.main = nn.Sequential(*out)
    return model.eval()


def phase_rewrite(folded: nn.Module, form: str, nz: int) -> tuple[nn.Module, float]:
    """The folded generator with a Gemm first layer and PhaseConv stride-2 layers, checked exact on 16
    latents: (the model, its max abs difference). The int8 and bf16 files are built on it."""
    rewritten = phase_decompose(project_first_layer(folded), form)
    z = torch.from_numpy(latents_from_seeds(range(16), nz).reshape(16, nz, 1, 1))
    with torch.no_grad():
        diff = float((rewritten(z) - folded(z)).abs().max())
    if not diff <= REWRITE_TOLERANCE:
        raise RuntimeError(
            f"the {form} phase rewrite differs from the ConvTranspose model by {diff:.2e} "
            f"(> {REWRITE_TOLERANCE:.0e}): not exporting a file built on it"
        )
    return rewritten, diff
