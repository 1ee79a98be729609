"""DDP under torchrun, on CPU with gloo: two processes with half the batch each equal one process
with the whole batch, and the run directory is written once."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from support import TINY
from train import distributed
from train.config import TrainConfig
from train.model import build_models
from train.step import Execution, GANStep

CFG = TrainConfig(image_size=32, ngf=8, ndf=8, batch_size=8, precision="fp32")


def one_step(world: distributed.World, sync_bn: bool) -> dict:
    """Build the seeded tiny models, take one GAN step on this rank's share; return every gradient."""
    torch.manual_seed(0)
    g, d = build_models(CFG)
    if world.size > 1:
        g, d = distributed.wrap(g, world, sync_bn), distributed.wrap(d, world, sync_bn)
    step = GANStep(g, d, CFG, Execution(torch.device("cpu"), None))
    gen = torch.Generator().manual_seed(1)
    real = torch.rand(8, 3, 32, 32, generator=gen) * 2 - 1
    z = torch.randn(8, CFG.nz, 1, 1, generator=gen)
    step(real[world.part(8)], z[world.part(8)])
    return {
        f"{n}.{k}": p.grad.clone() for n, m in (("g", g), ("d", d)) for k, p in distributed.unwrap(m).named_parameters()
    }


def worker(rank: int, store: str, out: str, sync_bn: bool) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    torch.set_num_threads(1)
    grads = one_step(distributed.World(rank, 2), sync_bn)
    torch.save(grads, f"{out}.{rank}")
    dist.destroy_process_group()


def measure_once(rank: int, store: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    calls = []
    got = distributed.on_main(lambda: calls.append(rank) or 1.5 + rank, distributed.World(rank, 2))
    Path(f"{out}.{rank}").write_text(json.dumps({"got": got, "calls": calls}))
    dist.destroy_process_group()


def test_a_choice_measured_on_rank_0_is_every_ranks_choice(tmp_path):
    mp.spawn(measure_once, args=(str(tmp_path / "store"), str(tmp_path / "out")), nprocs=2)
    ranks = [json.loads((tmp_path / f"out.{r}").read_text()) for r in (0, 1)]
    assert ranks == [{"got": 1.5, "calls": [0]}, {"got": 1.5, "calls": []}]  # rank 1 never measured


@pytest.mark.parametrize("sync_bn", [True, False])
def test_two_processes_with_half_batches_match_one_process(tmp_path, sync_bn):
    mp.spawn(worker, args=(str(tmp_path / "store"), str(tmp_path / "grads"), sync_bn), nprocs=2)
    want = one_step(distributed.World(), sync_bn)
    ranks = [torch.load(tmp_path / f"grads.{r}") for r in (0, 1)]
    assert all(torch.equal(ranks[0][k], ranks[1][k]) for k in want)  # DDP: every rank holds the same gradients
    worst = max(float((ranks[0][k] - want[k]).abs().max()) for k in want)
    if sync_bn:
        assert worst <= 1e-5 and len(want) == 18  # all of G's and D's parameters
    else:  # each rank's BatchNorm sees only its half: a different (still valid) estimator
        assert worst > 1e-4


def test_global_batchnorm_is_plain_batchnorm_outside_a_job():
    torch.manual_seed(0)
    g = distributed.convert_sync_batchnorm(build_models(CFG)[0])
    assert any(isinstance(m, distributed.GlobalBatchNorm2d) for m in g.modules())
    ref = build_models(CFG)[0]
    ref.load_state_dict(g.state_dict())  # same parameters and buffers under the same names
    z = torch.randn(4, CFG.nz, 1, 1)
    assert torch.equal(g(z), ref(z))


def test_world_splits_the_global_batch():
    parts = [distributed.World(r, 4).part(128) for r in range(4)]
    assert [(p.start, p.stop) for p in parts] == [(0, 32), (32, 64), (64, 96), (96, 128)]


@pytest.mark.slow
def test_torchrun_trains_and_writes_the_run_once(tmp_path):
    def run(out, *launcher):
        args = [
            *TINY,
            "--max-steps",
            "5",
            "--recipe",  # the recipe with the most state the ranks must agree on: adaptive DiffAugment
            "adaptive",
            "--augment-target",
            "0.1",  # p moves after step 4
            "--sample-every",
            "3",
            "--precision",
            "fp32",
            "--threads",
            "1",
            "--out",
            str(out),
        ]
        return subprocess.run(
            [sys.executable, *launcher, "-m", "train", *args, "--sync-bn"], capture_output=True, text=True, timeout=300
        )

    ddp = run(tmp_path / "ddp", "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2")
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    assert ddp.stderr.count("data: ") == 1 and "2 processes (DDP, synchronised BN), 8 images each" in ddp.stderr
    single = run(tmp_path / "one")
    assert single.returncode == 0, single.stderr[-2000:]
    lines = [json.loads(x) for x in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    ref = [json.loads(x) for x in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2, 3, 4, 5]  # one writer
    for a, b in zip(lines, ref):  # the ranks' averaged losses are the one-process losses
        assert abs(a["loss_d"] - b["loss_d"]) < 1e-3 and abs(a["loss_g"] - b["loss_g"]) < 1e-3
        assert a["augment_p"] == b["augment_p"]  # moved by the global batch's sign mean
    assert lines[-1]["augment_p"] > 0
    samples = ["step000000.png", "step000003.png", "step000005.png"]
    assert sorted(p.name for p in (tmp_path / "ddp" / "samples").iterdir()) == samples
    assert json.loads((tmp_path / "ddp" / "config.json").read_text())["sync_bn"] is True
    from train.checkpoint import load_checkpoint

    state = load_checkpoint(tmp_path / "ddp" / "checkpoints" / "last.pt")
    assert state["step"] == 5 and not any(k.startswith("module.") for k in state["generator"])


def test_a_killed_rank_ends_the_others_in_one_line(tmp_path):
    out = tmp_path / "run"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    args = [*TINY, "--max-steps", "100000", "--precision", "fp32", "--threads", "1", "--out", str(out)]
    job = subprocess.Popen([*launcher, "-m", "train", *args], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not (out / "metrics.jsonl").is_file() or not (out / "metrics.jsonl").read_text():
            assert job.poll() is None and time.monotonic() < deadline, "training did not start"
            time.sleep(0.2)
        ranks = [int(p) for p in os.listdir("/proc") if p.isdigit() and _parent(int(p)) == job.pid]
        second = next(p for p in ranks if b"LOCAL_RANK=1\0" in Path(f"/proc/{p}/environ").read_bytes())
        os.kill(second, signal.SIGKILL)
        err = job.communicate(timeout=120)[1]
    finally:
        job.kill()
    ours = [line for line in err.splitlines() if line.startswith("error: rank 0")]
    assert len(ours) == 1 and "lost the torchrun job" in ours[0], err[-3000:]
    train_lines = err.split("error: rank 0")[1].split("\n", 2)[:2]  # the line and what to do, nothing more
    assert "the run stopped" in train_lines[1]


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1
