"""`dcgan interpolate`: walk the latent space between seeds, as a GIF or a PNG strip."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from dcgan_runtime import latent
from dcgan_runtime.cli import args
from dcgan_runtime.errors import UsageError
from dcgan_runtime.images import MAX_FPS, MIN_FPS, save_gif, save_grid

if TYPE_CHECKING:
    from dcgan_runtime.cli.commands import Load

HELP = "Walk the latent space between seeds: a GIF, or a PNG strip."
MODEL = "one"
MAX_FRAMES = 10_000  # frames of one walk (steps per leg x legs)
EXAMPLES = """examples:
  dcgan interpolate generator.onnx --seeds 3,7 --steps 16 --out walk.gif
  dcgan interpolate generator.onnx --seeds 1,2,3,4 --steps 24 --out loop.gif   # a loop through all four
  dcgan interpolate generator.onnx --seeds 3,7 --steps 8 --method lerp --out strip.png"""


def arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument("--seeds", required=True, type=args.seeds, help="two seeds (a walk) or more (a loop through them)")
    c.add_argument("--steps", type=args.int_in(2, MAX_FRAMES), default=16, help="frames per leg, ends included")
    c.add_argument("--method", choices=("slerp", "lerp"), default="slerp", help="default slerp")
    c.add_argument("--fps", type=args.float_in(MIN_FPS, MAX_FPS), default=12.0, help="GIF frame rate (default 12)")
    args.output(c)


def run(a: argparse.Namespace, load: Load) -> None:
    if len(a.seeds) < 2:
        raise UsageError("--seeds needs at least two seeds to walk between")
    if a.steps * len(a.seeds) > MAX_FRAMES:
        too_many = f"--steps {a.steps} over {len(a.seeds)} seeds makes more than {MAX_FRAMES:,} frames"
        raise UsageError(f"{too_many}: use fewer steps or seeds")
    out = args.output_file(a.out, a.force, (".gif", ".png"))
    g = load(a.precision)
    frames = g.decode(latent.walk(g.latents(seeds=a.seeds), a.steps, a.method))
    if out.suffix.lower() == ".gif":
        save_gif(frames, out, fps=a.fps, force=a.force)
    else:
        save_grid(frames, out, nrow=len(frames), force=a.force)
    print(f"wrote {out} ({len(frames)} frames)")
