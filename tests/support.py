"""Helpers the tests share (fixtures live in conftest.py): real data, the tiny training command, BN noise."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from train.model import Generator

DATA = Path(os.environ.get("DCGAN_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
TINY = "--data toyfaces --num-images 64 --image-size 32 --ngf 8 --ndf 8 --batch-size 16 --quiet".split()


def shared_data(name: str) -> Path:
    """A folder of ../shared/data (or $DCGAN_DATA); skips the test, saying why, where it is absent."""
    path = DATA / name
    if not path.exists():
        pytest.skip(f"real data {path} is absent (set DCGAN_DATA to the shared data folder)")
    return path


CHROMIUM_FLAGS = [  # headless Chromium on a machine whose network reaches nothing outside
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium() -> str:
    """Debian's Chromium and Playwright, or a skip that says which is missing."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("headless Chromium is not installed (.ci/run installs Debian's chromium package)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the [test] extra has it)")
    return path


def train_tiny(out: Path, *extra: str) -> int:
    from train.cli import main

    return main([*TINY, "--out", str(out), *extra])


def sessions_end_up_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every onnxruntime session runs on CPU whatever it asked for: what onnxruntime-gpu does on a machine
    without a usable GPU (and a provider that fails to load does)."""
    import onnxruntime as ort

    real = ort.InferenceSession

    def on_cpu(path: str, sess_options: object, providers: object, provider_options: object) -> object:
        return real(path, sess_options=sess_options, providers=["CPUExecutionProvider"])

    monkeypatch.setattr(ort, "InferenceSession", on_cpu)


def randomise_bn(g: Generator, seed: int = 0) -> Generator:
    """Fresh BN (mean 0, var 1, scale 1) hides axis mistakes: give every channel its own statistics."""
    gen = torch.Generator().manual_seed(seed)
    for m in g.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=gen) * 2 - 1)
            m.running_var.copy_(torch.rand(n, generator=gen) * 2 + 0.2)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=gen) - 0.5)
    return g.eval()
