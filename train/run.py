"""One training run's moving parts (`Run`): the models, the step, the sampler and the failure watch,
with what a step needs (the data order) and what a run saves (checkpoints) or undoes (a rewind).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from train import artifacts, distributed
from train.checkpoint import load_checkpoint, restore_weights, save_checkpoint, training_state
from train.config import TrainConfig
from train.data import Dataset, to_model_range
from train.ema import EMA
from train.sampling import Sampler
from train.step import Execution, GANStep
from train.watch import Failure, Watch

REWINDS = 3  # --on-collapse rewind: after this many, the next failure stops the run


def batch_indices(cfg: TrainConfig, n_images: int, per_epoch: int, step: int) -> torch.Tensor:
    """Data order is a pure function of (seed, step): epoch e shuffles with RandomState([seed, e])."""
    epoch, pos = divmod(step, per_epoch)
    perm = np.random.RandomState([cfg.seed, epoch]).permutation(n_images)
    return torch.from_numpy(perm[pos * cfg.batch_size : (pos + 1) * cfg.batch_size])


def check_finite_weights(g: torch.nn.Module, d: torch.nn.Module, step: int) -> None:
    """Refuse to checkpoint weights that hold NaN or infinity."""
    for name, net in (("generator", g), ("discriminator", d)):
        if not all(torch.isfinite(p).all() for p in net.parameters()):
            raise FloatingPointError(f"non-finite {name} weights at step {step}")


@dataclass
class Run:
    """One training run's moving parts, built by `setup`, advanced by `loop`."""

    out: Path
    cfg: TrainConfig
    data: Dataset
    per_epoch: int  # steps per pass over the data
    total: int  # the step to stop at
    execution: Execution
    world: distributed.World
    g: nn.Module  # as trained (DDP-wrapped under torchrun)
    d: nn.Module
    step_fn: GANStep
    sampler: Sampler
    watch: Watch
    step: int = 0
    rewinds: int = 0  # --on-collapse rewind: how many so far
    failed: Failure | None = None  # set when --on-collapse stops the run
    ema: EMA | None = None  # the average of G that samples and exports use (None: --ema-images 0)

    @property
    def checkpoints(self) -> Path:
        return self.out / "checkpoints"

    def save(self, final: bool = False, best: bool = False) -> Path:
        """Write last.pt (plus stepNNNNNN.pt at checkpoint steps and at the end), or best.pt."""
        gm, dm = distributed.unwrap(self.g), distributed.unwrap(self.d)  # plain state dicts, loadable without DDP
        state = training_state(
            cfg=self.cfg,
            step=self.step,
            best_swd=self.sampler.best,
            per_epoch=self.per_epoch,
            images=len(self.data),
            dataset=self.data.name,
            g=gm,
            d=dm,
            optim=self.step_fn.state_dict(),
            device=self.execution.device,
            precision=self.execution.precision,
            watch={**self.watch.state_dict(), "rewinds": self.rewinds},
            g_ema=self.ema.calibrate() if self.ema is not None else None,
        )
        if best:
            save_checkpoint(self.checkpoints / "best.pt", state)
            return self.checkpoints / "best.pt"
        periodic = final or self.step % self.cfg.checkpoint_every == 0
        last = self.checkpoints / "last.pt"
        save_checkpoint(last, state, copies=(self.checkpoints / f"step{self.step:06d}.pt",) if periodic else ())
        artifacts.save_loss_curve(artifacts.read_metrics(self.out / "metrics.jsonl"), self.out / "loss.png")
        return last

    def rewind(self) -> str:
        """Back to best.pt's weights and optimiser states, with half D's learning rate; the step,
        data order and RNG go on. Returns what it did, for the log."""
        state = load_checkpoint(self.checkpoints / "best.pt")
        halved = [group["lr"] * 0.5 for group in self.step_fn.opt_d.param_groups]  # of the rate now, not best.pt's
        restore_weights(state, distributed.unwrap(self.g), distributed.unwrap(self.d), self.step_fn, self.ema)
        for group, lr in zip(self.step_fn.opt_d.param_groups, halved):
            group["lr"] = lr
        self.watch, self.rewinds = Watch(), self.rewinds + 1
        lr = self.step_fn.opt_d.param_groups[0]["lr"]
        return (
            f"rewound to best.pt (step {state['step']}), D's learning rate now {lr:.2g} "
            f"(rewind {self.rewinds} of {REWINDS})"
        )

    def train_step(self) -> dict[str, float]:
        """One optimiser step of G and D on the global batch's share of this rank; returns its scalars."""
        cfg, world, device = self.cfg, self.world, self.execution.device
        # the global batch's indices, flips and noise on every rank, from the CPU RNG (same on any
        # device); each rank keeps its share
        idx = batch_indices(cfg, len(self.data), self.per_epoch, self.step)
        flip = torch.rand(len(idx)) < 0.5 if cfg.hflip else None
        z = torch.randn(cfg.batch_size, cfg.nz, 1, 1)
        part = world.part(cfg.batch_size)
        real = to_model_range(self.data.images[idx[part]].to(device, non_blocking=True))
        if flip is not None:
            mine = flip[part].to(device)
            real[mine] = real[mine].flip(-1)
        noise = cfg.instance_noise * max(0.0, 1.0 - self.step / cfg.noise_steps)
        m = distributed.mean_across(self.step_fn(real, z[part].to(device), noise), world)
        if not all(math.isfinite(v) for v in m.values()):
            raise FloatingPointError(f"non-finite loss at step {self.step + 1}: {m}")
        if self.step_fn.adaptive:  # every rank moves p by the same (global) number
            self.step_fn.adaptive.observe(m["d_x_sign"])
        if self.ema is not None:  # every rank: G's weights are the same on all of them
            self.ema.update(distributed.unwrap(self.g), (self.step + 1) * cfg.batch_size)
        return m

    def shown(self) -> nn.Module:
        """The generator that samples, the SWD and checkpoints' export weights come from: G's average
        (its BatchNorm statistics recomputed), else G itself."""
        return self.ema.calibrate() if self.ema is not None else distributed.unwrap(self.g)
