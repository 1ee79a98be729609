"""Train a DCGAN: `python -m train --help`.

Writes a run directory: config.json, checkpoints/last.pt (+ periodic), samples/*.png (fixed-noise
grids), metrics.jsonl, loss.png and progress.gif. `--resume` continues a run exactly. Up to 10,000
images the adaptive small-data recipe (DiffAugment, flips) is the default; a run that fails (D wins, the
samples collapse, the SWD runs away) is named in one line as it happens (docs/train.md). Under
`torchrun --nproc_per_node=N -m train ...` it trains with DDP (NCCL on GPUs, gloo on CPUs):
--batch-size is the global batch, split evenly over the N ranks; rank 0 alone writes the run.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import signal
import sys
import warnings
from pathlib import Path

from dcgan_runtime.cli.args import Parser, int_in
from dcgan_runtime.errors import UsageError
from train import distributed, recipes
from train.checkpoint import (
    CheckpointError,
)
from train.config import LIMITS, ON_COLLAPSE, RECIPES, TrainConfig
from train.fitting import fit
from train.preflight import flag
from train.step import DeviceError

EXAMPLES = """examples:
  python -m train --out runs/faces                          # built-in toy faces, 64x64 RGB
  python -m train --data ../shared/data/fashion-mnist --image-size 32 --channels 1 --epochs 5 --out runs/fmnist
  python -m train --data path/to/images --max-steps 20000 --checkpoint-every 1000 --out runs/mine
  python -m train --data path/to/emoji --recipe paper --on-collapse stop --out runs/paper   # the paper's recipe
  python -m train --out runs/faces --resume --max-steps 4000   # continue (and extend) a run
  python -m train --dry-run --out /tmp/smoke                # one step, every artifact written
  torchrun --nproc_per_node=4 -m train --batch-size 512 --sync-bn --out runs/ddp   # 4 GPUs, 128 each
  torchrun --nnodes=2 --nproc_per_node=8 --rdzv-backend=c10d --rdzv-endpoint=HOST:29400 -m train ...
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    d = TrainConfig()
    p = Parser(  # one line per error, naming the flag: never argparse's usage block
        prog="python -m train",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    a = p.add_argument
    a("--data", help=f"image folder (searched recursively), IDX file or folder, or 'toyfaces' (default {d.data})")
    a("--num-images", type=int, help=f"toy faces to draw (default {d.num_images})")
    a(
        "--hflip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="random horizontal flips of the real images (default: the recipe's)",
    )
    a("--image-size", type=int, choices=(32, 64, 128), help=f"default {d.image_size}")
    a("--channels", type=int, choices=(1, 3), help=f"default {d.channels}")
    a("--nz", type=int, help=f"latent dimension (default {d.nz})")
    a("--ngf", type=int, help=f"generator width (default {d.ngf})")
    a("--ndf", type=int, help=f"discriminator width (default {d.ndf})")
    a(
        "--batch-size",
        type=int,
        help=f"images per step; under torchrun the global batch, split over the processes (default {d.batch_size})",
    )
    a("--epochs", type=int_in(1, LIMITS["epochs"]), help=f"passes over the data (default {d.epochs})")
    a("--max-steps", type=int_in(1, LIMITS["max_steps"]), help="stop after this many steps (overrides --epochs)")
    a("--lr", type=float, help=f"Adam learning rate (default {d.lr})")
    a("--beta1", type=float, help=f"Adam beta1 (default {d.beta1})")
    a("--seed", type=int, help=f"default {d.seed}")
    a(
        "--recipe",
        choices=RECIPES,
        help=f"paper (Radford et al.), small (DiffAugment + flips; no flips for images that face one way), "
        f"adaptive (small's ops at a probability that follows D), or auto (default): adaptive up to "
        f"{recipes.SMALL_DATA:,} images, else paper. --hflip and the recipe flags below override its choices",
    )
    a("--augment", help="DiffAugment on D's inputs: comma-separated color,translation,cutout; 'none' for none")
    a(
        "--augment-target",
        type=float,
        help="adaptive DiffAugment: each op's probability rises while E[sign D(x)] is above this (ADA: 0.6); "
        "0 augments every image",
    )
    a(
        "--g-lr-max",
        type=float,
        help="adaptive DiffAugment: while D stays ahead at p = 1, G's learning rate rises up to this times --lr "
        "(the adaptive recipe: 2; 1: never)",
    )
    a("--label-smoothing", type=float, help="one-sided: D's target for real images is 1 - this (e.g. 0.1)")
    a("--instance-noise", type=float, help="std of noise on D's inputs, annealed to 0 over the run (e.g. 0.1)")
    a("--lr-d", type=float, help="D's learning rate (default: --lr; two time scales when they differ)")
    a("--r1", type=float, help="R1 gradient penalty on D's real images, weight gamma (default: the recipe's)")
    a(
        "--ema-images",
        type=int_in(0, 10**9),
        help=f"half-life, in training images, of the moving average of G that samples, SWD, best.pt and the "
        f"export use (default {d.ema_images:,}; 0: the raw G)",
    )
    a(
        "--ema-rampup",
        type=float,
        help=f"the average's half-life is at most this share of the images seen so far (default {d.ema_rampup})",
    )
    a("--device", choices=("auto", "cpu", "cuda"), help="default auto (CUDA if usable)")
    a("--precision", choices=("auto", "bf16", "fp32"), help="default auto: bf16 where the CPU has it, AMP on CUDA")
    a("--threads", type=int_in(1, LIMITS["threads"]), help="CPU threads (default: torch's choice)")
    a(
        "--conv",
        choices=("auto", "onednn-cl", "onednn", "native"),
        help="CPU step's memory layout and convolution library: auto (default) times the candidates once per "
        "machine and model shape and keeps the fastest (cached; docs/train.md); onednn-cl = channels_last "
        "through oneDNN, onednn = NCHW through oneDNN, native = ATen's own (fp32)",
    )
    a(
        "--sync-bn",
        action="store_true",
        default=None,
        help="under torchrun: normalise BatchNorm over the global batch (as one process would)",
    )
    a("--checkpoint-every", type=int, help=f"steps between checkpoints (default {d.checkpoint_every})")
    a("--sample-every", type=int, help=f"steps between sample grids (default {d.sample_every})")
    a(
        "--on-collapse",
        choices=ON_COLLAPSE,
        help=f"when the run fails (D wins, samples collapse, SWD runs away; docs/train.md): stop (save and "
        f"exit 1), warn and go on, or rewind to best.pt with half D's learning rate (default {d.on_collapse})",
    )
    a("--out", default="runs/dcgan", help="run directory (default runs/dcgan)")
    a("--resume", action="store_true", help="continue the run in --out from checkpoints/last.pt")
    a("--dry-run", action="store_true", help="one step, every artifact written (a smoke test)")
    a("--quiet", action="store_true", help="no progress bar: one line per sample grid")
    return p.parse_args(argv)


def given(args: argparse.Namespace) -> dict:
    """The config fields the user set on the command line."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    flags = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if flags.get("augment") == "none":
        flags["augment"] = ""
    return flags


def main(argv: list[str] | None = None) -> int:
    code = 1
    with warnings.catch_warnings():  # a warning is one line, as an error is (not Python's, with a source line)
        warnings.showwarning = lambda message, *_args, **_kw: print(f"warning: {message}", file=sys.stderr)
        try:
            code = run_training(parse_args(argv))
            return code
        except KeyboardInterrupt:  # during set-up (the training loop turns SIGINT into a saved stop)
            print("\ninterrupted before training started: nothing was trained or saved", file=sys.stderr)
            code = 128 + signal.SIGINT
            return code
        finally:
            try:
                distributed.close(wait=code == 0)  # the run (and its DDP wrappers) is gone by now
            except RuntimeError:  # another rank is gone: this one has said why already
                pass


def run_training(args: argparse.Namespace) -> int:
    """The flags as a TrainConfig and the fields the user typed, then `train.fit`; its exit code."""
    flags = given(args)
    try:
        try:
            config = TrainConfig(**flags)
        except ValueError as e:  # the config names its fields; the user typed flags
            names = "|".join(f.name for f in dataclasses.fields(TrainConfig))
            raise UsageError(re.sub(rf"\b({names})(?= must)", lambda m: flag(m.group(1)), str(e))) from None
        result = fit(config, Path(args.out), resume=args.resume, dry_run=args.dry_run, quiet=args.quiet, explicit=flags)
    except (CheckpointError, OSError) as e:  # before ValueError: a CheckpointError is one
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (ValueError, DeviceError) as e:  # DataError and UsageError are ValueErrors
        print(f"error: {e}", file=sys.stderr)
        return 2
    return result.exit_code
