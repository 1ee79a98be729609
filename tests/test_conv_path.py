"""The CPU step's conv paths: the same step in three kernel families, chosen by measurement and cached."""

from __future__ import annotations

import copy
import json
import os

import pytest
import torch

from benchmarks.reference import ReferenceStep
from tests.support import train_tiny
from train import conv_path
from train.config import TrainConfig
from train.model import build_models
from train.step import Execution, GANStep

CFG = TrainConfig(image_size=32, ngf=8, ndf=8, batch_size=8, device="cpu", precision="fp32")
FP32 = Execution(torch.device("cpu"), None)


def _after_two_steps(step_factory, cl: bool):
    torch.manual_seed(0)
    g, d = build_models(CFG)
    if cl:
        g, d = (m.to(memory_format=torch.channels_last) for m in (g, d))
    step = step_factory(g, d)
    gen = torch.Generator().manual_seed(1)
    scalars = [
        step(torch.rand(8, 3, 32, 32, generator=gen) * 2 - 1, torch.randn(8, 100, 1, 1, generator=gen))
        for _ in range(2)
    ]
    return scalars, {**g.state_dict(), **{f"d.{k}": v for k, v in d.state_dict().items()}}


@pytest.mark.parametrize("name", sorted(conv_path.CANDIDATES))
def test_every_conv_path_is_the_reference_algorithm(name):
    """Two steps from the same weights and data match pytorch/examples' loop to float rounding."""
    ex = conv_path.with_path(FP32, name)
    assert ex.conv_path == name
    ours, w_ours = _after_two_steps(lambda g, d: GANStep(g, d, CFG, ex), ex.channels_last)
    ref, w_ref = _after_two_steps(lambda g, d: ReferenceStep(g, d, CFG), False)
    for a, b in zip(ours, ref):
        assert a == pytest.approx(b, rel=1e-3, abs=1e-4)
    for k in w_ref:
        assert torch.allclose(w_ours[k].float(), w_ref[k].float(), rtol=1e-3, atol=1e-4), k


def test_auto_measures_once_then_uses_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    monkeypatch.setattr(conv_path, "BUSY_SHARE", 0.0)  # cached even if the test machine is busy (tested apart)
    said = []
    cfg = CFG.replace(conv="auto")
    first = conv_path.choose(cfg, FP32, log=said.append)
    assert len(said) == 2 and "timing" in said[0] and f"-> {first.conv_path}" in said[1]
    (path,) = (tmp_path / "train-step").glob("*.json")
    data = json.loads(path.read_text())
    assert data["choice"] == first.conv_path == max(data["images_per_s"], key=data["images_per_s"].get)
    assert set(data["images_per_s"]) == set(conv_path.labels(FP32))
    said.clear()
    assert conv_path.choose(cfg, FP32, log=said.append) == first and said == []  # cached: no timing
    path.write_text("{garbage")  # unreadable: measured again, not an error
    assert conv_path.choose(cfg, FP32, log=said.append).conv_path in conv_path.CANDIDATES and said
    assert conv_path.choose(cfg.replace(conv="native"), FP32, log=said.append).conv_path == "native"
    assert conv_path.choose(cfg.replace(batch_size=4), FP32, log=said.append)  # another shape: another entry
    assert len(list((tmp_path / "train-step").glob("*.json"))) == 2


def test_auto_leaves_the_run_s_random_streams_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    torch.manual_seed(123)
    expected = copy.deepcopy(torch.get_rng_state())
    conv_path.choose(CFG, FP32, log=lambda _: None)
    assert torch.equal(torch.get_rng_state(), expected)


def test_training_names_its_conv_path_and_refuses_unknown_ones(tmp_path, capsys):
    assert train_tiny(tmp_path / "a", "--max-steps", "2", "--conv", "native") == 0
    assert "(native)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_tiny(tmp_path / "b", "--conv", "fastest")
    with pytest.raises(ValueError, match="conv must be one of"):
        TrainConfig(conv="fastest")


def test_smt_machines_also_try_one_thread_per_core(tmp_path, monkeypatch):
    """Where torch's threads include SMT siblings, each path is also timed on one thread per core."""
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    assert 1 <= conv_path.physical_cores() <= (os.cpu_count() or 1)
    threads = torch.get_num_threads()
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(conv_path, "physical_cores", lambda: 1)
    assert conv_path.labels(FP32) == ["onednn-cl", "onednn", "native", "onednn-cl@1", "onednn@1", "native@1"]
    bf16 = Execution(torch.device("cpu"), torch.bfloat16)
    assert conv_path.labels(bf16) == ["onednn-cl", "onednn", "onednn-cl@1", "onednn@1"]  # no bf16 kernels in ATen
    monkeypatch.undo()
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    monkeypatch.setattr(conv_path, "labels", lambda ex: ["onednn-cl", "onednn-cl@1"])
    rates = conv_path.measure(CFG, FP32, seconds=0.1)
    assert set(rates) == {"onednn-cl", "onednn-cl@1"} and torch.get_num_threads() == threads
    ex = conv_path.with_path(FP32, "onednn-cl@1")
    assert (ex.threads, ex.channels_last, ex.onednn, ex.conv_path) == (1, True, True, "onednn-cl@1")


def test_an_instruction_set_cap_below_bf16_makes_the_cpu_fp32_only(monkeypatch):
    """ONEDNN_MAX_CPU_ISA=AVX2 makes oneDNN an AVX2 library: bf16 would be emulated, so auto picks fp32."""
    from train.step import cpu_has_bf16, pick_execution

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert not cpu_has_bf16()
    assert pick_execution(TrainConfig(device="cpu")).precision == "fp32"
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    native = cpu_has_bf16()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx512_core_bf16")  # a cap at or above bf16 changes nothing
    assert cpu_has_bf16() == native


def test_profile_step_lists_where_a_step_spends_its_time(capsys):
    from benchmarks.profile_step import main

    assert main(["--loop", "onednn", "--batch-size", "4", "--steps", "1", "--rows", "5"]) == 0
    out = capsys.readouterr().out
    assert "images/s under the profiler" in out and "onednn fp32, batch 4" in out and "Self CPU" in out
    assert "convolution" in out


def test_an_unwritable_cache_never_stops_training(tmp_path, monkeypatch):
    (tmp_path / "train-step").write_text("a file where the folder should be")
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    said = []
    assert conv_path.choose(CFG, FP32, log=said.append).conv_path in conv_path.labels(FP32)
    assert "not cached: " in said[-1]
