"""A set of seeds as its ranges: its length and any slice of it without expanding the whole.

`--seeds 0-999999999` names a billion images; a list of them would be 8 GB before the first image.

>>> s = SeedSet.parse("0-4,10,20-21")
>>> len(s), s.take(4, 7), str(s)
(8, [4, 10, 20], '0-4,10,20-21')
>>> s.at(np.array([0, 7])).tolist()
[0, 21]
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

import numpy as np

from dcgan_runtime import parse


class SeedSet:
    """Seeds in the order their ranges name them (repeats allowed, as in a --seeds list)."""

    def __init__(self, ranges: list[tuple[int, int]]) -> None:
        if not ranges:
            raise ValueError("names no seeds")
        self.ranges = ranges
        self._starts = [0]  # index of each range's first seed in the whole
        for lo, hi in ranges:
            self._starts.append(self._starts[-1] + hi - lo + 1)

    @classmethod
    def parse(cls, spec: str) -> SeedSet:
        """From a --seeds string ('0-99999,123'); errors read after the flag's name."""
        return cls(parse.seed_ranges(spec))

    def __len__(self) -> int:
        return self._starts[-1]

    def __str__(self) -> str:
        return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in self.ranges)

    def __iter__(self) -> Iterator[int]:
        for lo, hi in self.ranges:
            yield from range(lo, hi + 1)

    def take(self, start: int, stop: int) -> list[int]:
        """Seeds [start, stop) of the whole, as a list."""
        out: list[int] = []
        i = max(0, bisect.bisect_right(self._starts, start) - 1)
        while start < stop and i < len(self.ranges):
            lo, hi = self.ranges[i]
            first = lo + (start - self._starts[i])
            last = min(hi, lo + (stop - 1 - self._starts[i]))
            out.extend(range(first, last + 1))
            start, i = self._starts[i + 1], i + 1
        return out

    def at(self, indices: np.ndarray) -> np.ndarray:
        """The seeds at positions `indices` (int64), vectorised."""
        indices = np.asarray(indices, np.int64)
        starts = np.asarray(self._starts[:-1], np.int64)
        which = np.searchsorted(starts, indices, side="right") - 1
        lows = np.asarray([lo for lo, _ in self.ranges], np.int64)
        return lows[which] + (indices - starts[which])
