"""Checkpoints: atomic writes, safe loads (`weights_only=True`), and the config inside each.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "c.pt"
>>> save_checkpoint(p, {"step": 3, "config": {}})
>>> load_checkpoint(p)["step"]
3
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

FORMAT = "dcgan-checkpoint"
VERSION = 1


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


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write `state` (tensors, numbers, strings, lists, dicts) atomically, tagged as ours."""
    payload = {"format": FORMAT, "version": VERSION, **state}
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
    return state


def resolve_checkpoint(path: Path) -> Path:
    """A run directory means its `checkpoints/last.pt`; a file is itself."""
    path = Path(path)
    if path.is_dir():
        last = path / "checkpoints" / "last.pt"
        if not last.is_file():
            raise CheckpointError(f"run directory {str(path)!r} has no checkpoints/last.pt: did training start there?")
        return last
    return path
