"""The `dcgan` command's flags: one vocabulary for every command, argparse types that check ranges as they
parse, and a parser whose errors are one line (`dcgan generate: error: argument --workers: ...`), never
argparse's usage block.

>>> int_in(1, 64)("8")
8
>>> int_in(1, 64)("0")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: must be in 1..64, got 0
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

from dcgan_runtime import parse
from dcgan_runtime.errors import UsageError
from dcgan_runtime.limits import MAX_THREADS
from dcgan_runtime.metadata import PRECISIONS

if TYPE_CHECKING:
    from dcgan_runtime.engine.generator import Generator

T = TypeVar("T")
MAX_SEEDS = 100_000  # seeds one command may name for an image or a grid (a 64x64 RGB image is 12 KB)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line that names the flag and points at --help."""

    def error(self, message: str) -> NoReturn:
        message = re.sub(r"^argument ([^:]+): ", r"\1 ", message)  # "--shard needs ...", as our own errors read
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in ASCII digits from `low` to `high`."""
    return _in_range(parse.to_int, "an integer", low, high)


def float_in(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a finite decimal number from `low` to `high` (no nan, inf or other scripts' digits)."""
    return _in_range(parse.to_float, "a number", low, high)


N = TypeVar("N", int, float)


def _in_range(convert: Callable[[str], N], kind: str, low: N, high: N) -> Callable[[str], N]:
    def shown(v: float) -> str:
        return f"{v:g}" if convert is parse.to_float else str(v)

    span = f"{shown(low)}..{shown(high)}"

    def check(text: str) -> N:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {kind} in {span}, got {text[:40]!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in {span}, got {shown(value)}")
        return value

    return check


def parsed(parser: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type from one of `dcgan_runtime.parse`'s functions: its ValueError is the flag's error."""

    def check(text: str) -> T:
        try:
            return parser(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return check


def seeds(text: str) -> list[int]:
    """--seeds '0-3,9' -> [0, 1, 2, 3, 9], at most MAX_SEEDS.

    >>> seeds("0-3,9")
    [0, 1, 2, 3, 9]
    """
    return parsed(lambda v: parse.parse_seeds(v, MAX_SEEDS))(text)


def flag(parser: Callable[[str], T], value: str, name: str) -> T:
    """Parse a flag's value after argparse (where one flag's meaning depends on another); errors name it."""
    try:
        return parser(value)
    except (ValueError, argparse.ArgumentTypeError) as e:
        raise UsageError(f"{name} {e}") from None


def model(c: argparse.ArgumentParser, precisions: str = "one") -> None:
    """MODEL and how to run it: every command that loads a generator takes these ("many?": MODEL optional)."""
    optional = precisions.endswith("?")
    c.add_argument(
        "model",
        nargs="?" if optional else None,
        help="generator.onnx from `python -m export`, its --outdir folder, hf://ORG/NAME[@REV] or an https URL",
    )
    precisions = precisions.rstrip("?")
    if precisions == "one":
        c.add_argument(
            "--precision",
            choices=(*PRECISIONS, "auto"),
            help="the file to use in a folder (default fp32); for a file, checked against it; auto: the "
            "folder's file that `dcgan tune FOLDER --precision auto` measured fastest here (else fp32); bf16 "
            "runs on OpenVINO on CPUs with AMX or AVX512-BF16",
        )
    else:
        c.add_argument(
            "--precision",
            type=parsed(lambda v: parse.parse_choices(v, PRECISIONS)),
            help="comma-separated precisions, e.g. fp32,fp16,int8: each file of an export folder in turn "
            "(default: fp32 in a folder, the file's own for a file)",
        )
    c.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N, tensorrt or tensorrt:N")
    c.add_argument("--threads", type=int_in(1, MAX_THREADS), help="CPU threads for onnxruntime")
    c.add_argument("--allow-http", action="store_true", help="allow a plain http:// MODEL URL that is not loopback")


def logging(c: argparse.ArgumentParser) -> None:
    c.add_argument("-v", "--verbose", action="count", default=0, help="say what was loaded and how it runs (-vv more)")
    c.add_argument("-q", "--quiet", action="store_true", help="log errors only (the command's own output stays)")


def output(c: argparse.ArgumentParser) -> None:
    c.add_argument("--out", required=True, help="output file")
    c.add_argument("--force", action="store_true", help="overwrite existing output files")


def output_file(path: str, force: bool, suffixes: tuple[str, ...]) -> Path:
    """--out: a file name with one of `suffixes`, not there already unless --force."""
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise UsageError(f"--out {path!r} must end in one of {', '.join(suffixes)}")
    if out.exists() and not force:
        raise UsageError(f"{path!r} exists: pass --force to overwrite it")
    return out


def worker_model(model: str, g: Generator) -> str:
    """The MODEL other processes (Ray actors, Serve replicas) load: a Hub or URL model as given (each fetches
    it, or finds it in its cache), a file by its absolute path."""
    from dcgan_runtime.engine import fetch

    return model if fetch.is_remote(model) else str(g.path.resolve())
