"""Checkpoints: atomic writes, safe loads (`weights_only=True`), and the config inside each.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "c.pt"
>>> save_checkpoint(p, {"step": 3, "config": {}})
>>> load_checkpoint(p)["step"]
3
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dcgan_runtime.errors import first_line
from dcgan_runtime.files import atomic_write, not_a_file
from train.augment import Adaptive
from train.config import TrainConfig
from train.model import build_discriminator, build_generator
from train.step import GANStep
from train.watch import Watch

FORMAT = "dcgan-checkpoint"
VERSION = 2  # 2 added the sha256 of the content; version 1 files load without that check


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, unsafe, or not one of ours."""


def digest(obj: Any, h: hashlib._Hash | None = None) -> str:
    """sha256 over a checkpoint's content (keys, numbers, strings and every tensor's bytes).

    torch.load notices a truncated file, not a flipped bit inside a tensor: this does.
    """
    h = h or hashlib.sha256()
    if isinstance(obj, torch.Tensor):
        h.update(f"T{obj.dtype}{tuple(obj.shape)}".encode())
        h.update(obj.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        h.update(b"{")
        for k in sorted(obj, key=str):
            h.update(repr(k).encode())
            digest(obj[k], h)
        h.update(b"}")
    elif isinstance(obj, (list, tuple)):
        h.update(b"[")
        for v in obj:
            digest(v, h)
        h.update(b"]")
    else:
        h.update(repr(obj).encode())
    return h.hexdigest()


def save_checkpoint(path: Path, state: dict[str, Any], copies: tuple[Path, ...] = ()) -> None:
    """Write `state` (tensors, numbers, strings, lists, dicts) atomically, tagged as ours, with its sha256.

    Each of `copies` gets the same bytes as a file of its own (not a link): damage to one never
    reaches another.
    """
    payload = {"format": FORMAT, "version": VERSION, **state}
    payload["sha256"] = digest(payload)
    buf = io.BytesIO()
    torch.save(payload, buf)
    for target in (Path(path), *copies):
        atomic_write(target, buf.getvalue())


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a checkpoint. Only tensors and plain data are unpickled: nothing runs."""
    path = Path(path)
    if (what := not_a_file(path)) is not None:
        raise CheckpointError(f"checkpoint {str(path)!r} {what}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises many types for corrupt, truncated or unsafe files
        raise CheckpointError(
            f"cannot load checkpoint {str(path)!r}: it is corrupt, truncated, or holds "
            f"objects that are not plain data ({type(e).__name__}: {first_line(e)})"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a DCGAN checkpoint of this project (no '{FORMAT}' tag)")
    if state.get("version", 0) > VERSION:
        raise CheckpointError(
            f"{str(path)!r} has checkpoint version {state['version']}; this tool reads up to "
            f"{VERSION}: upgrade the package"
        )
    saved = state.pop("sha256", None)
    if state.get("version", 0) >= 2 and (saved is None or digest(state) != saved):
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt: its content does not match its sha256")
    return state


def load_latest_good(checkpoints: Path) -> tuple[dict[str, Any], Path]:
    """The newest checkpoint that loads and can resume a run, warning about each bad file: `last.pt`,
    else the newer of the newest good periodic `stepNNNNNN.pt` and `best.pt` (a run killed before its
    first last.pt still resumes from best.pt)."""
    last = checkpoints / "last.pt"
    periodic = sorted(checkpoints.glob("step*.pt"), key=_step_of, reverse=True)
    errors: list[str] = []

    def good(path: Path) -> dict[str, Any] | None:
        if not path.exists():
            return None
        try:
            state = load_checkpoint(path)
            check_resumable(state, path)
            return state
        except CheckpointError as e:
            warnings.warn(f"skipping a bad checkpoint: {e}", stacklevel=3)
            errors.append(str(e))
            return None

    if (state := good(last)) is not None:
        return state, last
    found = next(((s, p) for p in periodic if (s := good(p)) is not None), None)
    best = checkpoints / "best.pt"
    if (best_state := good(best)) is not None and (found is None or best_state["step"] > found[0]["step"]):
        found = (best_state, best)
    if found is None:
        raise CheckpointError(
            f"no usable checkpoint in {str(checkpoints)!r}" + (f": {'; '.join(errors)}" if errors else "")
        )
    warnings.warn(f"resuming from {found[1].name} (step {found[0]['step']}), the newest good checkpoint", stacklevel=2)
    return found


def _step_of(path: Path) -> int:
    m = re.fullmatch(r"step(\d+)\.pt", path.name)
    return int(m.group(1)) if m else -1


def resolve_checkpoint(path: Path) -> Path:
    """A run directory means its `checkpoints/last.pt`; a file is itself."""
    path = Path(path)
    if path.is_dir():
        last = path / "checkpoints" / "last.pt"
        if not last.is_file():
            raise CheckpointError(f"run directory {str(path)!r} has no checkpoints/last.pt: did training start there?")
        return last
    return path


# ---------------------------------------------------------------- a run's state: build, check, restore


def training_state(
    *,
    cfg: TrainConfig,
    step: int,
    best_swd: float,
    per_epoch: int,
    images: int,
    dataset: str,
    g: nn.Module,
    d: nn.Module,
    optim: dict[str, Any],
    device: torch.device,
    precision: str,
    watch: dict[str, Any],
    g_ema: nn.Module | None = None,
) -> dict[str, Any]:
    """Everything `--resume` needs to continue bit for bit (the plain modules, not DDP wrappers)."""
    return {
        "config": cfg.to_dict(),
        "step": step,
        "epoch": step // per_epoch,
        "best_swd": best_swd,
        "data_order": {
            "rule": "RandomState([seed, epoch]).permutation(N)",
            "epoch": step // per_epoch,
            "position": step % per_epoch,
            "images": images,
        },
        "generator": g.state_dict(),
        **({"generator_ema": g_ema.state_dict()} if g_ema is not None else {}),
        "discriminator": d.state_dict(),
        "optim": optim,
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else [],
        },
        "dataset": dataset,
        "precision": precision,
        "watch": watch,
    }


def check_generator(state: dict[str, Any], path: Path | str) -> TrainConfig:
    """The schema export needs: a valid config, a step, generator weights that fit it. Returns the config."""
    return _checked_generator(state, str(path))[0]


def _checked_generator(state: dict[str, Any], where: str) -> tuple[TrainConfig, nn.Module]:
    """`check_generator`'s work, returning the (uninitialised) generator it checked the weights against."""
    if not isinstance(state.get("config"), dict):
        raise CheckpointError(f"{where!r} has no training config: not a checkpoint this tool wrote")
    try:
        cfg = TrainConfig.from_dict(state["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{where!r} holds an invalid training config: {e}") from None
    step = state.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise CheckpointError(f"{where!r} has step {step!r}, expected an integer >= 0")
    g = build_generator(cfg)
    _check_weights(state.get("generator"), g, "generator", where)
    if "generator_ema" in state:
        _check_weights(state["generator_ema"], g, "generator average", where)
    return cfg, g


def check_resumable(state: dict[str, Any], path: Path | str) -> TrainConfig:
    """The schema `--resume` needs on top of `check_generator`: D, the optimisers, the RNG state."""
    cfg = check_generator(state, path)
    where = str(path)
    _check_weights(state.get("discriminator"), build_discriminator(cfg), "discriminator", where)
    optim = state.get("optim")
    if not (isinstance(optim, dict) and isinstance(optim.get("opt_g"), dict) and isinstance(optim.get("opt_d"), dict)):
        raise CheckpointError(f"{where!r} lacks the optimiser states that --resume needs")
    rng = state.get("rng")
    if not (isinstance(rng, dict) and isinstance(rng.get("torch"), torch.Tensor) and rng["torch"].dtype == torch.uint8):
        raise CheckpointError(f"{where!r} lacks the RNG state that --resume needs")
    best = state.get("best_swd", float("inf"))
    if isinstance(best, bool) or not isinstance(best, (int, float)):
        raise CheckpointError(f"{where!r} has best_swd {best!r}, expected a number")
    if cfg.augment_target:  # adaptive DiffAugment: its probability is part of the exact state
        try:
            Adaptive(cfg.augment_target, cfg.batch_size, g_lr_max=cfg.g_lr_max).load_state_dict(optim["adaptive"])
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"{where!r} has a missing or damaged adaptive augmentation state") from None
    if "watch" in state:  # checkpoints before train/watch.py have none: the watch starts afresh
        try:
            Watch().load_state_dict(state["watch"])
            int(state["watch"]["rewinds"])
        except (KeyError, TypeError, ValueError, IndexError):
            raise CheckpointError(f"{where!r} has a damaged failure-watch state") from None
    return cfg


def load_generator(path: Path) -> tuple[dict[str, Any], TrainConfig, nn.Module]:
    """A checkpoint file or run directory -> (state, config, generator with its weights): the moving
    average of G where the run kept one (what its samples and SWD showed), else the raw G."""
    path = resolve_checkpoint(path)
    state = load_checkpoint(path)
    cfg, g = _checked_generator(state, str(path))
    g.load_state_dict(state.get("generator_ema", state["generator"]))
    return state, cfg, g


def _check_weights(weights: Any, model: nn.Module, what: str, where: str) -> None:
    """`weights` must be a state dict whose names and shapes are exactly `model`'s."""
    if not isinstance(weights, dict):
        raise CheckpointError(f"{where!r} has no {what} weights")
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in weights.items() if isinstance(v, torch.Tensor)}
    if got != want or len(weights) != len(want):
        bad = sorted(set(want) ^ set(got)) or [k for k in want if want[k] != got.get(k)]
        raise CheckpointError(
            f"{where!r}: the {what} weights do not match the architecture in its config "
            f"(first difference: {bad[0] if bad else 'a non-tensor entry'}): the file is damaged "
            "or was edited"
        )


def restore_weights(state: dict[str, Any], g: nn.Module, d: nn.Module, step_fn: GANStep, ema: Any = None) -> None:
    """Both networks' weights, both optimisers' states and G's average (where kept) from a `training_state`
    (what a rewind takes); a state saved before averages existed starts the average from its G."""
    g.load_state_dict(state["generator"])
    d.load_state_dict(state["discriminator"])
    step_fn.load_state_dict(state["optim"])
    if ema is not None:
        ema.load_state_dict(state.get("generator_ema", state["generator"]))


def restore_training(
    state: dict[str, Any], g: nn.Module, d: nn.Module, step_fn: GANStep, device: torch.device, ema: Any = None
) -> tuple[int, float]:
    """Load a `training_state` back into the models, optimisers, G's average and RNGs; return (step, best_swd)."""
    restore_weights(state, g, d, step_fn, ema)
    torch.set_rng_state(state["rng"]["torch"])
    if device.type == "cuda" and state["rng"].get("cuda"):
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    return state["step"], float(state.get("best_swd", float("inf")))
