"""`dcgan arithmetic`: latent vector arithmetic, each term the mean latent of its seeds (the paper's figure)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from dcgan_runtime.cli import args
from dcgan_runtime.errors import UsageError
from dcgan_runtime.images import save_image
from dcgan_runtime.latent import MAX_NOISE

if TYPE_CHECKING:
    from dcgan_runtime.cli.commands import Load

HELP = "Latent vector arithmetic: + and - terms, each the mean of its seeds' latents."
MODEL = "one"
MAX_TERMS = 16  # + and - terms in all
MAX_TERM_SEEDS = 10_000  # seeds named by all the terms together
EXAMPLES = """examples:
  dcgan arithmetic generator.onnx --plus 1,2,3 --minus 4,5,6 --plus 7,8,9 --out result.png
    (each term is the mean latent of its seeds; the figure shows each term's samples and mean,
     then the result and 8 neighbours with small noise)"""


def arguments(c: argparse.ArgumentParser) -> None:
    for flag, words in (("--plus", "a + term's seeds, e.g. 1,2,3"), ("--minus", "a - term's seeds")):
        c.add_argument(flag, action="append", type=args.seeds, default=[], help=f"{words} (repeatable)")
    noise = "the neighbours' noise std (default 0.25)"
    c.add_argument("--noise", type=args.float_in(0, MAX_NOISE), default=0.25, help=noise)
    args.output(c)


def run(a: argparse.Namespace, load: Load) -> None:
    from dcgan_runtime.engine.figures import arithmetic_sheet

    if not a.plus:
        raise UsageError("give at least one --plus term")
    if len(a.plus) + len(a.minus) > MAX_TERMS:
        raise UsageError(f"at most {MAX_TERMS} --plus and --minus terms in all")
    if sum(map(len, a.plus + a.minus)) > MAX_TERM_SEEDS:
        raise UsageError(f"the terms name more than {MAX_TERM_SEEDS:,} seeds in all")
    out = args.output_file(a.out, a.force, (".png", ".jpg", ".jpeg", ".webp"))
    save_image(arithmetic_sheet(load(a.precision), a.plus, a.minus, a.noise), out, force=a.force)
    print(
        f"wrote {out}: rows are the terms ({len(a.plus)} plus, {len(a.minus)} minus: samples, then mean), "
        "last row the result and 8 neighbours"
    )
