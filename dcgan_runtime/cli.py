"""The `dcgan` command (also `python -m dcgan_runtime`): generate, interpolate, arithmetic, info, tune, bench,
serve, site, push.

MODEL is a file or export folder, `hf://ORG/NAME[@REVISION]` (the Hugging Face Hub) or an https URL
(`#sha256=HEX` pins it); see dcgan_runtime.hub.

Exit codes: 0 success, 1 failure (bad model file, write error, onnxruntime missing), 2 usage error
(bad arguments). What the library logs (logger "dcgan_runtime") goes to stderr: warnings by default,
-v adds what was loaded and how it runs, -vv debugging detail, -q errors only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from dcgan_runtime import __version__, hub, parse, tune
from dcgan_runtime.errors import ModelError, ProviderError, UsageError
from dcgan_runtime.images import (
    MAX_FPS,
    MIN_FPS,
    check_canvas,
    grid_shape,
    make_grid,
    save_gif,
    save_grid,
    save_image,
)
from dcgan_runtime.latent import MAX_NOISE

if TYPE_CHECKING:
    from dcgan_runtime.generator import Generator

T = TypeVar("T")
MAX_SEEDS = 100_000  # seeds one command may name (a 64x64 RGB image is 12 KB: 1.2 GB of pixels)
MAX_FRAMES = 10_000  # frames of one interpolation (steps per leg x legs)
MAX_TERMS = 16  # arithmetic: + and - terms (the neighbours' noise is bounded by latent.MAX_NOISE)
MAX_BATCH_SIZES = 4096  # the largest --batch-sizes / --batch-size value (dcgan_runtime.generator.MAX_BATCH)

EXAMPLES = {
    "generate": """examples:
  dcgan generate generator.onnx --seeds 0-63 --grid 8x8 --out grid.png
  dcgan generate generator.onnx --seeds 0-9,42 --outdir imgs/          # imgs/00000/seed0042.png, ...
  dcgan generate generator.onnx --seeds 0-999999 --outdir data/ --format tar   # WebDataset shards, streamed
  dcgan generate generator.onnx --seeds 0-999999 --outdir data/ --format tar --shard 1/4   # a quarter of it
  dcgan generate generator.onnx --seeds 0-999999 --outdir data/ --format parquet --engine ray --workers 4
(--outdir writes shards atomically and resumes: rerun the same command after a crash)""",
    "interpolate": """examples:
  dcgan interpolate generator.onnx --seeds 3,7 --steps 16 --out walk.gif
  dcgan interpolate generator.onnx --seeds 1,2,3,4 --steps 24 --out loop.gif   # a loop through all four
  dcgan interpolate generator.onnx --seeds 3,7 --steps 8 --method lerp --out strip.png""",
    "arithmetic": """examples:
  dcgan arithmetic generator.onnx --plus 1,2,3 --minus 4,5,6 --plus 7,8,9 --out result.png
    (each term is the mean latent of its seeds; the figure shows each term's samples and mean,
     then the result and 8 neighbours with small noise)""",
    "info": """examples:
  dcgan info generator.onnx
  dcgan info generator.onnx --device cuda --json
  dcgan info hf://acme/faces@v1 --precision int8          # a model on the Hugging Face Hub
  dcgan info https://example.org/generator.onnx#sha256=9f2c...   # a pinned URL, downloaded once""",
    "triton": """examples:
  dcgan triton runs/faces/export --out models/               # models/dcgan/config.pbtxt, 1/model.onnx
  dcgan triton runs/faces/export --out models/ --kind gpu --model-name faces
  tritonserver --model-repository models/                    # then any OIP client: docs/serving.md""",
    "push": """examples:
  dcgan push runs/faces/export acme/faces                  # then: dcgan generate hf://acme/faces ...
  dcgan push runs/faces/export acme/faces --private --revision v1
(needs the [hub] extra and a Hub token: hf auth login, or HF_TOKEN; the folder must be a complete
 export: model card, generator.onnx, passed parity.json)""",
    "serve": """examples:
  dcgan serve generator.onnx                     # then open http://127.0.0.1:8000/
  dcgan serve generator.onnx --allow-host dcgan.lan --port 8080   # also answer to that name
  dcgan serve generator.onnx --host 0.0.0.0 --workers 4   # other machines can reach it: mind who can
  dcgan serve generator.onnx --engine ray --replicas 2    # Ray Serve replicas (a local Ray, or --address)
  dcgan serve generator.onnx --engine ray --autoscaling '{"min_replicas": 1, "max_replicas": 4}'
(needs the [serve] extra: pip install 'dcgan[serve]'; --engine ray also [ray]. The Open Inference
 Protocol answers under /v2: a Triton/KServe client works against it, docs/serving.md)""",
    "site": """examples:
  dcgan site runs/demo/export --out site/              # then publish site/ on any static host
  dcgan site runs/demo/export --precision int8 --out site-int8/ --ort-web node_modules/onnxruntime-web
  python -m http.server -d site/ 8000                  # try it: http://127.0.0.1:8000/
(onnxruntime-web is pinned and checked by sha256; without --ort-web, npm fetches it once into the cache)""",
    "tune": """examples:
  dcgan tune generator.onnx                  # about 25 s on 2 cores; later loads of this file use it
  dcgan tune generator.onnx --threads 4      # a plan is per thread count: tune the one you will run
  dcgan info generator.onnx                  # says which plan a load uses
(the plan is cached in $DCGAN_CACHE or ~/.cache/dcgan/tune/, keyed by the model file, onnxruntime
 version, CPU and thread count; images are bit-identical whatever it chooses)""",
    "bench": """examples:
  dcgan bench generator.onnx --batch-sizes 1,8,64,256
  dcgan bench generator.onnx --threads 2 --rounds 50
  dcgan bench runs/faces/export --precision fp32,fp16,int8 --json > bench.json   # each file in the folder
  dcgan bench generator.onnx --csv >> history.csv""",
}


def parse_seeds(spec: str) -> list[int]:
    """--seeds '0-3,9' -> [0, 1, 2, 3, 9], at most MAX_SEEDS; errors name the flag.

    >>> parse_seeds("0-3,9")
    [0, 1, 2, 3, 9]
    """
    try:
        return parse.parse_seeds(spec, MAX_SEEDS)
    except ValueError as e:
        raise UsageError(f"--seeds {e}") from None


def _flag(parser: Callable[[str], T], value: str, flag: str) -> T:
    """Run one of the `parse` functions on a flag's value; its error, named after the flag, is a UsageError."""
    try:
        return parser(value)
    except ValueError as e:
        raise UsageError(f"{flag} {e}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dcgan", description="Run an exported DCGAN generator (generator.onnx).")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, precisions: str = "one") -> argparse.ArgumentParser:
        c = sub.add_parser(
            name,
            help=help,
            description=help,
            epilog=EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        c.add_argument(
            "model",
            help="generator.onnx from `python -m export`, its --outdir folder, hf://ORG/NAME[@REV] or an https URL",
        )
        if precisions == "one":
            c.add_argument(
                "--precision",
                choices=("fp32", "fp16", "int8"),
                help="the file to use in a folder (default fp32); for a file, checked against it",
            )
        else:
            c.add_argument(
                "--precision",
                help="comma-separated precisions, e.g. fp32,fp16,int8: each file of an export folder in turn "
                "(default: fp32 in a folder, the file's own for a file)",
            )
        c.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N, tensorrt or tensorrt:N")
        c.add_argument("--threads", type=int, help="CPU threads for onnxruntime")
        c.add_argument("--allow-http", action="store_true", help="allow a plain http:// MODEL URL that is not loopback")
        logging_flags(c)
        return c

    def logging_flags(c: argparse.ArgumentParser) -> None:
        c.add_argument(
            "-v", "--verbose", action="count", default=0, help="say what was loaded and how it runs (-vv more)"
        )
        c.add_argument("-q", "--quiet", action="store_true", help="log errors only (the command's own output stays)")

    def output(c: argparse.ArgumentParser) -> None:
        c.add_argument("--out", required=True, help="output file")
        c.add_argument("--force", action="store_true", help="overwrite existing output files")

    c = command("generate", "Generate one image per seed, as a grid and/or as separate files.")
    c.add_argument("--seeds", default="0-15", help="seeds, e.g. 0-63 or 1,5,9 (default 0-15)")
    c.add_argument("--grid", help="COLSxROWS for --out, e.g. 8x8 (default: as square as fits)")
    c.add_argument("--outdir", help="also write every image here, in shards (any number of seeds; resumable)")
    c.add_argument(
        "--format",
        choices=("png", "tar", "npy", "parquet"),
        default="png",
        help="for --outdir: png (NNNNN/seedSSSS.png), tar (WebDataset shards), npy (uint8 NHWC), parquet "
        "(seed, png); default png",
    )
    c.add_argument("--shard-size", type=int, default=1000, help="seeds per shard, 1-100000 (default 1000)")
    c.add_argument("--shard", metavar="I/N", help="write only share I of N of the shards (1 <= I <= N)")
    c.add_argument("--engine", choices=("local", "ray"), default="local", help="local (default) or ray (Ray Data)")
    c.add_argument("--address", help="with --engine ray: the cluster to join (default: start a local one)")
    c.add_argument("--workers", type=int, default=2, help="with --engine ray: actors, one model load each (default 2)")
    c.add_argument("--batch-size", type=int, default=64, help="images per inference call (default 64)")
    c.add_argument("--out", help="a grid of the images (at most 100,000 seeds)")
    c.add_argument("--force", action="store_true", help="overwrite --out; replace another run in --outdir")
    c = command("interpolate", "Walk the latent space between seeds: a GIF, or a PNG strip.")
    c.add_argument("--seeds", required=True, help="two seeds (a walk) or more (a closed loop through them)")
    c.add_argument("--steps", type=int, default=16, help="frames per leg, endpoints included (default 16)")
    c.add_argument("--method", choices=("slerp", "lerp"), default="slerp", help="default slerp")
    c.add_argument("--fps", type=float, default=12.0, help="GIF frame rate (default 12)")
    output(c)
    c = command("arithmetic", "Latent vector arithmetic: + and - terms, each the mean of its seeds' latents.")
    c.add_argument("--plus", action="append", default=[], help="seeds of a + term, e.g. 1,2,3 (repeatable)")
    c.add_argument("--minus", action="append", default=[], help="seeds of a - term (repeatable)")
    c.add_argument("--noise", type=float, default=0.25, help="std of the 8 neighbours' noise (default 0.25)")
    output(c)
    c = command("info", "Print the model's metadata and the requested vs active execution providers.")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c = command("serve", "A latent-space explorer in the browser, and its HTTP API, on this machine.")
    c.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    c.add_argument("--port", type=int, default=8000, help="default 8000 (0: any free port)")
    c.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a name the Host header may carry besides the bound address and localhost (repeatable)",
    )
    c.add_argument("--workers", type=int, default=1, help="server processes, each with its own model (default 1)")
    c.add_argument("--max-inflight", type=int, default=64, help="requests answered at once; more get 503 (default 64)")
    c.add_argument("--max-batch", type=int, default=256, help="latents per batched model call (default 256)")
    c.add_argument(
        "--max-wait-ms",
        type=float,
        default=0.0,
        help="how long a decode waits to be batched with others (default 0: what queued while the model was busy)",
    )
    c.add_argument("--no-batching", action="store_true", help="decode each request on its own")
    c.add_argument(
        "--model-name", default="dcgan", help="the model's name in the /v2 inference protocol (default dcgan)"
    )
    c.add_argument(
        "--engine", choices=("local", "ray"), default="local", help="local (uvicorn, default) or ray (Serve)"
    )
    c.add_argument("--replicas", type=int, default=2, help="with --engine ray: Serve replicas, 1-64 (default 2)")
    c.add_argument("--autoscaling", metavar="JSON", help="with --engine ray: Serve's autoscaling_config, as JSON")
    c.add_argument("--address", help="with --engine ray: the Ray cluster to join (default: start a local one)")
    c = command("site", "Write a static site that runs the model in the visitor's browser (onnxruntime-web).")
    c.add_argument("--out", required=True, help="folder for the site")
    c.add_argument("--ort-web", metavar="PATH", help="onnxruntime-web's package folder, dist/ folder or .tgz")
    c.add_argument("--no-webgpu", action="store_true", help="leave out the WebGPU build (28 MB): WebAssembly only")
    c.add_argument("--force", action="store_true", help="replace the site an --out folder holds")
    c = command("triton", "Write a Triton/KServe model repository for the model (config.pbtxt, model.onnx).")
    c.add_argument("--out", required=True, help="the model repository folder (other models in it are left alone)")
    c.add_argument("--kind", choices=("cpu", "gpu"), default="cpu", help="instance_group kind (default cpu)")
    c.add_argument("--model-name", default="dcgan", help="the model's folder and name (default dcgan)")
    c.add_argument("--max-batch-size", type=int, default=256, help="Triton's max_batch_size, 1-4096 (default 256)")
    c.add_argument("--instances", type=int, default=1, help="model instances, 1-64 (default 1)")
    c.add_argument("--force", action="store_true", help="replace that model's folder in the repository")
    c = command("tune", "Measure how this CPU runs each batch size fastest, and cache the plan for later loads.")
    c.add_argument(
        "--seconds",
        type=float,
        default=1.5,
        help="measuring time per batch size, 0.05-60 (default 1.5); all of it, rematches included, "
        "takes at most about 14x this, plus building the sessions",
    )
    c = command(
        "bench", "Time inference: latency percentiles and images/s for each batch size (and precision).", "many"
    )
    c.add_argument("--batch-sizes", default="1,8,64,256", help="default 1,8,64,256")
    c.add_argument("--rounds", type=int, default=20, help="timed calls per batch size (default 20)")
    how = c.add_mutually_exclusive_group()
    how.add_argument("--json", action="store_true", help="print JSON: the machine, then a row per batch size")
    how.add_argument("--csv", action="store_true", help="print CSV: a header, then a row per batch size")
    c = sub.add_parser(
        "push",
        help="Publish an export folder (with its model card) to the Hugging Face Hub.",
        description="Publish an export folder (with its model card) to the Hugging Face Hub.",
        epilog=EXAMPLES["push"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("model", metavar="EXPORT_DIR", help="a folder written by `python -m export`")
    c.add_argument("repo_id", metavar="ORG/NAME", help="the Hub repository (created if absent)")
    c.add_argument("--private", action="store_true", help="create the repository private")
    c.add_argument("--revision", metavar="BRANCH", help="push to this branch (created if absent) instead of main")
    logging_flags(c)
    return p


def _check_out(path: str, force: bool, suffixes: tuple[str, ...]) -> Path:
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise UsageError(f"--out {path!r} must end in one of {', '.join(suffixes)}")
    if out.exists() and not force:
        raise UsageError(f"{path!r} exists: pass --force to overwrite it")
    return out


def run_generate(g: Generator, a: argparse.Namespace) -> None:
    if not a.out and not a.outdir:
        raise UsageError("give --out FILE (a grid) and/or --outdir DIR (every image, in shards)")
    plan = outdir = None
    if a.outdir:  # checked (and its manifest written) before any image is made, as is --out
        from dcgan_runtime.scale import shards
        from dcgan_runtime.scale.seeds import SeedSet

        seeds = _flag(SeedSet.parse, a.seeds, "--seeds")
        share = _flag(parse.parse_share, a.shard, "--shard") if a.shard else (1, 1)
        if not 1 <= a.shard_size <= shards.MAX_SHARD:
            raise UsageError(f"--shard-size must be in 1..{shards.MAX_SHARD}, got {a.shard_size}")
        plan = shards.Plan(seeds, a.format, a.shard_size, share)
        if a.engine == "ray" and not 1 <= a.workers <= 1024:
            raise UsageError(f"--workers must be in 1..1024, got {a.workers}")
    elif a.shard or a.engine != "local" or a.format != "png":
        raise UsageError("--format, --shard and --engine are for --outdir")
    if a.out:
        grid_seeds = parse_seeds(a.seeds)
        if a.grid:
            cols, rows = _flag(parse.parse_grid, a.grid, "--grid")
            if cols * rows != len(grid_seeds):
                raise UsageError(f"--grid {a.grid} holds {cols * rows} images but --seeds gives {len(grid_seeds)}")
        else:
            cols = int(np.ceil(np.sqrt(len(grid_seeds))))
        out = _check_out(a.out, a.force, (".png", ".jpg", ".jpeg", ".webp"))
        try:
            check_canvas(*grid_shape(len(grid_seeds), g.metadata.image_size, cols), out)
        except ValueError as e:
            raise UsageError(f"--out {a.out!r} with --grid: {e}") from None
    if plan is not None:
        outdir = Path(a.outdir)
        shards.prepare(outdir, plan, plan.manifest(g.sha256, g.metadata), a.force)
    if a.out:
        save_grid(g.generate(seeds=grid_seeds, batch_size=a.batch_size), out, nrow=cols, force=a.force)
        print(f"wrote {out} ({len(grid_seeds)} images, {cols} per row)")
    if plan is not None and outdir is not None:
        bar = Bar() if sys.stderr.isatty() else None
        if a.engine == "ray":
            from dcgan_runtime.scale import ray_data

            summary = ray_data.write(
                worker_model(a.model, g), plan, outdir, address=a.address, workers=a.workers, device=a.device,
                precision=g.metadata.precision, batch_size=a.batch_size, progress=bar,
            )  # fmt: skip
        else:
            summary = shards.write_shards(g, plan, outdir, plan.mine(), batch_size=a.batch_size, progress=bar)
        if bar is not None:
            bar.finish()
        print(summary.line(outdir, plan))


def worker_model(model: str, g: Generator) -> str:
    """The MODEL other processes (Ray actors, Serve replicas) load: a Hub or URL model as given (each fetches
    it, or finds it in its cache), a file by its absolute path."""
    return model if hub.is_remote(model) else str(g.path.resolve())


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


def run_interpolate(g: Generator, a: argparse.Namespace) -> None:
    seeds = parse_seeds(a.seeds)
    if len(seeds) < 2:
        raise UsageError("--seeds needs at least two seeds to walk between")
    if not 2 <= a.steps <= MAX_FRAMES:
        raise UsageError(f"--steps must be in 2..{MAX_FRAMES} (the endpoints are included), got {a.steps}")
    if a.steps * len(seeds) > MAX_FRAMES:
        raise UsageError(
            f"--steps {a.steps} over {len(seeds)} seeds makes more than {MAX_FRAMES:,} frames: use fewer steps or seeds"
        )
    if not MIN_FPS <= a.fps <= MAX_FPS:  # also refuses nan
        raise UsageError(f"--fps must be from {MIN_FPS:g} to {MAX_FPS:g}, got {a.fps}")
    out = _check_out(a.out, a.force, (".gif", ".png"))
    z = g.latents(seeds=seeds)
    if len(seeds) > 2:  # a closed loop: back to the first seed, no repeated frame at the joins
        z = np.concatenate([z, z[:1]])
    legs = [g.interpolate(z[i], z[i + 1], a.steps, a.method) for i in range(len(z) - 1)]
    frames = np.concatenate([legs[0]] + [leg[1:] for leg in legs[1:]])
    if len(seeds) > 2:
        frames = frames[:-1]
    if out.suffix.lower() == ".gif":
        save_gif(frames, out, fps=a.fps, force=a.force)
    else:
        save_grid(frames, out, nrow=len(frames), force=a.force)
    print(f"wrote {out} ({len(frames)} frames)")


def run_arithmetic(g: Generator, a: argparse.Namespace) -> None:
    if not a.plus:
        raise UsageError("give at least one --plus term")
    if not 0 <= a.noise <= MAX_NOISE:  # also refuses nan
        raise UsageError(f"--noise must be from 0 to {MAX_NOISE:g}, got {a.noise}")
    if len(a.plus) + len(a.minus) > MAX_TERMS:
        raise UsageError(f"at most {MAX_TERMS} --plus and --minus terms in all")
    out = _check_out(a.out, a.force, (".png", ".jpg", ".jpeg", ".webp"))
    terms = [parse_seeds(s) for s in a.plus + a.minus]
    if sum(map(len, terms)) > MAX_SEEDS // 10:
        raise UsageError(f"the terms name more than {MAX_SEEDS // 10:,} seeds in all")
    result = g.arithmetic(
        plus=[g.latents(seeds=s) for s in terms[: len(a.plus)]],
        minus=[g.latents(seeds=s) for s in terms[len(a.plus) :]],
        neighbours=8,
        noise=a.noise,
    )
    # the figure: one row per term (its samples, then its mean), then the result and its 8 neighbours
    width = max(9, max(len(s) + 1 for s in terms))
    blank = np.full((1, *g.metadata.image_shape), 255, np.uint8)
    rows = []
    for seeds in terms:
        z = g.latents(seeds=seeds)
        row = np.concatenate([g.decode(z), g.decode(z.mean(0, keepdims=True))])
        rows.append(np.concatenate([row] + [blank] * (width - len(row))))
    rows.append(np.concatenate([result] + [blank] * (width - len(result))))
    save_image(make_grid(np.concatenate(rows), nrow=width), out, force=a.force)
    print(
        f"wrote {out}: rows are the terms ({len(a.plus)} plus, {len(a.minus)} minus: samples, then mean), "
        "last row the result and 8 neighbours"
    )


def run_info(g: Generator, a: argparse.Namespace) -> None:
    info = {
        "model": str(g.path),
        "requested_providers": g.requested_providers,
        "active_providers": g.providers,
        "cpu_plan": g.plan.describe() if g.plan else None,
        "metadata": json.loads(g.metadata.to_json()),
    }
    if a.json:
        print(json.dumps(info, indent=2))
        return
    m = g.metadata
    text = (
        f"model      {g.path}\nimage      {m.image_size}x{m.image_size}x{m.channels}, latent_dim {m.latent_dim}, "
        f"{m.precision}\nproviders  requested {g.requested_providers}, active {g.providers}\n"
        + (f"cpu plan   {g.plan.describe()}\n" if g.plan else "")
        + f"trained    {m.training_steps} steps on {m.dataset or '?'}\nproducer   {m.producer}, {m.created}\n"
        f"BatchNorm  folded {m.bn_folded}, recalibrated {m.bn_recalibrated}\n"
        + "".join(f"int8       {k}: {v}\n" for k, v in m.quantization.items())
        + f"metadata   {m.to_json()}"
    )
    print("\n".join(printable(line) for line in text.split("\n")))


def printable(text: str) -> str:
    """`text` with control characters (terminal escape codes, say) shown escaped instead of obeyed.

    >>> printable("ok\\x1b[2J")
    'ok\\\\x1b[2J'
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def run_tune(g: Generator, a: argparse.Namespace) -> None:
    if not 0.05 <= a.seconds <= 60:
        raise UsageError(f"--seconds must be in 0.05..60, got {a.seconds}")
    table = g.tune(seconds_per_size=a.seconds)
    assert g.plan is not None  # tune() raises on CUDA
    print(tune.report(table, g.plan))
    print(f"plan: {g.plan.describe()}")


def run_bench(load: Callable[[str | None], Generator], a: argparse.Namespace) -> None:
    from dcgan_runtime import bench
    from dcgan_runtime.generator import available_cpus

    sizes = _flag(lambda v: parse.parse_ints(v, MAX_BATCH_SIZES), a.batch_sizes, "--batch-sizes")
    if not 1 <= a.rounds <= 10_000:
        raise UsageError(f"--rounds must be in 1..10000, got {a.rounds}")
    precisions: list[str | None] = [None]
    if a.precision is not None:
        precisions = [v.strip() for v in a.precision.split(",")]
        wrong = [v for v in precisions if v not in ("fp32", "fp16", "int8")]
        if wrong or len(set(precisions)) != len(precisions):
            raise UsageError(f"--precision takes distinct values of fp32, fp16, int8, got {a.precision!r}")
    rows = []
    for precision in precisions:
        with load(precision) as g:
            rows += bench.measure(g, sizes, a.rounds)
    render = bench.to_json if a.json else bench.to_csv if a.csv else bench.to_table
    print(render(rows, a.threads or available_cpus()))


def check_serve(a: argparse.Namespace) -> None:
    """`dcgan serve`'s arguments and extra, checked before the model is loaded."""
    from dcgan_runtime import oip

    try:
        import dcgan_runtime.server  # noqa: F401
    except ImportError as e:
        raise UsageError(str(e)) from None
    checks = [
        (0 <= a.port <= 65535, f"--port must be in 0..65535, got {a.port}"),
        (1 <= a.workers <= 64, f"--workers must be in 1..64, got {a.workers}"),
        (1 <= a.max_inflight <= 10_000, f"--max-inflight must be in 1..10000, got {a.max_inflight}"),
        (1 <= a.max_batch <= MAX_BATCH_SIZES, f"--max-batch must be in 1..{MAX_BATCH_SIZES}, got {a.max_batch}"),
        (0 <= a.max_wait_ms <= 1000, f"--max-wait-ms must be in 0..1000, got {a.max_wait_ms}"),
        (
            bool(oip.NAME.fullmatch(a.model_name)),
            f"--model-name takes letters, digits, _ . - (64 at most), got {a.model_name!r}",
        ),
        (1 <= a.replicas <= 64, f"--replicas must be in 1..64, got {a.replicas}"),
        (
            a.engine == "ray" or (a.autoscaling is None and a.address is None),
            "--autoscaling and --address need --engine ray",
        ),
        (a.engine == "local" or a.workers == 1, "--workers is for --engine local; Ray Serve scales by --replicas"),
    ]
    for ok, message in checks:
        if not ok:
            raise UsageError(message)
    if a.autoscaling is not None:
        try:
            a.autoscaling = json.loads(a.autoscaling)
        except ValueError:
            raise UsageError(f"--autoscaling must be a JSON object, got {a.autoscaling[:60]!r}") from None
        if not isinstance(a.autoscaling, dict):
            raise UsageError('--autoscaling must be a JSON object, e.g. \'{"min_replicas": 1, "max_replicas": 4}\'')


def run_site(g: Generator, a: argparse.Namespace) -> None:
    from dcgan_runtime.site import ORT_WEB_VERSION, write_site

    out = write_site(g.path, a.out, g.metadata.precision, a.ort_web, webgpu=not a.no_webgpu, force=a.force)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(
        f"wrote {out}/ ({size / 1e6:.1f} MB: the page, {g.path.name} as model.onnx, onnxruntime-web "
        f"{ORT_WEB_VERSION}); publish the folder, or try it: python -m http.server -d {out} 8000"
    )


def run_push(a: argparse.Namespace) -> None:
    from dcgan_runtime.generator import Generator

    folder = Path(a.model)
    hub.check_export(folder)  # a model card, generator.onnx and a passed parity check
    Generator.load(folder, device="cpu").close()  # and a generator.onnx this runtime loads: metadata, signature
    url = hub.push(folder, a.repo_id, private=a.private, revision=a.revision)
    at = f"{a.repo_id}@{a.revision}" if a.revision else a.repo_id
    print(f"pushed {folder} to {at}: {url}\nuse it: dcgan generate hf://{at} --seeds 0-15 --out grid.png")


def _progress(done: int, total: int | None) -> None:
    """A download's progress on a terminal, rewritten in place."""
    size = f"{done / 1e6:.1f} of {total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
    share = f"{100 * done // total:3d}% " if total else ""
    end = "\n" if total and done >= total else ""
    print(f"\rdownloading {share}{size}", end=end, file=sys.stderr, flush=True)


def run_triton(g: Generator, a: argparse.Namespace) -> None:
    from dcgan_runtime.triton import write_repository

    target = write_repository(
        g, a.out, name=a.model_name, kind=a.kind, max_batch_size=a.max_batch_size, instances=a.instances, force=a.force
    )
    print(
        f"wrote {target}/ (config.pbtxt, 1/model.onnx, metadata.json); serve: tritonserver --model-repository {a.out}"
    )


def run_serve(g: Generator, a: argparse.Namespace) -> None:
    from dcgan_runtime.generator import available_cpus
    from dcgan_runtime.server import allowed_hosts, check_port, serve

    limits = {"max_inflight": a.max_inflight, "max_batch": a.max_batch, "max_wait_ms": a.max_wait_ms}
    limits["batching"] = not a.no_batching
    if a.engine == "ray":
        from dcgan_runtime import ray_serve

        check_port(a.host, a.port)  # Serve's proxy would take minutes to say so
        g.close()
        ray_serve.run(
            worker_model(a.model, g),
            a.host,
            a.port,
            replicas=a.replicas,
            autoscaling=a.autoscaling,
            address=a.address,
            device=a.device,
            threads=a.threads or max(1, available_cpus() // a.replicas),
            precision=g.metadata.precision,
            model_name=a.model_name,
            allowed_hosts=allowed_hosts(a.host, a.allow_host),
            limits=limits,
        )
        return

    serve(g, a.host, a.port, workers=a.workers, allow_hosts=a.allow_host, quiet=a.quiet, model_name=a.model_name,
          **limits)  # fmt: skip


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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with logging_to_stderr(args.verbose, args.quiet, logging.INFO if args.command == "serve" else logging.WARNING):
        return run(args)


def run(args: argparse.Namespace) -> int:
    """One parsed command: its exit code (errors printed as one line)."""
    try:
        from dcgan_runtime.generator import MAX_THREADS, Generator
    except ImportError as e:
        print(f"dcgan {args.command}: error: {e}", file=sys.stderr)
        return 1
    try:
        if args.command == "push":
            run_push(args)
            return 0
        if args.threads is not None and not 1 <= args.threads <= MAX_THREADS:
            raise UsageError(f"--threads must be in 1..{MAX_THREADS}, got {args.threads}")
        if args.command == "serve":
            check_serve(args)
        tuning = False if args.command == "tune" else None  # tune measures afresh; the others use a cached plan
        progress = _progress if sys.stderr.isatty() else None

        def load(precision: str | None) -> Generator:
            model = hub.locate(args.model, precision, allow_http=args.allow_http, progress=progress)
            return Generator.load(model, device=args.device, threads=args.threads, precision=precision, tune=tuning)

        if args.command == "bench":
            run_bench(load, args)
            return 0
        g = load(args.precision)
        {
            "generate": run_generate,
            "interpolate": run_interpolate,
            "arithmetic": run_arithmetic,
            "info": run_info,
            "tune": run_tune,
            "serve": run_serve,
            "site": run_site,
            "triton": run_triton,
        }[args.command](g, args)
    except (UsageError, ValueError) as e:
        print(f"dcgan {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (ModelError, ProviderError, OSError) as e:
        print(f"dcgan {args.command}: error: {e}", file=sys.stderr)
        return 1
    return 0
