"""Checks a training run passes before any work: its folder, its flags' sizes against memory, its data.

>>> flag("max_steps")
'--max-steps'
"""

from __future__ import annotations

from pathlib import Path

import torch

from dcgan_runtime.errors import UsageError
from train.config import TrainConfig
from train.data import DataError, Dataset, memory_available
from train.model import build_discriminator, build_generator, count_params

RUN_FILES = {"config.json", "checkpoints", "samples", "metrics.jsonl", "loss.png", "progress.gif", "export"}


def flag(field: str) -> str:
    """The command-line flag of a config field: max_steps -> --max-steps."""
    return "--" + field.replace("_", "-")


def check_fresh_out(out: Path) -> None:
    """A new run goes in a new or empty folder, or one holding a run that never saved a checkpoint;
    a run with any checkpoint (last, periodic or best) is continued with --resume, never clobbered."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a file: pick a folder for the run")
    if not out.is_dir():
        return
    saved = sorted(p.name for p in (out / "checkpoints").glob("*.pt")) if (out / "checkpoints").is_dir() else []
    if saved:
        raise UsageError(
            f"--out {str(out)!r} already holds a run (checkpoints/{saved[0]}): pass --resume to continue it, "
            "or pick another --out"
        )
    foreign = sorted(p.name for p in out.iterdir() if p.name not in RUN_FILES and not p.name.startswith("."))
    if foreign:
        raise UsageError(
            f"--out {str(out)!r} holds files that are not a training run's ({', '.join(foreign[:3])}"
            f"{', ...' if len(foreign) > 3 else ''}): pick a new or empty folder"
        )


def check_same_data(state: dict, data: Dataset) -> None:
    """Resume on the data the run started with: the data order (and so an exact resume) depends on it."""
    saved = state.get("data_order", {}).get("images")
    if isinstance(saved, int) and saved != len(data):
        raise UsageError(
            f"the data has {len(data)} images now, but the run trained on {saved}: resuming would change "
            f"the data order, and the run would not be the one it was. Restore the data, or start a new run "
            f"(another --out)"
        )


def check_sizes(cfg: TrainConfig) -> None:
    """Refuse, before allocating, a model or a toy data set larger than this machine's memory."""
    with torch.device("meta"):  # shapes only: nothing is allocated, no RNG is drawn
        params = count_params(build_generator(cfg)) + count_params(build_discriminator(cfg))
    need = 4 * params * 4  # weights, gradients and Adam's two moments, fp32
    if cfg.data == "toyfaces":
        need += cfg.num_images * cfg.channels * cfg.image_size**2
    have = memory_available()
    if have is not None and need > have:
        raise UsageError(
            f"this model ({params:,} parameters) and its data need about {need / 2**30:.1f} GiB before any "
            f"activations, but {have / 2**30:.1f} GiB of memory is available: use smaller --nz/--ngf/--ndf"
            f"{' or --num-images' if cfg.data == 'toyfaces' else ''}"
        )


def steps_plan(cfg: TrainConfig, n_images: int) -> tuple[int, int]:
    """(steps per epoch, total steps)."""
    per_epoch = n_images // cfg.batch_size
    if per_epoch == 0:
        raise DataError(f"the data set has {n_images} images, fewer than --batch-size {cfg.batch_size}: lower it")
    return per_epoch, cfg.max_steps or cfg.epochs * per_epoch


DUPLICATES = 0.1  # warn when at least this share of the images repeat another one (at 16x16, 32 grey levels)


def degenerate(data: Dataset, image_size: int) -> list[str]:
    """One line for each way the pictures themselves cannot teach a GAN much: sources far smaller than the
    training size (upscaled: blurred), images of one flat colour, near-duplicates (16x16 grey at 32 levels:
    none among 10,000 toy faces). Cheap: about 1 s for 10,000 images at 64 px.

    >>> import torch
    >>> same = Dataset(torch.full((100, 1, 32, 32), 7, dtype=torch.uint8), "grey")
    >>> [line.split(":")[0] for line in degenerate(same, 32)]
    ['100 of 100 images are one flat colour', '99 of 100 images repeat another one at 16x16 (1 distinct)']
    """
    x, n, lines = data.images, len(data.images), []
    if data.upscaled:
        lines.append(
            f"{data.upscaled:,} of {n:,} images were upscaled from sources at most {image_size // 2} px a side: "
            f"they are blurred at --image-size {image_size}, and the samples will be too"
        )
    flat = int((x.reshape(n, -1).amax(1) == x.reshape(n, -1).amin(1)).sum())
    if flat:
        lines.append(f"{flat:,} of {n:,} images are one flat colour: remove them, or the model learns to draw blanks")
    keys = set()
    for i in range(0, n, 4096):  # bounded memory for large sets
        grey = x[i : i + 4096].float().mean(1, keepdim=True)
        small = torch.nn.functional.adaptive_avg_pool2d(grey, 16).round().to(torch.uint8) >> 3
        keys |= {bytes(row) for row in small.reshape(len(small), -1).numpy()}
    repeats = n - len(keys)
    if repeats >= max(1, DUPLICATES * n):
        lines.append(
            f"{repeats:,} of {n:,} images repeat another one at 16x16 ({len(keys):,} distinct): the model sees "
            "fewer images than the count says, and may learn those few by heart"
        )
    return lines
