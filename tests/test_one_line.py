"""Bad flags are one line naming the flag the user typed, never argparse's usage block; empty or zero values are
refused, not read as "not given"; and a command checks its flags and extras before it loads a model (so the
model here need not exist: the error must come first)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NO_MODEL = "/nonexistent/generator.onnx"


def run(*args: str, hide: str = "") -> subprocess.CompletedProcess[str]:
    code = f"import sys; {hide} sys.argv[0] = 'x'; import runpy; runpy.run_module(sys.argv.pop(1), run_name='__main__')"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


@pytest.mark.parametrize(
    "args, says",
    [
        (["train", "--recipe", "bogus"], "--recipe invalid choice: 'bogus'"),
        (["train", "--on-collapse="], "--on-collapse invalid choice: ''"),
        (["train", "--max-steps", "0"], "--max-steps must be in 1.."),
        (["train", "--epochs", "0"], "--epochs must be in 1.."),
        (["train", "--threads", "0"], "--threads must be in 1.."),
        (["export", "run", "--outdir", "x", "--opset", "x"], "--opset invalid int value: 'x'"),
        (["dcgan_runtime", "generate", NO_MODEL, "--outdir", "o", "--workers", "x"], "--workers must be an integer"),
        (["dcgan_runtime", "generate", NO_MODEL, "--outdir", "o", "--shard", ""], "--shard must look like I/N"),
        (["dcgan_runtime", "generate", NO_MODEL, "--out", "g.png", "--batch-size", "0"], "--batch-size must be in"),
        (["dcgan_runtime", "serve", NO_MODEL, "--replicas", "0"], "--replicas must be in 1..64, got 0"),
        (["dcgan_runtime", "arithmetic", NO_MODEL, "--plus", "", "--out", "a.png"], "--plus takes numbers"),
        (["dcgan_runtime", "push", "folder", "not a repo"], "ORG/NAME 'not a repo' is not a Hub repository id"),
        (["dcgan_runtime", "info", NO_MODEL, "--threads", "two"], "--threads must be an integer in 1..1024"),
    ],
)
def test_a_bad_flag_is_one_line_that_names_it(args, says):
    r = run(*args)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and says in r.stderr, r.stderr
    assert "usage:" not in r.stderr and "Traceback" not in r.stderr


def test_serve_on_ray_without_ray_says_so_before_loading_the_model():
    r = run("dcgan_runtime", "serve", NO_MODEL, "--engine", "ray", hide="sys.modules['ray'] = None;")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "pip install 'dcgan[ray]'" in r.stderr and "does not exist" not in r.stderr


def test_augment_none_is_not_an_error_about_a_flag_never_typed(tmp_path):
    from train.cli import main

    tiny = "--data toyfaces --num-images 64 --image-size 32 --ngf 8 --ndf 8 --batch-size 16 --dry-run --quiet"
    assert main([*tiny.split(), "--augment", "none", "--out", str(tmp_path / "run")]) == 0
    config = (tmp_path / "run" / "config.json").read_text()
    assert '"augment": ""' in config and '"augment_target": 0.0' in config
