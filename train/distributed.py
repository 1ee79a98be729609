"""Data-parallel training under torchrun: PyTorch DDP, NCCL on GPUs, gloo on CPUs.

`torchrun --nproc_per_node=N -m train ...` sets RANK, WORLD_SIZE and LOCAL_RANK; plain
`python -m train` is a world of one and none of this runs. --batch-size is the global batch, split
evenly over the ranks. Every rank draws the same global batch indices, flips and latents (pure
functions of the seed and the step) and takes its slice, so N ranks compute what one process with
the whole batch computes; with --sync-bn BatchNorm normalises over the whole batch too.

>>> World().is_main, World().size
(True, 1)
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    rank: int = 0  # this process, 0..size-1
    size: int = 1  # processes in the job
    local_rank: int = 0  # this process on its machine: its GPU index
    device: str = "cpu"  # where collectives put their tensors (NCCL needs CUDA ones)

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes the run directory."""
        return self.rank == 0

    def part(self, n: int) -> slice:
        """This rank's contiguous share of a global batch of n."""
        per = n // self.size
        return slice(self.rank * per, (self.rank + 1) * per)


def init(cuda: bool) -> World:
    """Join the torchrun job described by the environment (a world of one without it)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    world = World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")), "cuda" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(world.local_rank)
    dist.init_process_group("nccl" if cuda else "gloo")
    return world


def close(wait: bool = False) -> None:
    """Leave the job (a no-op outside one); with `wait`, once every rank is done.

    DDP wrappers hold the process group: they are collected first, so that gloo's threads are joined
    here and not during interpreter shutdown (there, "terminate called without an active exception"
    aborted a rank in 2 of 20 two-process runs; 0 of 36 since)."""
    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        gc.collect()
        dist.destroy_process_group()


def wrap(model: nn.Module, world: World, sync_bn: bool) -> nn.Module:
    """DDP around `model` (already on its device), BatchNorm synchronised across ranks if asked."""
    if sync_bn:
        model = convert_sync_batchnorm(model)
    device_ids = [world.local_rank] if next(model.parameters()).is_cuda else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks, differentiable: every rank's output depends on every rank's input, so the
    gradient of an input is the sum over ranks of the output gradients."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d over the batch of every rank, on any device (torch's SyncBatchNorm needs a GPU).

    Training mode all-reduces per-channel sums (differentiably), so the statistics and their
    gradients are those of the global batch; eval mode is plain BatchNorm2d.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        all_reduce = _AllReduceSum.apply
        dtype, x = x.dtype, x.float()  # statistics in fp32, also under bf16 autocast
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        total = all_reduce(torch.cat([x.sum((0, 2, 3)), count]))
        n = total[-1]
        mean = total[:-1] / n
        centred = x - mean.view(1, -1, 1, 1)
        var = all_reduce(centred.pow(2).sum((0, 2, 3))) / n  # biased, as BatchNorm normalises
        with torch.no_grad():
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
            self.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1), alpha=m)
            self.num_batches_tracked.add_(1)
        y = centred * torch.rsqrt(var + self.eps).view(1, -1, 1, 1)
        return (y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)).to(dtype)


def convert_sync_batchnorm(model: nn.Module) -> nn.Module:
    """torch's SyncBatchNorm on CUDA; GlobalBatchNorm2d (same maths, any device) elsewhere."""
    if next(model.parameters()).is_cuda:
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if type(child) is nn.BatchNorm2d:
                bn = GlobalBatchNorm2d(
                    child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats
                ).to(child.weight.device)
                bn.load_state_dict(child.state_dict())
                setattr(parent, name, bn)
    return model


def mean_across(values: dict[str, float], world: World) -> dict[str, float]:
    """The ranks' average of each scalar: every rank then logs and decides on the same numbers."""
    if world.size == 1:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64, device=world.device)
    dist.all_reduce(t)
    return dict(zip(values, (t / world.size).tolist()))


def any_across(flag: bool, world: World) -> bool:
    """True on every rank if it is true on any (a stop request seen by one rank stops all)."""
    if world.size == 1:
        return flag
    t = torch.tensor([int(flag)], device=world.device)
    dist.all_reduce(t)
    return bool(t.item())


def on_main(measure: Callable[[], T], world: World) -> T:
    """`measure()` run on rank 0 alone, its result handed to every rank: a choice measured once (the
    data's mirror check) is the same choice everywhere, even where ranks' CPUs round differently."""
    if world.size == 1:
        return measure()
    box: list[Any] = [measure() if world.is_main else None]
    device = torch.device("cuda", world.local_rank) if world.device == "cuda" else None
    dist.broadcast_object_list(box, src=0, device=device)
    return box[0]
