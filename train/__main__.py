"""`python -m train`: the command is train/cli.py. Ctrl-C while torch loads (seconds) ends it with one
line, not an import traceback; from set-up on, train.cli handles the signal itself."""

import signal
import sys


def _interrupted(_signum: int, _frame: object) -> None:
    print("\ninterrupted before training started: nothing was trained or saved", file=sys.stderr)
    raise SystemExit(128 + signal.SIGINT)


signal.signal(signal.SIGINT, _interrupted)
from train.cli import main  # noqa: E402  (after the handler: this import is the slow part)

signal.signal(signal.SIGINT, signal.default_int_handler)
sys.exit(main())
