"""TorchScript export: traced from the folded model, frozen, the `dcgan` metadata as an extra file."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
from torch import nn

from dcgan_runtime.files import atomic_write
from dcgan_runtime.metadata import KEY, Metadata

TORCHSCRIPT_DEPRECATED = r"`torch\.jit\.\w+` is deprecated"  # PyTorch 2.x's warning on every jit call


def save_torchscript(model: nn.Module, meta: Metadata, path: Path) -> None:
    """Trace at batch 2 (no batch-dependent control flow: any batch size works), freeze, save atomically."""
    z = torch.zeros(2, meta.latent_dim, 1, 1)
    with warnings.catch_warnings():
        # TorchScript is deprecated in PyTorch 2.x; it still works on the pinned torch. Silence only that.
        warnings.filterwarnings("ignore", message=TORCHSCRIPT_DEPRECATED)
        scripted = torch.jit.freeze(torch.jit.trace(model.eval(), z))
        buf = io.BytesIO()
        torch.jit.save(scripted, buf, _extra_files={KEY: meta.to_json()})
    atomic_write(path, buf.getvalue())


def load_torchscript(path: Path, map_location: str = "cpu") -> tuple[torch.jit.ScriptModule, str]:
    """The module and its metadata JSON, as a user without this project would load them."""
    extra = {KEY: ""}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=TORCHSCRIPT_DEPRECATED)
        module = torch.jit.load(str(path), map_location=map_location, _extra_files=extra)
    text = extra[KEY]
    return module, text.decode() if isinstance(text, bytes) else text
