"""Training recipes: the paper's, and the small-data one that keeps its architecture and learns from
a few thousand images (measured in docs/train.md, "When training fails").

`resolve` turns `recipe="auto"` into a named recipe once the data set's size is known, and fills
the recipe's options into the fields the user did not set; the saved config holds the result, so a
checkpoint says exactly how it was trained.

>>> cfg = resolve(TrainConfig(), images=3_000, explicit=set())
>>> cfg.recipe, cfg.augment
('small', 'color,translation,cutout')
>>> resolve(TrainConfig(), images=60_000, explicit=set()).recipe
'paper'
"""

from __future__ import annotations

from typing import Any

from train.config import TrainConfig

SMALL_DATA = 10_000  # auto picks "small" for at most this many training images (docs/train.md: why)

RECIPES: dict[str, dict[str, Any]] = {
    # Radford et al. 2016: Adam 2e-4 for both networks, no augmentation, hard labels
    "paper": {"augment": "", "label_smoothing": 0.0, "instance_noise": 0.0, "lr_d": 0.0, "hflip": False},
    # DiffAugment (Zhao et al. 2020) on everything D sees, plus horizontal flips of the real images
    "small": {
        "augment": "color,translation,cutout",
        "label_smoothing": 0.0,
        "instance_noise": 0.0,
        "lr_d": 0.0,
        "hflip": True,
    },
}


def resolve(cfg: TrainConfig, images: int, explicit: set[str]) -> TrainConfig:
    """`cfg` with its recipe named (auto: by `images`) and the recipe's options in every field not in
    `explicit` (the flags the user typed, which win)."""
    name = cfg.recipe if cfg.recipe != "auto" else ("small" if images <= SMALL_DATA else "paper")
    options = {k: v for k, v in RECIPES[name].items() if k not in explicit}
    return cfg.replace(recipe=name, **options)


def describe(cfg: TrainConfig) -> str:
    """One line naming the recipe and what it changes from the paper's."""
    changes = [f"{k}={getattr(cfg, k)}" for k, v in RECIPES["paper"].items() if getattr(cfg, k) != v]
    return f"recipe {cfg.recipe}" + (f" ({', '.join(changes)})" if changes else "")
