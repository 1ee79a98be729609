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
  dcgan tune runs/faces/export --precision auto   # fp32, int8 or bf16: the folder's fastest file here,
                                                  # loaded by --precision auto from then on
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

    if a.precision == "auto":
        _choose_precision(a, load)
        return
    g = load(a.precision)
    table = g.tune(seconds_per_size=a.seconds)
    assert g.plan is not None  # tune() raises on CUDA
    print(tune.report(table, g.plan))
    print(f"plan: {g.plan.describe()}")


def _choose_precision(a: argparse.Namespace, load: Load) -> None:
    from pathlib import Path

    from dcgan_runtime.engine import precision
    from dcgan_runtime.engine.session import available_cpus
    from dcgan_runtime.errors import UsageError

    folder = Path(a.model)
    if not folder.is_dir():
        raise UsageError(f"--precision auto takes an export folder (it picks one of its files), got {a.model!r}")
    choice = precision.choose(folder, load, a.threads or available_cpus(), seconds=a.seconds)
    sizes = sorted({n for r in choice.rates.values() for n in r})
    print(f"{'precision':<10}" + "".join(f"{'batch ' + str(n):>12}" for n in sizes) + "   images/s, median of 5 rounds")
    for p, r in choice.rates.items():
        print(f"{p:<10}" + "".join(f"{r[n]:>12,.0f}" for n in sizes) + ("   chosen" if p == choice.precision else ""))
    for p, why in choice.skipped.items():
        print(f"{p:<10}not measured: {why}")
    print(f"precision auto: {choice.precision} ({choice.source})")
