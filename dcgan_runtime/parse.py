"""Parsing what people type: seed lists (`0-63,99`) and grids (`8x4`), as StyleGAN's gen_images.py reads them.

Errors are plain ValueErrors that read after the name of what was parsed ("--seeds " + message on
the command line, "seeds " + message in the server), so each caller words them for its users.
The size of a seed list is computed from its ranges before anything is expanded, so a short
string cannot ask for a huge list.

>>> parse_seeds("0-3,9", limit=100)
[0, 1, 2, 3, 9]
>>> parse_grid("8x4")
(8, 4)
"""

from __future__ import annotations

import re

from dcgan_runtime.latent import MAX_SEED

MAX_SPEC_CHARS = 10_000  # a longer seed list or grid string is refused before it is parsed
_INT = re.compile(r"[+-]?[0-9]{1,20}")  # ASCII digits only: int() also takes "٣", "1_0" and padding
_FLOAT = re.compile(r"[+-]?([0-9]{1,20}(\.[0-9]{0,20})?|\.[0-9]{1,20})([eE][+-]?[0-9]{1,3})?")


def to_int(text: str) -> int:
    """An integer written in ASCII digits, or ValueError (the caller words it); `int()` takes far more.

    >>> to_int("-12")
    -12
    """
    if not isinstance(text, str) or not _INT.fullmatch(text.strip()):
        raise ValueError(f"not an integer: {str(text)[:40]!r}")
    return int(text)


def to_float(text: str) -> float:
    """A finite decimal number in ASCII (no 'nan', 'inf', '1_0' or other scripts' digits), or ValueError."""
    if not isinstance(text, str) or not _FLOAT.fullmatch(text.strip()):
        raise ValueError(f"not a number: {str(text)[:40]!r}")
    return float(text)


def seed_ranges(spec: str) -> list[tuple[int, int]]:
    """'0-3,9' -> [(0, 3), (9, 9)]: inclusive ranges, each checked, nothing expanded."""
    if not isinstance(spec, str):
        raise ValueError(f"must be a string like 0-63 or 1,5,9, got {type(spec).__name__}")
    if len(spec) > MAX_SPEC_CHARS:
        raise ValueError(f"is {len(spec):,} characters long; at most {MAX_SPEC_CHARS:,}")
    ranges = []
    for part in spec.split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                lo, hi = (to_int(v) for v in part.split("-", 1))
            else:
                lo = hi = to_int(part)
        except ValueError:
            raise ValueError(f"takes numbers and ranges like 0-63 or 1,5,9; got {spec[:80]!r}") from None
        for s in (lo, hi):
            if not 0 <= s <= MAX_SEED:
                raise ValueError(f"names seed {s}, outside 0..{MAX_SEED}")
        if hi < lo:
            raise ValueError(f"has a range {part!r} that runs backwards")
        ranges.append((lo, hi))
    return ranges


def count_seeds(spec: str) -> int:
    """How many seeds `spec` names, without expanding it.

    >>> count_seeds("0-99999,0-99999")
    200000
    """
    return sum(hi - lo + 1 for lo, hi in seed_ranges(spec))


def parse_seeds(spec: str, limit: int) -> list[int]:
    """The seeds `spec` names, in order; more than `limit` is an error raised before the list is built."""
    ranges = seed_ranges(spec)
    total = sum(hi - lo + 1 for lo, hi in ranges)
    if total > limit:
        raise ValueError(f"names {total:,} seeds, longer than the limit of {limit:,}")
    return [s for lo, hi in ranges for s in range(lo, hi + 1)]


def parse_grid(spec: str, limit: int = 4096) -> tuple[int, int]:
    """'8x4' -> (8 columns, 4 rows); each side 1..limit."""
    try:
        if len(spec) > 32:
            raise ValueError
        cols, rows = (to_int(v) for v in spec.lower().split("x"))
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"must look like COLSxROWS, e.g. 8x8; got {str(spec)[:40]!r}") from None
    if not (1 <= cols <= limit and 1 <= rows <= limit):
        raise ValueError(f"needs 1 to {limit} columns and rows, got {spec!r}")
    return cols, rows


def parse_ints(spec: str, limit: int) -> list[int]:
    """'1,8,64' -> [1, 8, 64]: positive integers, each at most `limit`."""
    try:
        values = [to_int(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"takes comma-separated integers, got {spec[:80]!r}") from None
    if not values or min(values) < 1 or max(values) > limit:
        raise ValueError(f"takes positive integers up to {limit:,}, got {spec[:80]!r}")
    return values


def parse_share(spec: str) -> tuple[int, int]:
    """'2/4' -> (2, 4): share I of N, 1 <= I <= N.

    >>> parse_share("1/2")
    (1, 2)
    """
    try:
        if len(spec) > 32:
            raise ValueError
        i, n = (to_int(v) for v in spec.split("/"))
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"must look like I/N, e.g. 1/4; got {str(spec)[:40]!r}") from None
    if not 1 <= i <= n <= 1_000_000:
        raise ValueError(f"needs 1 <= I <= N <= 1000000, got {spec!r}")
    return i, n


def parse_choices(spec: str, choices: tuple[str, ...]) -> list[str]:
    """'fp32,int8' -> ['fp32', 'int8']: distinct values, each one of `choices`.

    >>> parse_choices("fp32,int8", ("fp32", "fp16", "int8"))
    ['fp32', 'int8']
    """
    values = [v.strip() for v in spec.split(",")]
    if not all(v in choices for v in values) or len(set(values)) != len(values):
        raise ValueError(f"takes distinct values of {', '.join(choices)}, got {spec[:80]!r}")
    return values
