"""Training survives faults: SIGKILL at random moments, corrupt checkpoints, divergence, a full disk."""

import json
import random
import subprocess
import sys
import time
from collections import namedtuple

import pytest
import torch

from support import TINY, train_tiny
from train.checkpoint import CheckpointError, load_checkpoint, load_latest_good, save_checkpoint

STEPS = ["--max-steps", "240", "--checkpoint-every", "5", "--sample-every", "1000", "--num-images", "48"]


def weights(run):
    """G's weights and its moving average's (both must resume bit for bit)."""
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    return {**state["generator"], **{f"ema.{k}": v for k, v in state["generator_ema"].items()}}


def start(out, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "train", *TINY, *STEPS, "--out", str(out), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_is_bit_exact(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert train_tiny(straight, *STEPS) == 0
    rng = random.Random(0)
    kills, extra = 0, []
    for _attempt in range(8):
        proc = start(killed, *extra)
        last = killed / "checkpoints" / "last.pt"
        deadline = time.time() + 60
        while not last.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.4))  # somewhere in training, maybe mid-checkpoint
        if proc.poll() is not None:  # finished before the kill
            break
        proc.kill()
        proc.wait()
        kills += 1
        extra = ["--resume"]
        if kills == 3:
            break
    proc = start(killed, "--resume")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert kills >= 2, "the kills should land before training ends"
    a, b = weights(straight), weights(killed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [json.loads(line)["step"] for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 241))  # each resume dropped the lines a killed run logged past its checkpoint
    assert not list((killed / "checkpoints").glob(".*.tmp"))


def flip_a_byte_in_tensor_data(path):
    data = bytearray(path.read_bytes())
    i = data.find(b"data/0") + 200  # inside the first tensor's storage, past the zip header
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupt_last_checkpoint_falls_back_to_newest_good(tmp_path, capsys):
    assert train_tiny(tmp_path, "--max-steps", "12", "--checkpoint-every", "5", "--num-images", "48") == 0
    ckpts = tmp_path / "checkpoints"
    assert sorted(p.name for p in ckpts.glob("step*.pt")) == ["step000005.pt", "step000010.pt", "step000012.pt"]
    flip_a_byte_in_tensor_data(ckpts / "last.pt")
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(ckpts / "last.pt")
    assert load_checkpoint(ckpts / "step000012.pt")["step"] == 12  # the history is a file of its own
    flip_a_byte_in_tensor_data(ckpts / "step000012.pt")  # damage the newest history file too
    flip_a_byte_in_tensor_data(ckpts / "best.pt")  # and best.pt (step 12 here), which resume also takes
    with pytest.warns(UserWarning) as warned:
        state, path = load_latest_good(ckpts)
    assert path.name == "step000010.pt" and state["step"] == 10
    text = " ".join(str(w.message) for w in warned)
    assert "last.pt" in text and "step000010.pt" in text
    (ckpts / "step000010.pt").write_bytes((ckpts / "step000010.pt").read_bytes()[:1000])  # truncated too
    with pytest.warns(UserWarning):
        assert load_latest_good(ckpts)[0]["step"] == 5
    capsys.readouterr()  # and training resumes from there, saying so in one line
    assert train_tiny(tmp_path, "--max-steps", "12", "--num-images", "48", "--resume") == 0
    assert "warning: resuming from step000005.pt (step 5)" in capsys.readouterr().err
    assert load_checkpoint(ckpts / "last.pt")["step"] == 12


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    from train import step as step_module

    real_call = step_module.GANStep.__call__
    calls = []

    def diverging(self, real, z, noise=0.0):
        calls.append(1)
        out = real_call(self, real, z, noise)
        return {**out, "loss_g": float("nan")} if len(calls) == 7 else out

    monkeypatch.setattr(step_module.GANStep, "__call__", diverging)
    assert train_tiny(tmp_path, "--max-steps", "20", "--checkpoint-every", "5", "--num-images", "48") == 1
    err = capsys.readouterr().err
    assert "non-finite loss at step 7" in err and "last good checkpoint" in err
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 5


def test_full_disk_is_refused_before_training(tmp_path, monkeypatch, capsys):
    import shutil

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 10**5, 10**5))
    assert train_tiny(tmp_path, "--dry-run") == 1
    assert "MB free" in capsys.readouterr().err
    assert not (tmp_path / "checkpoints" / "last.pt").exists()


def test_disk_full_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch, capsys):
    from train import checkpoint

    assert train_tiny(tmp_path, "--max-steps", "5", "--checkpoint-every", "5", "--num-images", "48") == 0
    good = (tmp_path / "checkpoints" / "last.pt").read_bytes()

    def no_space(payload, f):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", no_space)
    assert train_tiny(tmp_path, "--max-steps", "10", "--num-images", "48", "--resume") == 1
    assert "No space left on device" in capsys.readouterr().err
    assert (tmp_path / "checkpoints" / "last.pt").read_bytes() == good
    assert not list((tmp_path / "checkpoints").glob(".*.tmp"))


def test_a_checkpoint_that_runs_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "code-ran"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "dcgan-checkpoint", "version": 2, "generator": Exploit()}, evil)
    with pytest.raises(CheckpointError, match="not plain data"):
        load_checkpoint(evil)
    assert not marker.exists()
    save_checkpoint(tmp_path / "ok.pt", {"step": 1})
    assert load_checkpoint(tmp_path / "ok.pt")["step"] == 1
    (tmp_path / "cut.pt").write_bytes((tmp_path / "ok.pt").read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "cut.pt")
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files


def test_version_1_checkpoints_without_a_checksum_still_load(tmp_path):
    old = tmp_path / "v1.pt"
    torch.save({"format": "dcgan-checkpoint", "version": 1, "step": 3}, old)
    assert load_checkpoint(old)["step"] == 3
    unsigned = tmp_path / "v2.pt"
    torch.save({"format": "dcgan-checkpoint", "version": 2, "step": 3}, unsigned)
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(unsigned)
