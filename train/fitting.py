"""`train.fit`: train a DCGAN from a `TrainConfig` into a run directory, the library entry point that
`python -m train` (train/cli.py) is a thin command over.

>>> from train.config import TrainConfig                                 # doctest: +SKIP
>>> result = fit(TrainConfig(max_steps=1000, ngf=32, ndf=16), "runs/demo")   # doctest: +SKIP
>>> result.status, result.best                                           # doctest: +SKIP
('done', PosixPath('runs/demo/checkpoints/best.pt'))
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import shutil
import signal
import sys
import time
import warnings
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import torch

from dcgan_runtime.errors import UsageError, first_line
from dcgan_runtime.files import atomic_write, remove_stale_temp_files
from train import artifacts, conv_path, distributed, preflight, recipes
from train.checkpoint import load_latest_good, restore_training
from train.config import TrainConfig
from train.data import load_dataset
from train.ema import EMA
from train.model import build_models, count_params
from train.preflight import check_fresh_out, check_same_data, check_sizes, flag, steps_plan
from train.run import REWINDS, Run, check_finite_weights
from train.sampling import Sampler
from train.step import Execution, GANStep, pick_execution
from train.watch import Failure, Watch

# Fields that may change when resuming; every other field must match the run's saved config.
RESUMABLE = {"epochs", "max_steps", "checkpoint_every", "sample_every", "device", "threads", "conv", "on_collapse"}
STATUS = {0: "done", 1: "failed"}  # other exit codes: 128 + the signal that stopped the run


@dataclass(frozen=True)
class FitResult:
    out: Path  # the run directory
    status: str  # done, failed (a diverged run, a full disk, --on-collapse stop), or the signal that stopped it
    exit_code: int  # what `python -m train` exits with: 0 done, 1 failed, 128 + N stopped by signal N
    step: int  # the step the run reached
    best: Path | None  # checkpoints/best.pt (by SWD), when one was saved
    best_swd: float | None  # its SWD (x1e3)


def fit(
    config: TrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    dry_run: bool = False,
    quiet: bool = True,
    explicit: Collection[str] | None = None,
) -> FitResult:
    """Train `config` into the run directory `out` (new, or with `resume` the run there, continued exactly).

    `explicit` names the fields the caller chose (default: those that differ from TrainConfig's defaults):
    a recipe never overrides them, and on resume they must agree with the saved config unless they may
    change (RESUMABLE). Progress goes to stderr (a bar unless `quiet`). A bad request is a ValueError, an
    unusable run directory an OSError or CheckpointError, before anything trains; a stopped run is a result.
    """
    if explicit is None:
        default = TrainConfig()
        fields = (f.name for f in dataclasses.fields(TrainConfig))
        explicit = {name for name in fields if getattr(config, name) != getattr(default, name)}
    run = setup(config, Path(out), resume, dry_run, explicit)
    code = loop(run, quiet)
    best = run.checkpoints / "best.pt"
    swd = run.sampler.best if run.sampler.best != float("inf") else None
    status = STATUS.get(code) or signal.Signals(code - 128).name
    return FitResult(run.out, status, code, run.step, best if best.is_file() else None, swd)


def make_config(
    config: TrainConfig, explicit: Collection[str], out: Path, resume: bool, dry_run: bool
) -> tuple[TrainConfig, dict | None]:
    """The run's config and, with `resume`, its last checkpoint: the saved config, with those of the fields
    named in `explicit` that may change on resume taken from `config` (the others must agree with it)."""
    flags = {k: getattr(config, k) for k in explicit}
    if not resume:
        check_fresh_out(out)
        if dry_run:
            config = config.replace(max_steps=1, num_images=min(config.num_images, config.batch_size))
        return config, None
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


def setup(config: TrainConfig, out: Path, resume: bool, dry_run: bool, explicit: Collection[str]) -> Run:
    """Config, data, models and the run directory, checked before any training: ValueError (the request),
    CheckpointError or OSError (the run directory) name what is wrong."""
    cfg, state = make_config(config, explicit, out, resume, dry_run)
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
        for line in preflight.degenerate(data, cfg.image_size) if world.is_main else ():
            warnings.warn(line, stacklevel=2)
        measure = functools.partial(recipes.mirror_ratio, data.images)  # measured only where it decides
        mirror = functools.partial(distributed.on_main, measure, world)  # once, on rank 0
        cfg = recipes.resolve(cfg, len(data), explicit=set(explicit), mirror=mirror, log=say)
    else:
        check_same_data(state, data)
    per_epoch, total = steps_plan(cfg, len(data))
    if state is not None and total <= state["step"]:
        raise UsageError(
            f"the run is at step {state['step']} already, so --max-steps/--epochs ask for no training: "
            f"pass a larger --max-steps (e.g. --max-steps {state['step'] + 1000})"
        )
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if world.size > 1 or dry_run:  # ranks would time each other; a dry run is a smoke test
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
        raise OSError(f"cannot write the run directory {out}: {e}") from None

    torch.manual_seed(cfg.seed)
    g, d = build_models(cfg)
    # one checkpoint is about the fp32 weights plus Adam's two moments; keep room for last.pt, its temp
    # file while writing, and a periodic copy
    need = 3 * (3 * 4 * (count_params(g) + count_params(d)) + 1_000_000)
    free = shutil.disk_usage(out).free
    if free < need:
        raise OSError(
            f"{out} has {free / 1e6:.0f} MB free; checkpoints of this model need about {need / 1e6:.0f} MB. "
            "Free some space or pick another --out"
        )
    layout = torch.channels_last if execution.channels_last else torch.contiguous_format
    g, d = (m.to(execution.device, memory_format=layout) for m in (g, d))
    ema = EMA(g, cfg.ema_images, cfg.ema_rampup, cfg.batch_size) if cfg.ema_images else None
    if world.size > 1:
        g, d = (distributed.wrap(m, world, cfg.sync_bn) for m in (g, d))
    step_fn = GANStep(g, d, cfg, execution, world.part(cfg.batch_size))
    step, best_swd, watch, rewinds = (0, float("inf"), Watch(), 0)
    if state:  # every rank loads the same state into the plain modules (DDP's own parameters, in place)
        gm, dm = distributed.unwrap(g), distributed.unwrap(d)
        step, best_swd = restore_training(state, gm, dm, step_fn, execution.device, ema)
        if "watch" in state:
            watch.load_state_dict(state["watch"])
            rewinds = int(state["watch"]["rewinds"])
        if world.is_main:
            artifacts.truncate_metrics(out / "metrics.jsonl", step)
    sampler = Sampler(data.images, cfg.nz, cfg.seed, execution.device, out / "samples", best_swd)
    return Run(
        out, cfg, data, per_epoch, total, execution, world, g, d, step_fn, sampler, watch, step, rewinds, ema=ema
    )


def loop(run: Run, quiet: bool) -> int:
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
            f"steps {run.step}->{run.total} ({run.per_epoch}/epoch){ranks}; SWD floor (real vs real) "
            + (f"{run.sampler.floor:.1f}" if math.isfinite(run.sampler.floor) else "not measured: too few images"),
            file=sys.stderr,
        )
    if run.step == 0 and world.is_main:
        run.sampler(run.shown(), 0)
    bar = None
    if not quiet and world.is_main:
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
                log_step(run, row, metrics_file, bar, quiet)
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
        row["swd"] = run.sampler(run.shown(), step)
        row["spread"] = run.sampler.last_spread
        row["swd_floor"] = run.sampler.floor if math.isfinite(run.sampler.floor) else None
        if run.sampler.improves(row["swd"]):  # keep the best model: late mode collapse cannot cost it
            run.save(best=True)
        if quiet:
            print(
                f"step {step}/{run.total} loss_d {row['loss_d']:.3f} loss_g {row['loss_g']:.3f} "
                f"D(x) {row['d_x']:.2f} D(G(z)) {row['d_g_z']:.2f} SWD {row['swd']:.1f} (best {run.sampler.best:.1f}"
                + (f", real vs real {run.sampler.floor:.1f}) " if math.isfinite(run.sampler.floor) else ") ")
                + (f"augment p {row['augment_p']:.2f} " if "augment_p" in row else "")
                + (f"G lr x{row['g_lr_scale']:.2f} " if "g_lr_scale" in row else "")
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
