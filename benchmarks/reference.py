"""The pytorch/examples dcgan training step, verbatim in algorithm: the baseline our default must beat.

fp32, contiguous memory, nn.BCELoss on a sigmoid output, D weight gradients computed in the G step.
"""

from __future__ import annotations

import torch
from torch import nn

from train.config import TrainConfig


class ReferenceStep:
    def __init__(self, g: nn.Module, d: nn.Module, cfg: TrainConfig):
        self.g, self.d = g, d
        self.criterion = nn.BCELoss()
        self.opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
        self.opt_d = torch.optim.Adam(d.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))

    def __call__(self, real: torch.Tensor, noise: torch.Tensor) -> dict[str, float]:
        b = real.size(0)
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        self.d.zero_grad()
        label = torch.full((b,), 1.0)
        output = torch.sigmoid(self.d(real))
        err_d_real = self.criterion(output, label)
        err_d_real.backward()
        d_x = output.mean().item()
        fake = self.g(noise)
        label.fill_(0.0)
        output = torch.sigmoid(self.d(fake.detach()))
        err_d_fake = self.criterion(output, label)
        err_d_fake.backward()
        d_g_z1 = output.mean().item()
        self.opt_d.step()
        # (2) Update G network: maximize log(D(G(z)))
        self.g.zero_grad()
        label.fill_(1.0)
        output = torch.sigmoid(self.d(fake))
        err_g = self.criterion(output, label)
        err_g.backward()
        self.opt_g.step()
        return {"loss_d": (err_d_real + err_d_fake).item(), "loss_g": err_g.item(), "d_x": d_x, "d_g_z": d_g_z1}
