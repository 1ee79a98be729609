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
import functools
import json
import re
import shutil
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import IO

import torch

from dcgan_runtime.errors import UsageError, first_line
from dcgan_runtime.files import atomic_write, remove_stale_temp_files
from train import artifacts, conv_path, distributed, recipes
from train.checkpoint import (
    CheckpointError,
    load_latest_good,
    restore_training,
)
from train.config import ON_COLLAPSE, RECIPES, TrainConfig
from train.data import load_dataset
from train.model import build_models, count_params
from train.preflight import check_fresh_out, check_same_data, check_sizes, flag, steps_plan
from train.run import REWINDS, Run, check_finite_weights
from train.sampling import Sampler
from train.step import DeviceError, Execution, GANStep, pick_execution
from train.watch import Failure, Watch

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
# Flags that may change when resuming; every other flag must match the run's saved config.
RESUMABLE = {"epochs", "max_steps", "checkpoint_every", "sample_every", "device", "threads", "conv", "on_collapse"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    d = TrainConfig()
    p = argparse.ArgumentParser(
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
    a("--epochs", type=int, help=f"passes over the data (default {d.epochs})")
    a("--max-steps", type=int, help="stop after this many steps (overrides --epochs)")
    a("--lr", type=float, help=f"Adam learning rate (default {d.lr})")
    a("--beta1", type=float, help=f"Adam beta1 (default {d.beta1})")
    a("--seed", type=int, help=f"default {d.seed}")
    a(
        "--recipe",
        choices=RECIPES,
        help=f"paper (Radford et al.), small (DiffAugment + flips; no flips for images that face one way), "
        f"adaptive (small's ops at a probability that follows D), or auto (default): adaptive up to "
        f"{recipes.SMALL_DATA:,} images, else paper. --hflip and the five flags below override its choices",
    )
    a("--augment", help="DiffAugment on D's inputs: comma-separated color,translation,cutout; 'none' for none")
    a(
        "--augment-target",
        type=float,
        help="adaptive DiffAugment: each op's probability rises while E[sign D(x)] is above this (ADA: 0.6); "
        "0 augments every image",
    )
    a("--label-smoothing", type=float, help="one-sided: D's target for real images is 1 - this (e.g. 0.1)")
    a("--instance-noise", type=float, help="std of noise on D's inputs, annealed to 0 over the run (e.g. 0.1)")
    a("--lr-d", type=float, help="D's learning rate (default: --lr; two time scales when they differ)")
    a("--device", choices=("auto", "cpu", "cuda"), help="default auto (CUDA if usable)")
    a("--precision", choices=("auto", "bf16", "fp32"), help="default auto: bf16 where the CPU has it, AMP on CUDA")
    a("--threads", type=int, help="CPU threads (default: torch's choice)")
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


def make_config(args: argparse.Namespace, out: Path) -> tuple[TrainConfig, dict | None]:
    """The run's config and, with --resume, its last checkpoint."""
    flags = given(args)
    if not args.resume:
        check_fresh_out(out)
        try:
            cfg = TrainConfig(**flags)
        except ValueError as e:  # the config names its fields; the user typed flags
            names = "|".join(f.name for f in dataclasses.fields(TrainConfig))
            raise UsageError(re.sub(rf"\b({names})(?= must)", lambda m: flag(m.group(1)), str(e))) from None
        if args.dry_run:
            cfg = cfg.replace(max_steps=1, num_images=min(cfg.num_images, cfg.batch_size))
        return cfg, None
    remove_stale_temp_files(out / "checkpoints")
    state, _ = load_latest_good(out / "checkpoints")  # schema-checked: falls back past damaged files
    saved = TrainConfig.from_dict(state["config"])
    if saved.recipe == "auto":  # saved before recipes had names: the paper's, with the run's own options
        saved = saved.replace(recipe="paper")
    if flags.get("recipe") == "auto":  # the run's recipe was resolved when it started
        del flags["recipe"]
    clash = [k for k, v in flags.items() if k not in RESUMABLE and getattr(saved, k) != v]
    if clash:
        typed = ", ".join(f"{flag(k)} {flags[k]!r} (the run has {getattr(saved, k)!r})" for k in clash)
        raise UsageError(
            f"--resume keeps the run's saved config, and these flags differ from it: {typed}. Drop them; only "
            f"{', '.join(flag(k) for k in sorted(RESUMABLE))} may change on resume"
        )
    return saved.replace(**{k: v for k, v in flags.items() if k in RESUMABLE}), state


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
    """Set up and train; the run and everything it holds is released on return."""
    run = setup(args)
    return run if isinstance(run, int) else loop(run, args)


def setup(args: argparse.Namespace) -> Run | int:
    """Config, data, models and the run directory, checked before any training; an exit code on failure."""
    out = Path(args.out)
    try:
        cfg, state = make_config(args, out)
        execution = pick_execution(cfg)
        world = distributed.init(execution.device.type == "cuda")
        if world.size > 1 and execution.device.type == "cuda":
            execution = Execution(torch.device("cuda", world.local_rank), execution.amp_dtype)
        if world.size > 1 and cfg.on_collapse == "rewind":
            raise UsageError("--on-collapse rewind needs a single process: under torchrun use stop or warn")
        if cfg.batch_size % world.size:
            raise UsageError(
                f"--batch-size {cfg.batch_size} (the global batch) does not split evenly over "
                f"{world.size} processes: use a multiple of {world.size}"
            )
        check_sizes(cfg)
        data = load_dataset(cfg.data, cfg.image_size, cfg.channels, cfg.num_images, cfg.seed)
        if state is None:
            say = (lambda line: print(line, file=sys.stderr)) if world.is_main else (lambda line: None)
            measure = functools.partial(recipes.mirror_ratio, data.images)  # measured only where it decides
            mirror = functools.partial(distributed.on_main, measure, world)  # once, on rank 0
            cfg = recipes.resolve(cfg, len(data), explicit=set(given(args)), mirror=mirror, log=say)
        else:
            check_same_data(state, data)
        per_epoch, total = steps_plan(cfg, len(data))
        if state is not None and total <= state["step"]:
            raise UsageError(
                f"the run is at step {state['step']} already, so --max-steps/--epochs ask for no training: "
                f"pass a larger --max-steps (e.g. --max-steps {state['step'] + 1000})"
            )
    except (ValueError, DeviceError, CheckpointError) as e:  # DataError and UsageError are ValueErrors
        print(f"error: {e}", file=sys.stderr)
        return 2 if not isinstance(e, CheckpointError) else 1
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if world.size > 1 or args.dry_run:  # ranks would time each other; a dry run is a smoke test
        execution = conv_path.with_path(execution, "onednn-cl" if cfg.conv == "auto" else cfg.conv)
    else:
        execution = conv_path.choose(cfg, execution, log=lambda line: print(line, file=sys.stderr))
        if execution.threads:
            torch.set_num_threads(execution.threads)
    if execution.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    try:  # an unwritable run directory fails here, before any training
        for sub in ("checkpoints", "samples"):
            (out / sub).mkdir(parents=True, exist_ok=True)
        if world.is_main:
            atomic_write(out / "config.json", cfg.to_json().encode())
    except OSError as e:
        print(f"error: cannot write the run directory {out}: {e}", file=sys.stderr)
        return 1

    torch.manual_seed(cfg.seed)
    g, d = build_models(cfg)
    # one checkpoint is about the fp32 weights plus Adam's two moments; keep room for last.pt, its temp
    # file while writing, and a periodic copy
    need = 3 * (3 * 4 * (count_params(g) + count_params(d)) + 1_000_000)
    free = shutil.disk_usage(out).free
    if free < need:
        print(
            f"error: {out} has {free / 1e6:.0f} MB free; checkpoints of this model need about {need / 1e6:.0f} MB. "
            "Free some space or pick another --out",
            file=sys.stderr,
        )
        return 1
    layout = torch.channels_last if execution.channels_last else torch.contiguous_format
    g, d = (m.to(execution.device, memory_format=layout) for m in (g, d))
    if world.size > 1:
        g, d = (distributed.wrap(m, world, cfg.sync_bn) for m in (g, d))
    step_fn = GANStep(g, d, cfg, execution, world.part(cfg.batch_size))
    step, best_swd, watch, rewinds = (0, float("inf"), Watch(), 0)
    if state:  # every rank loads the same state into the plain modules (DDP's own parameters, in place)
        gm, dm = distributed.unwrap(g), distributed.unwrap(d)
        step, best_swd = restore_training(state, gm, dm, step_fn, execution.device)
        if "watch" in state:
            watch.load_state_dict(state["watch"])
            rewinds = int(state["watch"]["rewinds"])
        if world.is_main:
            artifacts.truncate_metrics(out / "metrics.jsonl", step)
    sampler = Sampler(data.images, cfg.nz, cfg.seed, execution.device, out / "samples", best_swd)
    return Run(out, cfg, data, per_epoch, total, execution, world, g, d, step_fn, sampler, watch, step, rewinds)


def loop(run: Run, args: argparse.Namespace) -> int:
    """Train from run.step to run.total: metrics every step, samples and SWD every --sample-every,
    checkpoints every --checkpoint-every; a signal stops at a step boundary and saves."""
    cfg, world, out = run.cfg, run.world, run.out
    gm = distributed.unwrap(run.g)
    if world.is_main:
        ranks = (
            f"; {world.size} processes (DDP{', synchronised BN' if cfg.sync_bn else ''}), "
            f"{cfg.batch_size // world.size} images each"
            if world.size > 1
            else ""
        )
        print(
            f"data: {run.data.name}, {len(run.data)} images"
            f"{f' ({run.data.skipped} unreadable skipped)' if run.data.skipped else ''}; "
            f"G {count_params(gm):,} params, D {count_params(distributed.unwrap(run.d)):,}; {recipes.describe(cfg)}; "
            f"{run.execution.device} {run.execution.precision} ({run.execution.conv_path}), "
            f"{torch.get_num_threads()} threads; "
            f"steps {run.step}->{run.total} ({run.per_epoch}/epoch){ranks}",
            file=sys.stderr,
        )
    if run.step == 0 and world.is_main:
        run.sampler(gm, 0)
    bar = None
    if not args.quiet and world.is_main:
        from tqdm import tqdm

        bar = tqdm(total=run.total, initial=run.step, unit="step", dynamic_ncols=True)
    stop: list[int] = []  # SIGINT / SIGTERM ask to stop; the loop saves at the next step boundary
    handlers = {
        s: signal.signal(s, lambda signum, _frame: stop.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)
    }
    metrics_file = open(out / "metrics.jsonl", "a") if world.is_main else None
    halted = False
    try:
        while run.step < run.total and not (halted := distributed.any_across(bool(stop or run.failed), world)):
            t0 = time.perf_counter()
            m = run.train_step()
            run.step += 1
            row = {
                "step": run.step,
                **{k: round(v, 5) for k, v in m.items()},
                "images_per_s": round(cfg.batch_size / (time.perf_counter() - t0), 1),
            }
            if metrics_file is not None:
                log_step(run, row, metrics_file, bar, args.quiet)
    except (FloatingPointError, OSError) as e:  # a diverged run, a full disk: keep the last good checkpoint
        print(f"\nerror: {e}\nthe run stopped; {last_good(run)}, perhaps with a lower --lr", file=sys.stderr)
        return 1
    except RuntimeError as e:
        if world.size == 1:
            raise
        first = first_line(e)
        print(
            f"\nerror: rank {world.rank} lost the torchrun job (another process stopped: {first})\n"
            f"the run stopped; {last_good(run)} once every process can run",
            file=sys.stderr,
        )
        return 1
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        if bar is not None:
            bar.close()
        if metrics_file is not None:
            metrics_file.close()
    if halted and run.failed is not None:
        print(
            f"stopped at step {run.step} (--on-collapse {cfg.on_collapse}): saved {run.save()}; the best model by "
            f"SWD is {run.checkpoints / 'best.pt'}. To train on regardless: --resume --on-collapse warn",
            file=sys.stderr,
        )
        return 1
    if halted:
        signum = stop[0] if stop else signal.SIGTERM  # another rank got the signal
        if world.is_main:
            print(
                f"\n{signal.Signals(signum).name}: saved {run.save()} at step {run.step}; continue with --resume",
                file=sys.stderr,
            )
        return 128 + signum
    return finish(run) if world.is_main else 0


def last_good(run: Run) -> str:
    """What a stopped run keeps, in words: its newest checkpoint, or that none was saved yet."""
    saved = [p for p in (run.checkpoints / "last.pt", run.checkpoints / "best.pt") if p.is_file()]
    if not saved:
        return (
            f"no checkpoint was saved before it (the first comes at step {min(run.cfg.checkpoint_every, run.total)} "
            f"or with the first better sample grid): start again"
        )
    return f"the last good checkpoint is {saved[0]}: continue with --resume"


def log_step(run: Run, row: dict, metrics_file: IO[str], bar, quiet: bool) -> None:
    """Rank 0's bookkeeping after a step: samples and SWD (best.pt), metrics.jsonl, progress, checkpoints."""
    step, cfg = run.step, run.cfg
    if step % cfg.sample_every == 0 or step == run.total:
        row["swd"] = run.sampler(distributed.unwrap(run.g), step)
        row["spread"] = run.sampler.last_spread
        if run.sampler.improves(row["swd"]):  # keep the best model: late mode collapse cannot cost it
            run.save(best=True)
        if quiet:
            print(
                f"step {step}/{run.total} loss_d {row['loss_d']:.3f} loss_g {row['loss_g']:.3f} "
                f"D(x) {row['d_x']:.2f} D(G(z)) {row['d_g_z']:.2f} SWD {row['swd']:.1f} (best {run.sampler.best:.1f}) "
                + (f"augment p {row['augment_p']:.2f} " if "augment_p" in row else "")
                + f"{row['images_per_s']} img/s",
                file=sys.stderr,
            )
    metrics_file.write(json.dumps(row) + "\n")
    failure = run.watch.observe(row)
    if failure is not None:
        react(run, failure, metrics_file, bar)
    if bar is not None:
        bar.update(1)
        bar.set_postfix(loss_d=f"{row['loss_d']:.3f}", loss_g=f"{row['loss_g']:.3f}", img_s=row["images_per_s"])
    if step % cfg.checkpoint_every == 0 and step < run.total:
        metrics_file.flush()
        check_finite_weights(distributed.unwrap(run.g), distributed.unwrap(run.d), step)
        run.save()


def react(run: Run, failure: Failure, metrics_file: IO[str], bar) -> None:
    """One line naming the failure (also in metrics.jsonl), then what --on-collapse asks for."""
    action = run.cfg.on_collapse
    if action == "rewind" and run.rewinds >= REWINDS:
        action, note = "stop", f"; {REWINDS} rewinds did not help, so the run stops"
    elif action == "rewind" and not (run.checkpoints / "best.pt").is_file():
        action, note = "stop", "; no best.pt to rewind to yet, so the run stops"
    else:
        note = ""
    if action == "rewind":
        note = "; " + run.rewind()
    line = f"{failure.message}{note}"
    metrics_file.write(json.dumps({**failure.row(), "message": line, "action": action}) + "\n")
    (bar.write if bar is not None else lambda text: print(text, file=sys.stderr))(f"warning: step {run.step}: {line}")
    if action == "stop":
        run.failed = failure


def finish(run: Run) -> int:
    """The final checkpoint, the progress GIF, and where to go next."""
    try:
        check_finite_weights(distributed.unwrap(run.g), distributed.unwrap(run.d), run.step)
        last = run.save(final=True)
    except (FloatingPointError, OSError) as e:
        print(f"error: {e}\nthe last good checkpoint is kept", file=sys.stderr)
        return 1
    out = run.out
    artifacts.save_progress_gif(sorted((out / "samples").glob("step*.png")), out / "progress.gif")
    print(
        f"done: {run.step} steps. checkpoint {last}, best by SWD {run.checkpoints / 'best.pt'}, samples in "
        f"{out / 'samples'}, progress.gif, loss.png\n"
        f"next: python -m export {run.checkpoints / 'best.pt'} --outdir {out / 'export'}",
        file=sys.stderr,
    )
    return 0
