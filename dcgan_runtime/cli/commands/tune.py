"""`dcgan tune`: measure how this CPU runs each batch size fastest, and cache the plan for later loads."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from dcgan_runtime.cli import args

if TYPE_CHECKING:
    from dcgan_runtime.cli.commands import Load

HELP = "Measure how this CPU runs each batch size fastest, and cache the plan for later loads."
MODEL = "one"
EXAMPLES = """examples:
  dcgan tune generator.onnx                  # about 25 s on 2 cores; later loads of this file use it
  dcgan tune generator.onnx --threads 4      # a plan is per thread count: tune the one you will run
  dcgan info generator.onnx                  # says which plan a load uses
(the plan is cached in $DCGAN_CACHE or ~/.cache/dcgan/tune/, keyed by the model file, onnxruntime
 version, CPU and thread count; images are bit-identical whatever it chooses)"""


def arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument(
        "--seconds",
        type=args.float_in(0.05, 60),
        default=1.5,
        help="measuring time per batch size, 0.05-60 (default 1.5); all of it, rematches included, "
        "takes at most about 14x this, plus building the sessions",
    )


def run(a: argparse.Namespace, load: Load) -> None:
    from dcgan_runtime.engine import tune

    g = load(a.precision)
    table = g.tune(seconds_per_size=a.seconds)
    assert g.plan is not None  # tune() raises on CUDA
    print(tune.report(table, g.plan))
    print(f"plan: {g.plan.describe()}")
