"""Shared fixtures: a tiny trained run and its export, built once per session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(os.environ.get("DCGAN_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
TINY = ["--data", "toyfaces", "--num-images", "64", "--image-size", "32", "--ngf", "8", "--ndf", "8",
        "--batch-size", "16", "--quiet"]


def shared_data(name: str) -> Path:
    """A folder of ../shared/data (or $DCGAN_DATA); skips the test, saying why, where it is absent."""
    path = DATA / name
    if not path.exists():
        pytest.skip(f"real data {path} is absent (set DCGAN_DATA to the shared data folder)")
    return path


def train_tiny(out: Path, *extra: str) -> int:
    from train.__main__ import main

    return main([*TINY, "--out", str(out), *extra])


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A 32x32 RGB generator trained for 4 steps on 64 toy faces."""
    out = tmp_path_factory.mktemp("run")
    assert train_tiny(out, "--max-steps", "4") == 0
    return out


@pytest.fixture(scope="session")
def exported(tiny_run, tmp_path_factory) -> Path:
    from export.__main__ import main

    outdir = tmp_path_factory.mktemp("export")
    assert main([str(tiny_run), "--outdir", str(outdir), "--force", "--fp16", "--int8"]) == 0
    return outdir


@pytest.fixture(scope="session")
def onnx_model(exported) -> Path:
    return exported / "generator.onnx"
