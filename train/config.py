"""The one training configuration: a frozen dataclass saved in every run and checkpoint.

Later stages (export, runtime) read the architecture from here, so they need no flags.

>>> cfg = TrainConfig(image_size=32, channels=1)
>>> TrainConfig.from_dict(cfg.to_dict()) == cfg
True
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from dcgan_runtime.metadata import MAX_LATENT_DIM

IMAGE_SIZES = (32, 64, 128)
CHANNELS = (1, 3)
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "bf16", "fp32")
CONV_PATHS = ("auto", "onednn-cl", "onednn", "native")
# bounds that keep one typo from asking for terabytes (the model's size is also checked against memory)
LIMITS = {
    "nz": MAX_LATENT_DIM,
    "ngf": 4096,
    "ndf": 4096,
    "batch_size": 65_536,
    "num_images": 10_000_000,
    "threads": 1024,
}
LIMITS |= {"epochs": 10**9, "max_steps": 10**12}
# Every recipe's name, once, with its title: train/recipes.py holds each one's options (checked to match).
RECIPE_TITLES = {"paper": "the paper's recipe", "small": "the small-data recipe", "adaptive": "the adaptive recipe"}
RECIPES = ("auto", *RECIPE_TITLES)  # auto: adaptive up to recipes.SMALL_DATA images, else paper
AUGMENTS = ("color", "translation", "cutout")  # DiffAugment's ops (train/augment.py)
ON_COLLAPSE = ("stop", "warn", "rewind")  # train/watch.py


@dataclass(frozen=True)
class TrainConfig:
    # data
    data: str = "toyfaces"  # image folder, IDX file/folder, or "toyfaces" (built in, no download)
    num_images: int = 20_000  # toyfaces only: how many faces to draw
    hflip: bool = False  # random horizontal flips (helps tiny data sets)
    # model
    image_size: int = 64  # 32, 64 or 128: the generator grows a 4x4 seed by log2(size) - 2 stride-2 stages
    channels: int = 3  # 1 (grey) or 3 (RGB)
    nz: int = 100  # latent dimension
    ngf: int = 64  # generator width (channels of its last hidden block)
    ndf: int = 64  # discriminator width (channels of its first block)
    # optimisation (defaults from the DCGAN paper)
    batch_size: int = 128  # images per step (under torchrun: the global batch, split evenly over the ranks)
    epochs: int = 5  # passes over the data, unless max_steps is set
    max_steps: int = 0  # stop after this many steps (0: use epochs)
    lr: float = 2e-4  # Adam learning rate, both networks
    beta1: float = 0.5  # Adam beta1
    beta2: float = 0.999  # Adam beta2
    seed: int = 0  # seeds data order, weights, noise and the toy faces
    # the recipe (train/recipes.py; docs/train.md "When training fails")
    recipe: str = "auto"  # paper, small, adaptive or auto (adaptive up to recipes.SMALL_DATA images): hflip and below
    augment: str = ""  # DiffAugment for D's inputs, real and fake: comma-separated color,translation,cutout
    augment_target: float = 0.0  # 0: augment every image; else each op's probability p tracks E[sign D(x)] to this
    g_lr_max: float = 1.0  # adaptive only: while D stays ahead at p = 1, G's learning rate rises up to this x lr
    label_smoothing: float = 0.0  # one-sided: D's target for real images is 1 - this
    instance_noise: float = 0.0  # std of Gaussian noise on D's inputs, falling linearly to 0 over noise_steps
    noise_steps: int = 2000  # steps over which instance noise anneals to 0 (fixed: resume stays exact)
    lr_d: float = 0.0  # D's learning rate (0: lr): two time scales when they differ
    r1: float = 0.0  # R1 gradient penalty weight gamma on D's real images (0: none)
    # the average of G that samples, SWD, best.pt and export use (train/ema.py); the raw G trains
    ema_images: int = 10_000  # its half-life in training images (0: no average, the raw G is used)
    ema_rampup: float = 0.05  # the half-life is at most this share of the images seen so far (0: none)
    # machinery
    device: str = "auto"  # auto, cpu or cuda
    precision: str = "auto"  # auto (bf16 where the CPU has it, AMP on CUDA), bf16 or fp32
    threads: int = 0  # CPU threads for torch (0: torch's default)
    conv: str = "auto"  # CPU step: auto (the fastest here, measured once and cached), onednn-cl, onednn, native
    sync_bn: bool = False  # under torchrun: BatchNorm statistics over the global batch, not each rank's share
    checkpoint_every: int = 500  # steps between checkpoints (last.pt is always kept)
    sample_every: int = 100  # steps between fixed-noise sample grids
    on_collapse: str = "warn"  # when train/watch.py names a failure: stop, warn (and go on) or rewind to best.pt

    def __post_init__(self) -> None:
        wrong = [
            f"{f.name} must be {f.type}, got {getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if not _is(getattr(self, f.name), f.type)
        ]
        if wrong:
            raise ValueError("invalid training config: " + "; ".join(wrong))
        for f in dataclasses.fields(self):
            if f.type == "float":
                object.__setattr__(self, f.name, float(getattr(self, f.name)))
        problems = []
        if not self.data.strip():
            problems.append("data must name an image folder, an IDX file or 'toyfaces', got an empty string")
        if self.image_size not in IMAGE_SIZES:
            problems.append(f"image_size must be one of {IMAGE_SIZES}, got {self.image_size}")
        if self.channels not in CHANNELS:
            problems.append(f"channels must be 1 or 3, got {self.channels}")
        for name in ("nz", "ngf", "ndf", "batch_size", "num_images", "checkpoint_every", "sample_every", "noise_steps"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("epochs", "max_steps", "threads"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be 0 or more, got {getattr(self, name)}")
        for name, most in LIMITS.items():
            if getattr(self, name) > most:
                problems.append(f"{name} must be at most {most:,}, got {getattr(self, name):,}")
        if self.epochs == 0 and self.max_steps == 0:
            problems.append("set epochs or max_steps above 0")
        if not 0 < self.lr < 1:
            problems.append(f"lr must be in (0, 1), got {self.lr}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            problems.append(f"beta1 and beta2 must be in [0, 1), got {self.beta1}, {self.beta2}")
        if not 0 <= self.seed < 2**32:
            problems.append(f"seed must be in 0..2**32-1, got {self.seed}")
        if self.device not in DEVICES:
            problems.append(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.conv not in CONV_PATHS:
            problems.append(f"conv must be one of {CONV_PATHS}, got {self.conv!r}")
        if self.recipe not in RECIPES:
            problems.append(f"recipe must be one of {RECIPES}, got {self.recipe!r}")
        parts = [p for p in self.augment.split(",") if p]
        if any(p not in AUGMENTS for p in parts) or len(set(parts)) != len(parts):
            problems.append(f"augment must be a comma-separated subset of {','.join(AUGMENTS)}, got {self.augment!r}")
        if not 0 <= self.augment_target < 1:
            problems.append(f"augment_target must be in [0, 1) (0: always, 0.6: adapt), got {self.augment_target}")
        if not 1 <= self.g_lr_max <= 8:
            problems.append(f"g_lr_max must be in [1, 8] (1: G's learning rate stays lr), got {self.g_lr_max}")
        if not 0 <= self.label_smoothing < 0.5:
            problems.append(f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
        if not 0 <= self.instance_noise <= 2:
            problems.append(f"instance_noise must be in [0, 2], got {self.instance_noise}")
        if self.ema_images < 0 or not 0 <= self.ema_rampup <= 1:
            problems.append(
                f"ema_images must be 0 or more and ema_rampup in [0, 1], got {self.ema_images}, {self.ema_rampup}"
            )
        if not 0 <= self.r1 <= 1000:
            problems.append(f"r1 must be in [0, 1000] (0: no penalty), got {self.r1}")
        if not 0 <= self.lr_d < 1:
            problems.append(f"lr_d must be in [0, 1) (0: the same as lr), got {self.lr_d}")
        if self.on_collapse not in ON_COLLAPSE:
            problems.append(f"on_collapse must be one of {ON_COLLAPSE}, got {self.on_collapse!r}")
        if problems:
            raise ValueError("invalid training config: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a saved dict; unknown keys are an error, missing keys take defaults."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}: saved by a newer version of this tool?")
        return cls(**d)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def _is(value: Any, type_name: str) -> bool:
    """Whether `value` fits a field annotated `type_name` (an int is a float; a bool is no int)."""
    if type_name == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    return {"str": isinstance(value, str), "int": isinstance(value, int), "float": isinstance(value, (int, float))}[
        type_name
    ]
