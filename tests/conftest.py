"""Shared fixtures: a tiny trained run and its export, built once per session (helpers: support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import train_tiny


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
    assert main([str(tiny_run), "--outdir", str(outdir), "--force", "--fp16", "--int8", "--bf16"]) == 0
    return outdir


@pytest.fixture(scope="session")
def onnx_model(exported) -> Path:
    return exported / "generator.onnx"
