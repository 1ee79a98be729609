"""G's moving average (train/ema.py) and the SWD floor: what samples, best.pt and export are made from,
and the real-vs-real distance a run's SWD is read against."""

from __future__ import annotations

import json

import pytest
import torch

from support import train_tiny
from train.checkpoint import load_checkpoint, load_generator
from train.ema import EMA
from train.model import Generator


def test_the_average_follows_its_half_life_and_ramps_up():
    g = Generator(nz=8, ngf=4, image_size=32)
    ema = EMA(g, half_life=6_400, rampup=0.05, batch=64)
    assert ema.beta(images=1_000_000) == pytest.approx(0.5 ** (64 / 6_400))  # the half-life itself
    assert ema.beta(images=12_800) == pytest.approx(0.5 ** (64 / 640))  # ramped: 5% of the images seen
    before = [p.clone() for p in ema.model.parameters()]
    with torch.no_grad():
        for p in g.parameters():
            p.add_(1.0)
    ema.update(g, images=1_000_000)
    w = 1 - ema.beta(images=1_000_000)
    for old, new, target in zip(before, ema.model.parameters(), g.parameters()):
        assert torch.allclose(new, old + w * (target - old))


def test_calibration_is_deterministic_and_leaves_the_training_rng_alone():
    g = Generator(nz=8, ngf=4, image_size=32)
    ema = EMA(g, half_life=1_000, rampup=0.0, batch=16)
    torch.manual_seed(3)
    rng = torch.get_rng_state()
    first = {k: v.clone() for k, v in ema.calibrate().state_dict().items()}
    assert torch.equal(torch.get_rng_state(), rng)
    ema.load_state_dict(ema.state_dict())  # the weights reloaded: computed again, not the cached result
    second = ema.calibrate().state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first) and not ema.model.training
    bn = next(m for m in ema.model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert bn.momentum == 0.1 and bn.num_batches_tracked.item() == 8  # cumulative over 8 batches, then restored


def test_runs_export_the_average_and_0_turns_it_off(tmp_path):
    assert train_tiny(tmp_path / "on", "--max-steps", "3") == 0
    state, _, g = load_generator(tmp_path / "on")
    assert all(torch.equal(v, state["generator_ema"][k]) for k, v in g.state_dict().items())
    assert train_tiny(tmp_path / "off", "--max-steps", "3", "--ema-images", "0") == 0
    off = load_checkpoint(tmp_path / "off" / "checkpoints" / "last.pt")
    assert "generator_ema" not in off and json.loads((tmp_path / "off" / "config.json").read_text())["ema_images"] == 0


def test_the_swd_floor_is_logged_and_carried_to_the_card(tmp_path, capsys):
    from huggingface_hub import ModelCard

    from export.__main__ import main as export_main

    run = tmp_path / "run"
    assert train_tiny(run, "--num-images", "320", "--max-steps", "2", "--sample-every", "1") == 0
    err = capsys.readouterr().err
    floor = float(err.split("SWD floor (real vs real) ")[1].split()[0])
    assert floor > 0 and f"real vs real {floor:.1f}" in err
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {round(r["swd_floor"], 1) for r in rows if "swd" in r} == {floor}
    assert export_main([str(run), "--outdir", str(tmp_path / "export"), "--formats", "onnx"]) == 0
    card = ModelCard.load(tmp_path / "export" / "README.md").text
    assert f"would reach: {round(rows[-1]['swd_floor'], 2)}" in card and "best / floor" in card
    assert train_tiny(tmp_path / "few", "--max-steps", "1") == 0  # 64 images: no 256 + 32 to measure it with
    assert "SWD floor (real vs real) not measured: too few images" in capsys.readouterr().err
