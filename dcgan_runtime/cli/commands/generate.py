"""`dcgan generate`: one image per seed, as a grid (--out) and/or every image in shards (--outdir)."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dcgan_runtime import parse
from dcgan_runtime.cli import args, console
from dcgan_runtime.errors import UsageError
from dcgan_runtime.images import check_canvas, grid_shape, save_grid
from dcgan_runtime.limits import MAX_BATCH
from dcgan_runtime.scale import shards
from dcgan_runtime.scale.formats import FORMATS
from dcgan_runtime.scale.seeds import SeedSet

if TYPE_CHECKING:
    from dcgan_runtime.cli.commands import Load
    from dcgan_runtime.engine.generator import Generator

HELP = "Generate one image per seed, as a grid and/or as separate files."
MODEL = "one"
EXAMPLES = """examples:
  dcgan generate generator.onnx --seeds 0-63 --grid 8x8 --out grid.png
  dcgan generate generator.onnx --seeds 0-9,42 --outdir imgs/          # imgs/00000/seed0042.png, ...
  dcgan generate generator.onnx --seeds 0-999999 --outdir data/ --format tar   # WebDataset shards, streamed
  dcgan generate generator.onnx --seeds 0-999999 --outdir data/ --format tar --shard 1/4   # a quarter of it
  dcgan generate generator.onnx --seeds 0-999999 --outdir data/ --format parquet --engine ray --workers 4
(--outdir writes shards atomically and resumes: rerun the same command after a crash)"""


def arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument("--seeds", default="0-15", help="seeds, e.g. 0-63 or 1,5,9 (default 0-15)")
    c.add_argument("--grid", type=args.parsed(parse.parse_grid), help="COLSxROWS for --out, e.g. 8x8")
    c.add_argument("--outdir", help="also write every image here, in shards (any number of seeds; resumable)")
    c.add_argument(
        "--format",
        choices=tuple(FORMATS),
        default="png",
        help="for --outdir: png (NNNNN/seedSSSS.png), tar (WebDataset shards), npy (uint8 NHWC), parquet "
        "(seed, png); default png",
    )
    c.add_argument(
        "--shard-size", type=args.int_in(1, shards.MAX_SHARD), default=1000, help="seeds per shard (default 1000)"
    )
    c.add_argument("--shard", metavar="I/N", type=args.parsed(parse.parse_share), help="write share I of N")
    c.add_argument("--engine", choices=("local", "ray"), default="local", help="local (default) or ray (Ray Data)")
    c.add_argument("--address", help="with --engine ray: the cluster to join (default: start a local one)")
    c.add_argument("--workers", type=args.int_in(1, 1024), default=2, help="with --engine ray: actors (default 2)")
    c.add_argument("--batch-size", type=args.int_in(1, MAX_BATCH), default=64, help="images per call (default 64)")
    c.add_argument("--out", help="a grid of the images (at most 100,000 seeds)")
    c.add_argument("--force", action="store_true", help="overwrite --out; replace another run in --outdir")


def run(a: argparse.Namespace, load: Load) -> None:
    if not a.out and not a.outdir:
        raise UsageError("give --out FILE (a grid) and/or --outdir DIR (every image, in shards)")
    if not a.outdir and (a.shard or a.engine != "local" or a.format != "png" or a.address):
        raise UsageError("--format, --shard, --engine and --address are for --outdir")
    plan = _plan(a) if a.outdir else None
    grid = _grid(a) if a.out else None
    g = load(a.precision)
    if grid is not None:
        out, seeds, cols = grid
        try:
            check_canvas(*grid_shape(len(seeds), g.metadata.image_size, cols), out)
        except ValueError as e:
            raise UsageError(f"--out {a.out!r}: {e}") from None
    claim = shards.prepare(Path(a.outdir), plan, plan.manifest(g.sha256, g.metadata), a.force) if plan else None
    with claim or contextlib.nullcontext():  # this share of --outdir is this process's until it ends
        if grid is not None:
            save_grid(g.generate(seeds=seeds, batch_size=a.batch_size), out, nrow=cols, force=a.force)
            print(f"wrote {out} ({len(seeds)} images, {cols} per row)")
        if plan is not None:
            _write_shards(a, g, plan)


def _plan(a: argparse.Namespace) -> shards.Plan:
    """The shards to write, checked before the model is loaded."""
    seeds = args.flag(SeedSet.parse, a.seeds, "--seeds")
    return shards.Plan(seeds, a.format, a.shard_size, a.shard or (1, 1))


def _grid(a: argparse.Namespace) -> tuple[Path, list[int], int]:
    """--out's file, seeds and columns, checked before the model is loaded."""
    seeds = args.flag(args.seeds, a.seeds, "--seeds")
    if a.grid:
        cols, rows = a.grid
        if cols * rows != len(seeds):
            raise UsageError(f"--grid {cols}x{rows} holds {cols * rows} images but --seeds gives {len(seeds)}")
    else:
        cols = int(np.ceil(np.sqrt(len(seeds))))
    return args.output_file(a.out, a.force, (".png", ".jpg", ".jpeg", ".webp")), seeds, cols


def _write_shards(a: argparse.Namespace, g: Generator, plan: shards.Plan) -> None:
    outdir, bar = Path(a.outdir), console.bar()
    if a.engine == "ray":
        from dcgan_runtime.scale import ray_data

        summary = ray_data.write(
            args.worker_model(a.model, g), plan, outdir, address=a.address, workers=a.workers, device=a.device,
            precision=g.metadata.precision, batch_size=a.batch_size, progress=bar,
        )  # fmt: skip
    else:
        summary = shards.write_shards(g, plan, outdir, plan.mine(), batch_size=a.batch_size, progress=bar)
    if bar is not None:
        bar.finish()
    print(summary.line(outdir, plan))
