"""Training recipes: the paper's, and two small-data ones that keep its architecture and learn from a
few thousand images (measured in docs/train.md, "When training fails"): `small` augments every image
D sees (DiffAugment's colour and translation), `adaptive` each at a probability that follows how sure D
is of the real images, and past full strength G's learning rate (up to twice --lr) while D stays ahead.

`resolve` turns `recipe="auto"` into a named recipe once the data set's size is known, and fills
the recipe's options into the fields the user did not set; the saved config holds the result, so a
checkpoint says exactly how it was trained. The small recipe's flips stay off for a data set that
is not its own mirror image (`mirror_ratio`: Fashion-MNIST's shoes all face left).

>>> cfg = resolve(TrainConfig(), images=3_000, explicit=set())
>>> cfg.recipe, cfg.augment, cfg.augment_target, cfg.hflip
('adaptive', 'color,translation', 0.6, True)
>>> resolve(TrainConfig(), images=60_000, explicit=set()).recipe
'paper'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from train.config import RECIPE_TITLES, TrainConfig
from train.swd import swd

SMALL_DATA = 10_000  # auto picks "adaptive" for at most this many training images (docs/train.md: why)
MIRROR_LIMIT = 2.0  # flips move a data set this many times its sampling noise: not mirror-symmetric (docs/train.md)
MIRROR_MIN = 64  # fewer images than this cannot tell; the recipe's flips stay

PAPER: dict[str, Any] = {  # Radford et al. 2016: Adam 2e-4 for both networks, no augmentation, hard labels
    "augment": "",
    "augment_target": 0.0,
    "g_lr_max": 1.0,
    "label_smoothing": 0.0,
    "instance_noise": 0.0,
    "lr_d": 0.0,
    "r1": 0.0,
    "hflip": False,
}
# DiffAugment (Zhao et al. 2020) + flips, without its cutout: at the probability near 1 that small sets
# drive it to, cutout's squares leaked into the samples (Twemoji, 1,500 steps: SWD 76.6 -> 55.8 and
# 74.3 -> 58 without it, docs/train.md)
SMALL = PAPER | {"augment": "color,translation", "hflip": True}
RECIPES: dict[str, dict[str, Any]] = {
    "paper": PAPER,
    "small": SMALL,
    # each op at a probability that follows D (ADA's r_t target); where D stays ahead at p = 1, G's
    # learning rate rises to up to twice D's (Twemoji at half width, 1,500 steps: docs/train.md)
    "adaptive": SMALL | {"augment_target": 0.6, "g_lr_max": 2.0},
}
assert RECIPES.keys() == RECIPE_TITLES.keys(), "train/config.py names every recipe; define each one's options here"


def resolve(
    cfg: TrainConfig,
    images: int,
    explicit: set[str],
    mirror: Callable[[], float | None] = lambda: None,
    log: Callable[[str], None] = lambda line: None,
) -> TrainConfig:
    """`cfg` with its recipe named (auto: by `images`) and the recipe's options in every field not in
    `explicit` (the flags the user typed, which win). Where the recipe flips and the user did not say,
    `mirror()` (the data's `mirror_ratio`) above MIRROR_LIMIT turns the flips off, and `log` says so."""
    name = cfg.recipe if cfg.recipe != "auto" else ("adaptive" if images <= SMALL_DATA else "paper")
    options = {k: v for k, v in RECIPES[name].items() if k not in explicit}
    if options.get("hflip"):
        ratio = mirror()
        if ratio is not None and ratio > MIRROR_LIMIT:
            options["hflip"] = False
            moved = f"{ratio:.1f}x as far as" if ratio < 100 else "far further than"  # a repeated image: no noise
            log(
                f"flips off: mirroring moves these images {moved} sampling noise does (over "
                f"{MIRROR_LIMIT:g}: they face one way), so flipped ones would be new kinds of image; --hflip "
                "forces them"
            )
    if "augment" in explicit and not cfg.augment and "augment_target" not in explicit:
        options["augment_target"] = 0.0  # --augment none: the recipe's adaptive target has nothing to adapt
    if not options.get("augment_target", cfg.augment_target) and "g_lr_max" not in explicit:
        options["g_lr_max"] = 1.0  # no adaptive augmentation: nothing saturates, G's rate stays --lr
    cfg = cfg.replace(recipe=name, **options)
    if cfg.augment_target and not cfg.augment:
        raise ValueError(
            "--augment-target adapts DiffAugment's probability, but no --augment ops are on: name some "
            "(e.g. --augment color,translation,cutout) or drop --augment-target"
        )
    if cfg.g_lr_max > 1 and not cfg.augment_target:
        raise ValueError(
            f"--g-lr-max {cfg.g_lr_max:g} raises G's learning rate when adaptive augmentation saturates, but this "
            f"run has none (recipe {cfg.recipe}, no --augment-target): use --recipe adaptive or drop --g-lr-max"
        )
    return cfg


def mirror_ratio(images: torch.Tensor, pairs: int = 512) -> float | None:
    """How far horizontal flips move a data set, in units of sampling noise: SWD(half A, mirrored
    half B) / SWD(half A, half B), on up to `pairs` seeded images a half (uint8 NCHW; 2.2 s for
    512 pairs at 64 px on 2 cores). Near 1 for sets that are their own mirror image (toy faces 1.0,
    Twemoji 1.1, the London faces 1.5), 3 for Fashion-MNIST; None below MIRROR_MIN images.

    >>> noise = torch.randint(0, 128, (256, 1, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    >>> facing_left = noise.clone(); facing_left[:, :, 8:24, 4:16] += 127
    >>> round(mirror_ratio(noise), 1), round(mirror_ratio(facing_left), 1), mirror_ratio(noise[:63])
    (1.0, 11.2, None)
    """
    if len(images) < MIRROR_MIN:
        return None
    m = min(len(images) // 2, pairs)
    pick = np.random.RandomState(0).permutation(len(images))[: 2 * m]
    x = images[torch.from_numpy(pick)].numpy()
    a, b = x[:m], x[m:]
    same, mirrored = swd(a, b, per_image=32)["mean"], swd(a, np.ascontiguousarray(b[..., ::-1]), per_image=32)["mean"]
    return (mirrored + 1e-3) / (same + 1e-3)  # identical halves (one image repeated): 1 if it is symmetric


def describe(cfg: TrainConfig) -> str:
    """One line naming the recipe and what it changes from the paper's."""
    changes = [f"{k}={getattr(cfg, k)}" for k, v in RECIPES["paper"].items() if getattr(cfg, k) != v]
    return f"recipe {cfg.recipe}" + (f" ({', '.join(changes)})" if changes else "")
