"""The `dcgan` command (also `python -m dcgan_runtime`): generate, interpolate, arithmetic, info, serve, site,
triton, tune, bench, push; one module each in `dcgan_runtime.cli.commands`.

MODEL is a file or export folder, `hf://ORG/NAME[@REVISION]` (the Hugging Face Hub) or an https URL
(`#sha256=HEX` pins it); see dcgan_runtime.engine.fetch.

Exit codes: 0 success, 1 failure (bad model file, write error, onnxruntime missing), 2 usage error
(bad arguments). What the library logs (logger "dcgan_runtime") goes to stderr: warnings by default,
-v adds what was loaded and how it runs, -vv debugging detail, -q errors only. Every error is one line.

>>> main(["--version"])   # doctest: +SKIP
dcgan 0.2.0
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from dcgan_runtime import __version__
from dcgan_runtime.cli import args, console
from dcgan_runtime.cli.commands import COMMANDS
from dcgan_runtime.errors import ModelError, ProviderError, UsageError

if TYPE_CHECKING:
    from dcgan_runtime.engine.generator import Generator

__all__ = ["build_parser", "main", "run"]


def build_parser() -> argparse.ArgumentParser:
    """The parser: one subcommand per entry of COMMANDS, each with the flags its module adds."""
    p = args.Parser(prog="dcgan", description="Run an exported DCGAN generator (generator.onnx).")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        c = sub.add_parser(
            name,
            help=command.HELP,
            description=command.HELP,
            epilog=command.EXAMPLES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if command.MODEL != "none":
            args.model(c, command.MODEL)
        command.arguments(c)
        args.logging(c)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run `dcgan` with `argv` (default sys.argv[1:]); returns the exit code (argparse's too: 2, or 0 for --help)."""
    try:
        a = build_parser().parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    level = logging.INFO if a.command == "serve" else logging.WARNING
    with console.logging_to_stderr(a.verbose, a.quiet, level):
        return run(a)


def run(a: argparse.Namespace) -> int:
    """One parsed command: its exit code (errors printed as one line)."""
    try:
        COMMANDS[a.command].run(a, lambda precision: _load(a, precision))
    except (UsageError, ValueError) as e:
        print(f"dcgan {a.command}: error: {e}", file=sys.stderr)
        return 2
    except (ImportError, ModelError, ProviderError, OSError) as e:
        print(f"dcgan {a.command}: error: {e}", file=sys.stderr)
        return 1
    return 0


def _load(a: argparse.Namespace, precision: str | None) -> Generator:
    """The command's MODEL (a path, hf:// or a URL, fetched with a progress bar on a terminal), loaded as its
    flags ask; `dcgan tune` measures afresh, every other command uses a cached CPU plan."""
    from dcgan_runtime.engine.generator import Generator

    return Generator.load(
        a.model,
        device=getattr(a, "device", "cpu"),
        threads=getattr(a, "threads", None),
        precision=precision,
        tune=False if a.command == "tune" else None,
        allow_http=getattr(a, "allow_http", False),
        progress=console.download_progress if sys.stderr.isatty() else None,
    )
