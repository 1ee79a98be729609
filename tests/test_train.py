import json

import pytest
import torch

from support import shared_data, train_tiny
from train.checkpoint import load_checkpoint
from train.config import TrainConfig
from train.step import DeviceError, pick_execution


def test_dry_run_writes_every_artifact(tmp_path):
    assert train_tiny(tmp_path, "--dry-run") == 0
    for name in (
        "config.json",
        "metrics.jsonl",
        "loss.png",
        "progress.gif",
        "checkpoints/last.pt",
        "checkpoints/step000001.pt",
        "samples/step000000.png",
        "samples/step000001.png",
    ):
        assert (tmp_path / name).is_file(), name
    row = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert {"step", "loss_d", "loss_g", "d_x", "d_g_z", "images_per_s"} <= set(row)
    assert TrainConfig.from_dict(json.loads((tmp_path / "config.json").read_text())).max_steps == 1


def test_dry_run_on_real_twemoji(tmp_path):
    data = shared_data("twemoji64")
    from train.cli import main

    assert (
        main(
            [
                "--data",
                str(data),
                "--dry-run",
                "--ngf",
                "8",
                "--ndf",
                "8",
                "--batch-size",
                "8",
                "--out",
                str(tmp_path),
                "--quiet",
            ]
        )
        == 0
    )
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert state["dataset"] == "twemoji64" and state["step"] == 1


def test_checkpoint_holds_everything(tiny_run):
    state = load_checkpoint(tiny_run / "checkpoints" / "last.pt")
    assert {"generator", "generator_ema", "discriminator", "optim", "rng", "config", "step", "data_order"} <= set(state)
    g, ema = state["generator"], state["generator_ema"]
    assert not all(torch.equal(g[k], ema[k]) for k in g if "weight" in k)  # the average lags the trained G
    assert TrainConfig.from_dict(state["config"]).ngf == 8
    assert state["step"] == 4


def weights(run):
    """G's weights and its moving average's (both must resume bit for bit)."""
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    return {**state["generator"], **{f"ema.{k}": v for k, v in state["generator_ema"].items()}}


def test_resume_is_exact(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert train_tiny(straight, "--max-steps", "6", "--num-images", "48") == 0
    assert train_tiny(split, "--max-steps", "3", "--num-images", "48") == 0
    assert train_tiny(split, "--max-steps", "6", "--num-images", "48", "--resume") == 0
    a, b = weights(straight), weights(split)
    assert all(torch.equal(a[k], b[k]) for k in a)
    lines = (split / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2, 3, 4, 5, 6]


def test_resume_refuses_architecture_changes(tmp_path, capsys):
    assert train_tiny(tmp_path, "--dry-run") == 0
    assert train_tiny(tmp_path, "--resume", "--ngf", "16") == 2
    assert "--ngf 16 (the run has 8)" in capsys.readouterr().err
    assert train_tiny(tmp_path, "--dry-run") == 2
    assert "already holds a run" in capsys.readouterr().err


@pytest.mark.slow
def test_sigterm_saves_a_consistent_checkpoint(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from support import TINY

    proc = subprocess.Popen(
        [sys.executable, "-m", "train", *TINY, "--max-steps", "100000", "--out", str(tmp_path)],
        stderr=subprocess.PIPE,
        text=True,
    )
    metrics = tmp_path / "metrics.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and not (metrics.exists() and metrics.stat().st_size > 0):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "SIGTERM: saved" in err and "--resume" in err
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    steps = [json.loads(x)["step"] for x in metrics.read_text().splitlines()]
    assert state["step"] == steps[-1] > 0  # the checkpoint is at a step boundary, matching the log


def test_cuda_without_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        pick_execution(TrainConfig(device="cuda"))
    assert pick_execution(TrainConfig(device="auto")).device.type == "cpu"
    assert pick_execution(TrainConfig(precision="fp32")).precision == "fp32"
