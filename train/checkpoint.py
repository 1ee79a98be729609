"""Checkpoints: atomic writes, safe loads (`weights_only=True`), and the config inside each.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "c.pt"
>>> save_checkpoint(p, {"step": 3, "config": {}})
>>> load_checkpoint(p)["step"]
3
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

FORMAT = "dcgan-checkpoint"
VERSION = 2  # 2 added the sha256 of the content; version 1 files load without that check


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, unsafe, or not one of ours."""


def atomic_write(path: Path, write) -> None:
    """Call `write(file)` on a temp file beside `path`, fsync, then rename over `path`.

    A crash at any moment leaves either the old file or the new one, never a torn one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def digest(obj: Any, h: "hashlib._Hash | None" = None) -> str:
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


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write `state` (tensors, numbers, strings, lists, dicts) atomically, tagged as ours, with its sha256."""
    payload = {"format": FORMAT, "version": VERSION, **state}
    payload["sha256"] = digest(payload)
    atomic_write(Path(path), lambda f: torch.save(payload, f))


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a checkpoint. Only tensors and plain data are unpickled: nothing runs."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises many types for corrupt, truncated or unsafe files
        raise CheckpointError(f"cannot load checkpoint {str(path)!r}: it is corrupt, truncated, or holds "
                              f"objects that are not plain data ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a DCGAN checkpoint of this project (no '{FORMAT}' tag)")
    if state.get("version", 0) > VERSION:
        raise CheckpointError(f"{str(path)!r} has checkpoint version {state['version']}; this tool reads up to "
                              f"{VERSION}: upgrade the package")
    saved = state.pop("sha256", None)
    if state.get("version", 0) >= 2 and (saved is None or digest(state) != saved):
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt: its content does not match its sha256")
    return state


def load_latest_good(checkpoints: Path) -> tuple[dict[str, Any], Path]:
    """`last.pt`, or else the newest periodic `stepNNNNNN.pt` that loads, warning about each bad file."""
    last = checkpoints / "last.pt"
    candidates = [last] + sorted(checkpoints.glob("step*.pt"), key=_step_of, reverse=True)
    errors = []
    for path in candidates:
        if not path.exists():
            continue
        try:
            state = load_checkpoint(path)
        except CheckpointError as e:
            warnings.warn(f"skipping a bad checkpoint: {e}", stacklevel=2)
            errors.append(str(e))
            continue
        if path != last:
            warnings.warn(f"resuming from {path.name} (step {state['step']}), the newest good checkpoint", stacklevel=2)
        return state, path
    raise CheckpointError(f"no usable checkpoint in {str(checkpoints)!r}" + (f": {'; '.join(errors)}" if errors else ""))


def remove_stale_temp_files(folder: Path) -> int:
    """Delete the temp files an interrupted atomic write left behind (the real files are intact)."""
    stale = list(folder.glob(".*.tmp"))
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


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
