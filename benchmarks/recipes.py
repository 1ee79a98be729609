"""The paper's recipe against the small-data options, side by side on real data: `python -m benchmarks.recipes`.

Each (data set, recipe) pair trains for the same steps with the same seed and widths, then
`train.analysis.evaluate` scores its best.pt (the checkpoint export ships) against held-out real
images: SWD (lower is better), MS-SSIM diversity, the distance to the nearest training image, and on
Fashion-MNIST the in-domain Frechet distance, precision and recall. The table and a picture of
each run's last samples go to --out (default runs/recipes); docs/train.md quotes them.

Data sets come from ../shared/data (or $DCGAN_DATA): twemoji (3,786 colour emoji, 64 px),
twemoji-default (the same at the training defaults: widths 64/64, batch 128; about 30 min a run on 2 cores),
fmnist1k / fmnist2k / fmnist5k (seeded subsets of Fashion-MNIST's training split, 32 px grey), faces (the 204
London faces, 64 px); toyfaces10k is the demo's data (10,000 built-in toy faces, 64 px), no download.

twemoji-half is the default run at half width (widths 32/32, batch 128). `--check` is the small-data
bar: each run's best SWD in its training log under 40, its last logged SWD within 1.2x of that best,
and the log stating the real-vs-real floor; it exits 1 naming the runs that miss it.

examples:
  python -m benchmarks.recipes         # every set x every recipe (hours: 4 to 30 min a run, 2 cores)
  python -m benchmarks.recipes --sets twemoji-default --recipes paper,small --steps 3000
  python -m benchmarks.recipes --sets twemoji-half --recipes adaptive,adaptive-seed1 --steps 1500 --check
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from dcgan_runtime.files import atomic_write
from train.data import read_idx

RECIPES = {  # name -> the flags that make it (each option alone on top of the paper's recipe, then "small")
    "paper": ["--recipe", "paper"],
    "hflip": ["--recipe", "paper", "--hflip"],
    "diffaugment": ["--recipe", "paper", "--augment", "color,translation,cutout"],
    "label-smoothing": ["--recipe", "paper", "--label-smoothing", "0.1"],
    "instance-noise": ["--recipe", "paper", "--instance-noise", "0.1"],
    "ttur": ["--recipe", "paper", "--lr", "1e-4", "--lr-d", "4e-4"],  # two time scales (Heusel et al. 2017)
    "small": ["--recipe", "small"],
    "small-noflip": ["--recipe", "small", "--no-hflip"],  # DiffAugment alone: for sets that are not mirror images
    "adaptive": ["--recipe", "adaptive"],  # DiffAugment at a probability that follows D (ADA's heuristic)
    "adaptive-steady-g": ["--recipe", "adaptive", "--g-lr-max", "1"],  # G's rate not raised when p saturates
    "adaptive-g4": ["--recipe", "adaptive", "--g-lr-max", "4"],  # G's rate allowed up to 4x, not the recipe's 2x
    "adaptive-0.8": ["--recipe", "adaptive", "--augment-target", "0.8"],  # augmenting only a D surer than ADA's 0.6
    "paper-rewind": ["--recipe", "paper", "--on-collapse", "rewind"],  # the paper's, rewound when it fails
    # a second seed (weights, noise and data order), for the spread between runs
    "hflip-seed1": ["--recipe", "paper", "--hflip", "--seed", "1"],
    "small-seed1": ["--recipe", "small", "--seed", "1"],
    "adaptive-seed1": ["--recipe", "adaptive", "--seed", "1"],
    "adaptive-steady-g-seed1": ["--recipe", "adaptive", "--g-lr-max", "1", "--seed", "1"],
    "adaptive-0.8-seed1": ["--recipe", "adaptive", "--augment-target", "0.8", "--seed", "1"],
}
# name -> (data path under the shared folder or a subset size, training flags, evaluation data)
SETS = {
    "twemoji": ("twemoji64", ["--image-size", "64", "--channels", "3", "--ngf", "32", "--ndf", "16"]),
    "twemoji-default": ("twemoji64", ["--batch-size", "128"]),  # a user's default run: widths 64/64, batch 128
    "twemoji-half": ("twemoji64", ["--ngf", "32", "--ndf", "32", "--batch-size", "128"]),  # the same at half width
    "fmnist1k": (1_000, ["--image-size", "32", "--channels", "1"]),
    "fmnist2k": (2_000, ["--image-size", "32", "--channels", "1"]),
    "fmnist5k": (5_000, ["--image-size", "32", "--channels", "1"]),
    "faces": ("faces-london/64", ["--image-size", "64", "--channels", "3", "--ngf", "32", "--ndf", "16"]),
    "toyfaces10k": ("toyfaces", ["--num-images", "10000", "--ngf", "32", "--ndf", "16"]),  # the demo's data
}
CHECK_BEST, CHECK_LAST = 40.0, 1.2  # --check: best training SWD under this, the last within this of the best
METRICS = ("swd_x1e3", "ms_ssim", "nn_distance_median", "frechet_distance", "precision", "recall")


def shared_data() -> Path:
    return Path(os.environ.get("DCGAN_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def fmnist_subset(n: int, out: Path) -> Path:
    """A seeded subset of Fashion-MNIST's training images as an IDX file (what `--data` reads)."""
    path = out / f"fmnist{n}" / "train-images-idx3-ubyte.gz"
    if not path.exists():
        images = read_idx(next((shared_data() / "fashion-mnist").glob("train-images-idx3-ubyte*")))
        pick = np.sort(np.random.RandomState(0).permutation(len(images))[:n])
        header = b"\x00\x00\x08\x03" + np.array([n, 28, 28], ">u4").tobytes()
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, gzip.compress(header + images[pick].tobytes()))
    return path.parent


def run_one(name: str, recipe: str, steps: int, out: Path) -> dict:
    source, flags = SETS[name]
    if isinstance(source, int):
        data, evaluate_on = fmnist_subset(source, out), shared_data() / "fashion-mnist"
    else:
        data = evaluate_on = source if source == "toyfaces" else shared_data() / source
    run = out / f"{name}-{recipe}"
    if not (run / "checkpoints" / "last.pt").exists():
        cmd = [sys.executable, "-m", "train", "--data", str(data), "--out", str(run), "--batch-size", "64"]
        cmd += ["--max-steps", str(steps), "--sample-every", "100", "--checkpoint-every", str(steps), "--quiet"]
        t0 = time.perf_counter()
        subprocess.run(cmd + flags + RECIPES[recipe], check=True, stderr=subprocess.DEVNULL)
        atomic_write(run / "wall_s.txt", f"{time.perf_counter() - t0:.1f}".encode())
    report = run / "eval.json"
    if not report.exists():
        cmd = [sys.executable, "-m", "train.analysis.evaluate", str(run / "checkpoints" / "best.pt")]
        subprocess.run(cmd + ["--data", str(evaluate_on), "--json", str(report)], check=True, stdout=subprocess.DEVNULL)
    rows = json.loads(report.read_text())["rows"]
    model = next(v for k, v in rows.items() if "ceiling" not in k and "floor" not in k)
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps_rows = [r for r in log if "loss_d" in r]
    swds = [(r["step"], r["swd"]) for r in steps_rows if "swd" in r]
    best_step, best_swd = min(swds, key=lambda s: s[1])
    return {
        "set": name,
        "recipe": recipe,
        "best_step": best_step,
        "train_swd_best": best_swd,
        "train_swd_last": swds[-1][1],
        "train_swd_floor": next((r["swd_floor"] for r in steps_rows if "swd_floor" in r), None),
        "d_g_z_last100": round(float(np.mean([r["d_g_z"] for r in steps_rows[-100:]])), 3),
        "images_per_s": round(float(np.median([r["images_per_s"] for r in steps_rows])), 1),
        "wall_s": float((run / "wall_s.txt").read_text()) if (run / "wall_s.txt").exists() else None,
        **{k: (model[k]["mean"] if k == "swd_x1e3" else model.get(k)) for k in METRICS},
        "ceiling_swd": rows["real vs held-out real (ceiling)"]["swd_x1e3"]["mean"],
        "floor_swd": rows["untrained generator (floor)"]["swd_x1e3"]["mean"],
    }


def misses(r: dict) -> str | None:
    """Why run `r` misses the --check bar, or None where it meets it."""
    best, last, floor = r["train_swd_best"], r["train_swd_last"], r.get("train_swd_floor")
    if floor is None:
        return "its training log states no real-vs-real floor"
    if best >= CHECK_BEST:
        return f"best SWD {best:.1f} is not under {CHECK_BEST:g} (floor {floor:.1f})"
    if last > CHECK_LAST * best:
        return f"last SWD {last:.1f} is over {CHECK_LAST:g}x its best, {best:.1f} at step {r['best_step']}"
    return None


def table(results: list[dict]) -> str:
    cols = ["set", "recipe", "swd_x1e3", "precision", "recall", "frechet_distance", "ms_ssim"]
    cols += ["nn_distance_median", "best_step", "train_swd_best", "train_swd_last", "train_swd_floor"]
    cols += ["d_g_z_last100", "images_per_s"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in results:
        lines.append("| " + " | ".join("" if r.get(c) is None else str(r[c]) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def grids(results: list[dict], out: Path, cells: int = 4) -> None:
    """One picture per set: the first cells x cells samples of each recipe's last grid (seeds 0-63,
    8 a row), side by side in the table's order."""
    for name in dict.fromkeys(r["set"] for r in results):
        runs = [r for r in results if r["set"] == name]
        crops = []
        for r in runs:
            grid = Image.open(sorted((out / f"{name}-{r['recipe']}" / "samples").glob("step*.png"))[-1]).convert("RGB")
            cell = (grid.size[0] - 2) // 8  # an image and its 2 px of padding
            crops.append(grid.crop((0, 0, 2 + cells * cell, 2 + cells * cell)))
        w, h = crops[0].size
        sheet = Image.new("RGB", (len(crops) * (w + 8) - 8, h), "white")
        for i, im in enumerate(crops):
            sheet.paste(im, (i * (w + 8), 0))
        sheet.save(out / f"{name}.png")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.recipes", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of {','.join(SETS)}")
    p.add_argument("--recipes", default=",".join(RECIPES), help=f"comma-separated, of {','.join(RECIPES)}")
    p.add_argument("--steps", type=int, default=2500, help="training steps per run (default 2500, batch 64)")
    p.add_argument("--out", default="runs/recipes", help="runs, table and pictures (default runs/recipes)")
    p.add_argument(
        "--check",
        action="store_true",
        help=f"exit 1 unless every run's best SWD is under {CHECK_BEST:g} "
        f"and its last within {CHECK_LAST:g}x of it, with the floor logged",
    )
    a = p.parse_args(argv)
    sets, recipes = a.sets.split(","), a.recipes.split(",")
    unknown = [s for s in sets if s not in SETS] + [r for r in recipes if r not in RECIPES]
    if unknown:
        print(f"error: unknown set or recipe: {', '.join(unknown)} (`--help` lists them)", file=sys.stderr)
        return 2
    if not 1 <= a.steps <= 1_000_000:
        print(f"error: --steps {a.steps} is outside 1..1000000", file=sys.stderr)
        return 2
    if not shared_data().is_dir():
        print(f"error: no real data at {shared_data()}: set DCGAN_DATA to the shared data folder", file=sys.stderr)
        return 1
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in sets:
        for recipe in recipes:
            results.append(run_one(name, recipe, a.steps, out))
            print(f"{name} {recipe}: SWD {results[-1]['swd_x1e3']} (best step {results[-1]['best_step']})", flush=True)
    earlier = json.loads((out / "results.json").read_text()) if (out / "results.json").is_file() else []
    mine = {(r["set"], r["recipe"]) for r in results}
    results = [r for r in earlier if (r["set"], r["recipe"]) not in mine] + results  # runs of other calls kept
    atomic_write(out / "results.json", json.dumps(results, indent=1).encode())
    atomic_write(out / "results.md", table(results).encode())
    grids(results, out)
    print(table(results))
    if a.check:
        missed = [
            f"{r['set']} {r['recipe']}: {why}"
            for r in results
            if (r["set"], r["recipe"]) in mine and (why := misses(r))
        ]
        for line in missed:
            print(f"check: {line}", file=sys.stderr)
        print(f"check: {len(mine) - len(missed)} of {len(mine)} runs under {CHECK_BEST:g}, last within {CHECK_LAST:g}x")
        return 1 if missed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
