"""What shards, servers and figures need of a generator: `Decoder`, which `Generator` is (and a test double
or another engine can be).

>>> from dcgan_runtime.engine.protocol import Decoder   # doctest: +SKIP
>>> def render(g: Decoder) -> None: ...                 # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from dcgan_runtime.metadata import Metadata


class Decoder(Protocol):
    """A loaded generator as its users see it: its metadata and file, seeds to latents, latents to images."""

    metadata: Metadata
    path: Path

    @property
    def sha256(self) -> str: ...

    def latents(self, n: int | None = None, seed: int = 0, *, seeds: Sequence[int] | None = None) -> np.ndarray: ...

    def decode(self, z: np.ndarray, output: Any = "uint8", batch_size: int = 64) -> Any: ...

    def generate(
        self,
        n: int | None = None,
        seed: int = 0,
        *,
        seeds: Sequence[int] | None = None,
        batch_size: int = 64,
        output: Any = "uint8",
    ) -> Any: ...

    def arithmetic(
        self,
        plus: Sequence[np.ndarray],
        minus: Sequence[np.ndarray] = (),
        *,
        neighbours: int = 0,
        noise: float = 0.25,
        seed: int = 0,
        output: Any = "uint8",
    ) -> Any: ...
