"""Every `dcgan` command, one module each; a new command is one module and one entry in COMMANDS.

A command module holds HELP (one line), EXAMPLES (its --help epilog), `arguments(parser)` and
`run(args, load)`: it checks its flags, calls `load(precision)` for the Generator when it needs one
(after every check, so a bad flag costs no model load), makes one SDK call, and prints what it did.

>>> sorted(COMMANDS)[:3]
['arithmetic', 'bench', 'generate']
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from dcgan_runtime.cli.commands import arithmetic, bench, generate, info, interpolate, push, serve, site, triton, tune

if TYPE_CHECKING:
    from dcgan_runtime.engine.generator import Generator

Load = Callable[[str | None], "Generator"]  # a precision (None: the file's own) -> the loaded MODEL


class Command(Protocol):
    HELP: str
    EXAMPLES: str
    MODEL: str  # how it takes MODEL: "one" precision, "many" precisions, "many?" (MODEL optional), or "none"

    def arguments(self, c: argparse.ArgumentParser) -> None: ...

    def run(self, a: argparse.Namespace, load: Load) -> None: ...


COMMANDS: dict[str, Command] = {
    "generate": generate,
    "interpolate": interpolate,
    "arithmetic": arithmetic,
    "info": info,
    "serve": serve,
    "site": site,
    "triton": triton,
    "tune": tune,
    "bench": bench,
    "push": push,
}
