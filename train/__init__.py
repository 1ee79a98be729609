"""DCGAN training: `train.fit(config, out)` (train/fitting.py), models, data, checkpoints, and the
`python -m train` entry point (train/cli.py).

Nothing is imported here until it is asked for: `python -m train` starts without loading torch first
(its Ctrl-C handler comes before that), and `train.config` stays as light as it is.

>>> from train.config import TrainConfig                     # doctest: +SKIP
>>> from train import fit                                     # doctest: +SKIP
>>> fit(TrainConfig(max_steps=1000), "runs/faces").best       # doctest: +SKIP
PosixPath('runs/faces/checkpoints/best.pt')
"""

from typing import Any


def __getattr__(name: str) -> Any:
    """`fit` (and FitResult) are imported on first use: they load torch."""
    if name in ("fit", "FitResult"):
        from train import fitting as module

        return getattr(module, name)
    raise AttributeError(f"module 'train' has no attribute {name!r}")
