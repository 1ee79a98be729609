"""One DCGAN training step, fast by default, and where it executes (device and precision).

Same algorithm as pytorch/examples dcgan (D on a real batch and a fake batch, then G against the
updated D, BCE on logits), run faster: bf16 autocast where the CPU has native bf16 (AMP on CUDA), no
D weight gradients in the G step (they are never used), and on the CPU the memory layout and
convolution library that measured fastest on this machine (train/conv_path.py; channels_last and
oneDNN by default).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from train.augment import Adaptive, diff_augment, instance_noise
from train.config import TrainConfig


class DeviceError(RuntimeError):
    """The requested device cannot be used here."""


@dataclass(frozen=True)
class Execution:
    device: torch.device
    amp_dtype: torch.dtype | None  # autocast dtype, None for fp32
    channels_last: bool = True  # activations and weights in NHWC memory
    onednn: bool = True  # CPU convolutions through oneDNN (False: ATen's own im2col + BLAS path)
    threads: int = 0  # CPU threads for torch (0: as they are)

    @property
    def conv_path(self) -> str:
        """'onednn-cl', 'onednn' or 'native' (the --conv names), '@N' with N threads; 'cuda' on a GPU."""
        if self.device.type != "cpu":
            return self.device.type
        name = "native" if not self.onednn else ("onednn-cl" if self.channels_last else "onednn")
        return f"{name}@{self.threads}" if self.threads else name

    @property
    def precision(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp_dtype]


BF16_ISAS = ("AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX10", "ALL", "DEFAULT")


def cpu_has_bf16() -> bool:
    """Native bf16 dot products (AVX512-BF16 or AMX): where bf16 autocast pays; elsewhere it is emulated.

    oneDNN's instruction-set cap counts (ONEDNN_MAX_CPU_ISA=AVX2 makes this CPU an fp32-only one).
    """
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    if cap and not cap.startswith(BF16_ISAS):
        return False
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def pick_execution(cfg: TrainConfig) -> Execution:
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise DeviceError(
            "--device cuda was asked for, but no CUDA GPU is usable here "
            "(torch.cuda.is_available() is False): use --device cpu or auto"
        )
    device = torch.device(
        "cuda" if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()) else "cpu"
    )
    if cfg.precision == "fp32":
        return Execution(device, None)
    if device.type == "cuda":
        return Execution(device, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    if cfg.precision == "bf16" or cpu_has_bf16():
        return Execution(device, torch.bfloat16)
    return Execution(device, None)  # bf16 without hardware support is slower than fp32


class GANStep:
    """Call with a real batch (float, [-1, 1]) and latents; returns the step's scalars.

    The recipe's options act on D's inputs and targets: DiffAugment on every image D sees (a fresh
    draw for each of its three passes; with `augment_target`, each op with the adaptive probability
    `adaptive.p`, which the caller feeds the step's `d_x_sign`; past p = 1 it scales G's learning rate
    by `adaptive.g_scale`, up to `g_lr_max`), instance noise of std `noise` (the
    caller anneals it), a one-sided smoothed target for real images, and D's own learning rate.
    `part` is this process's share of the global batch (the random draws are the global batch's, so
    ranks agree).

    >>> from train.model import build_models
    >>> cfg = TrainConfig(image_size=32, ngf=8, ndf=8, batch_size=4)
    >>> g, d = build_models(cfg)
    >>> step = GANStep(g, d, cfg, Execution(torch.device("cpu"), None))
    >>> sorted(step(torch.zeros(4, 3, 32, 32), torch.randn(4, 100, 1, 1)))
    ['d_g_z', 'd_x', 'loss_d', 'loss_g']
    """

    def __init__(self, g: nn.Module, d: nn.Module, cfg: TrainConfig, execution: Execution, part: slice | None = None):
        self.g, self.d, self.execution = g, d, execution
        self.augment, self.real_label, self.batch = cfg.augment, 1.0 - cfg.label_smoothing, cfg.batch_size
        self.r1 = cfg.r1
        self.part = part or slice(0, cfg.batch_size)
        self.adaptive = (
            Adaptive(cfg.augment_target, cfg.batch_size, g_lr_max=cfg.g_lr_max) if cfg.augment_target else None
        )
        self.lr_g = cfg.lr  # scaled by the controller's g_scale where its g_lr_max is above 1
        self.opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
        self.opt_d = torch.optim.Adam(d.parameters(), lr=cfg.lr_d or cfg.lr, betas=(cfg.beta1, cfg.beta2))
        fp16 = execution.amp_dtype == torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=fp16) if fp16 else None

    def _autocast(self):
        m = self.execution
        return torch.autocast(m.device.type, dtype=m.amp_dtype or torch.float32, enabled=m.amp_dtype is not None)

    def _backward_step(self, loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        opt.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            opt.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(opt)

    def __call__(self, real: torch.Tensor, z: torch.Tensor, noise: float = 0.0) -> dict[str, float]:
        if self.execution.onednn:
            return self._step(real, z, noise)
        was = torch.backends.mkldnn.enabled  # flags() would also reset oneDNN's other settings
        torch.backends.mkldnn.enabled = False
        try:
            return self._step(real, z, noise)
        finally:
            torch.backends.mkldnn.enabled = was

    def _seen_by_d(self, x: torch.Tensor, noise: float) -> torch.Tensor:
        """What D is shown of `x`: augmented, then noised, as the recipe says (nothing drawn otherwise)."""
        if self.augment:
            x = diff_augment(x, self.augment, self.batch, self.part, self.adaptive.p if self.adaptive else None)
        return instance_noise(x, noise, self.batch, self.part)

    def _step(self, real: torch.Tensor, z: torch.Tensor, noise: float) -> dict[str, float]:
        if self.adaptive and self.adaptive.g_lr_max > 1:  # saturated augmentation answered by a faster G (augment.py)
            for group in self.opt_g.param_groups:
                group["lr"] = self.lr_g * self.adaptive.g_scale
        if self.execution.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        # (1) D: maximise log D(x) + log(1 - D(G(z)))
        with self._autocast():
            fake = self.g(z)
            seen = self._seen_by_d(real, noise)
            if self.r1:  # the gradient penalty needs D's gradient with respect to what it saw
                seen = seen.detach().requires_grad_(True)
            out_real = self.d(seen).float()
            out_fake = self.d(self._seen_by_d(fake.detach(), noise)).float()
            loss_d = F.binary_cross_entropy_with_logits(
                out_real, torch.full_like(out_real, self.real_label)
            ) + F.binary_cross_entropy_with_logits(out_fake, torch.zeros_like(out_fake))
        if self.r1:  # R1 (Mescheder et al. 2018): gamma / 2 x E||grad_x D(x)||^2 on the real images
            (grad,) = torch.autograd.grad(out_real.sum(), seen, create_graph=True)
            loss_d = loss_d + self.r1 / 2 * grad.float().square().sum(dim=(1, 2, 3)).mean()
        self._backward_step(loss_d, self.opt_d)
        # (2) G: maximise log D(G(z)) against the updated D; D's weights need no gradients here, so under
        # DDP this pass goes around the wrapper (nothing of D's to all-reduce)
        self.d.requires_grad_(False)
        try:
            with self._autocast():
                out = getattr(self.d, "module", self.d)(self._seen_by_d(fake, noise)).float()
                loss_g = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
            self._backward_step(loss_g, self.opt_g)
        finally:
            self.d.requires_grad_(True)
        if self.scaler is not None:
            self.scaler.update()
        scalars = {
            "loss_d": loss_d.item(),
            "loss_g": loss_g.item(),
            "d_x": torch.sigmoid(out_real).mean().item(),
            "d_g_z": torch.sigmoid(out_fake).mean().item(),
        }
        if self.adaptive:  # what p ran at, and D's sureness of the real images (ADA's r_t) that moves it
            scalars |= {"augment_p": self.adaptive.p, "d_x_sign": torch.sign(out_real).mean().item()}
            if self.adaptive.g_lr_max > 1:
                scalars["g_lr_scale"] = self.adaptive.g_scale
        return scalars

    def state_dict(self) -> dict:
        return {
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler else {},
            **({"adaptive": self.adaptive.state_dict()} if self.adaptive else {}),
        }

    def load_state_dict(self, state: dict) -> None:
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if self.adaptive and "adaptive" in state:
            self.adaptive.load_state_dict(state["adaptive"])
