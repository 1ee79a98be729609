"""What the `dcgan` command shows on a terminal: progress bars, the library's log as `dcgan: ...` lines,
and text from models and users with control characters shown, not obeyed.

>>> printable("ok\\x1b[2J")
'ok\\\\x1b[2J'
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator


class Bar:
    """A progress bar with images/s on a terminal (stderr), rewritten in place."""

    def __init__(self) -> None:
        self.start, self.shown = time.perf_counter(), False

    def __call__(self, done: int, total: int) -> None:
        rate = done / max(time.perf_counter() - self.start, 1e-9)
        filled = int(30 * done / total) if total else 30
        left = f", {(total - done) / rate:.0f} s left" if rate and total > done else ""
        print(
            f"\r[{'#' * filled}{'.' * (30 - filled)}] {done:,}/{total:,} images, {rate:,.0f} images/s{left}   ",
            end="",
            file=sys.stderr,
            flush=True,
        )
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            print(file=sys.stderr)


def bar() -> Bar | None:
    """A Bar when stderr is a terminal; None otherwise (the command prints one summary line instead)."""
    return Bar() if sys.stderr.isatty() else None


def download_progress(done: int, total: int | None) -> None:
    """A download's progress on a terminal, rewritten in place."""
    size = f"{done / 1e6:.1f} of {total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
    share = f"{100 * done // total:3d}% " if total else ""
    end = "\n" if total and done >= total else ""
    print(f"\rdownloading {share}{size}", end=end, file=sys.stderr, flush=True)


def printable(text: str) -> str:
    """`text` with control characters (terminal escape codes, say) shown escaped instead of obeyed."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class _Format(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        return f"dcgan: {level}{record.getMessage()}"


@contextlib.contextmanager
def logging_to_stderr(verbose: int, quiet: bool, default: int = logging.WARNING) -> Iterator[None]:
    """The library's logger ("dcgan_runtime") to stderr at the level -v/-q ask for, for one command;
    restored afterwards, so a program that calls `main()` keeps its own logging set-up."""
    level = logging.ERROR if quiet else {0: default, 1: min(default, logging.INFO)}.get(verbose, logging.DEBUG)
    logger = logging.getLogger("dcgan_runtime")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Format())
    logger.handlers[:], logger.propagate = [handler], False
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.handlers[:], logger.propagate = saved[0], saved[2]
        logger.setLevel(saved[1])
