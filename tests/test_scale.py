"""Generation at scale: lazy seed sets, streaming shards in four formats, equal bytes for equal runs,
resume after SIGKILL, --shard halves, bounded memory for 120,000 images, and Ray Data on a local cluster."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from dcgan_runtime import Generator
from dcgan_runtime.cli import main as dcgan
from dcgan_runtime.scale import Plan, SeedSet, write
from dcgan_runtime.scale.formats import seed_name
from dcgan_runtime.scale.shards import MANIFEST

ROOT = Path(__file__).resolve().parents[1]
DCGAN = [sys.executable, "-m", "dcgan_runtime"]


@pytest.fixture(scope="module")
def g(onnx_model):
    return Generator.load(onnx_model, device="cpu", threads=2)


def generate_args(model: Path, seeds: str, fmt: str, shard_size: int) -> list[str]:
    """`dcgan generate MODEL --seeds ... --format ... --shard-size ...` on the CPU, without --outdir."""
    return [
        "generate",
        str(model),
        "--seeds",
        seeds,
        "--format",
        fmt,
        "--shard-size",
        str(shard_size),
        "--device",
        "cpu",
    ]


def run_locally(args: list[str], outdir: Path) -> None:
    """The single-process run a test compares against."""
    subprocess.run([*DCGAN, *args, "--outdir", str(outdir)], check=True, capture_output=True, cwd=ROOT, timeout=300)


def files(folder: Path) -> dict[str, bytes]:
    """The run's files (not the .lock-share-I-of-N and .manifest.lock that runs hold while they write)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith(".lock") and not p.name.startswith(".lock-")
    }


def test_seed_sets_are_lazy_and_slice_across_ranges():
    s = SeedSet.parse("5-9,100,0-2")
    assert len(s) == 9 and list(s) == [5, 6, 7, 8, 9, 100, 0, 1, 2] and str(s) == "5-9,100,0-2"
    assert s.take(3, 8) == [8, 9, 100, 0, 1] and s.take(8, 20) == [2] and s.take(0, 0) == []
    assert s.at(np.arange(9)).tolist() == list(s)
    huge = SeedSet.parse("0-4294967295,0-4294967295")  # 8.6 billion seeds, never expanded
    assert len(huge) == 2**33 and huge.take(2**32 - 1, 2**32 + 1) == [2**32 - 1, 0]


def test_iter_generate_streams_what_generate_makes(g):
    chunks = list(g.iter_generate(range(10), batch_size=4))
    assert [c for c, _ in chunks] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert np.array_equal(np.concatenate([i for _, i in chunks]), g.generate(seeds=range(10)))
    first, images = next(g.iter_generate(range(10**12), batch_size=3))  # lazy: one chunk of a trillion
    assert first == [0, 1, 2] and images.shape == (3, 32, 32, 3)


@pytest.mark.parametrize("fmt", ["png", "tar", "npy", "parquet"])
def test_each_format_holds_the_seeds_images_and_equal_runs_give_equal_bytes(g, tmp_path, fmt):
    plan = Plan(SeedSet.parse("0-9,40-44"), fmt, shard_size=6)
    summary = write(g, plan, tmp_path / "a", batch_size=4)
    assert (summary.written, summary.kept, summary.images) == (3, 0, 15)
    expected = dict(zip(list(plan.seeds), g.generate(seeds=list(plan.seeds))))
    found: dict[int, np.ndarray] = {}
    for k in range(3):
        target = tmp_path / "a" / plan.name(k)
        if fmt == "png":
            for p in sorted(target.iterdir()):
                found[int(p.stem[4:])] = np.asarray(Image.open(p))
        elif fmt == "tar":
            with tarfile.open(target) as tar:
                for m in tar.getmembers():
                    assert (m.mtime, m.uid, m.uname, m.mode) == (0, 0, "", 0o644)
                    found[int(m.name[4:-4])] = np.asarray(Image.open(io.BytesIO(tar.extractfile(m).read())))
        elif fmt == "npy":
            images = np.load(target)
            found.update(zip(plan.seeds_of(k), images))
        else:
            table = pq.read_table(target)
            for s, png in zip(table["seed"].to_pylist(), table["png"].to_pylist()):
                found[s] = np.asarray(Image.open(io.BytesIO(png)))
    assert sorted(found) == sorted(expected) and all(np.array_equal(found[s], expected[s]) for s in expected)
    manifest = json.loads((tmp_path / "a" / MANIFEST).read_text())
    assert (manifest["format"], manifest["count"], manifest["shards"], manifest["seeds"]) == (fmt, 15, 3, "0-9,40-44")
    write(g, plan, tmp_path / "b", batch_size=7)  # another batch size: batching never changes an image
    assert files(tmp_path / "a") == files(tmp_path / "b")


def test_rerun_keeps_whole_shards_and_refuses_another_run(g, tmp_path, capsys):
    out = tmp_path / "out"
    assert dcgan(["generate", str(g.path), "--seeds", "0-29", "--outdir", str(out), "--shard-size", "10"]) == 0
    capsys.readouterr()
    (out / "00001").rename(tmp_path / "moved")  # as if the run died before that shard
    stamp = (out / "00000" / seed_name(0)).stat().st_mtime_ns
    assert dcgan(["generate", str(g.path), "--seeds", "0-29", "--outdir", str(out), "--shard-size", "10"]) == 0
    assert "wrote 10 images in 1 png shard" in capsys.readouterr().out.splitlines()[-1]
    assert (out / "00000" / seed_name(0)).stat().st_mtime_ns == stamp  # kept, not rewritten
    assert files(out / "00001") == files(tmp_path / "moved")
    cases = [
        (["--format", "tar"], "another format"),
        (["--seeds", "0-31"], "other seeds"),
        (["--shard-size", "5"], "other settings: shard_size"),
    ]
    for extra, words in cases:
        args = ["generate", str(g.path), "--seeds", "0-29", "--outdir", str(out), "--shard-size", "10", *extra]
        assert dcgan(args) == 2
        err = capsys.readouterr().err
        assert words in err and "--force" in err and err.count("\n") == 1
    args = ["generate", str(g.path), "--seeds", "0-29", "--outdir", str(out), "--format", "npy", "--force"]
    assert dcgan(args) == 0
    assert sorted(files(out)) == ["manifest.json", "shard-00000.npy"]  # the png run is gone


def test_outdir_refusals_are_one_line(g, tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    cases = [
        (["--outdir", str(tmp_path / "mine")], "not a dcgan generate run (notes.txt)"),
        (["--outdir", str(tmp_path / "x"), "--shard", "3/2"], "--shard needs 1 <= I <= N"),
        (["--outdir", str(tmp_path / "x"), "--shard", "half"], "--shard must look like I/N"),
        (["--outdir", str(tmp_path / "x"), "--shard-size", "0"], "--shard-size must be in 1..100000"),
        (["--out", str(tmp_path / "g.png"), "--format", "tar"], "are for --outdir"),
        (["--out", str(tmp_path / "g.png"), "--outdir", str(tmp_path / "y"), "--seeds", "0-200000"], "--seeds names"),
    ]
    for extra, words in cases:
        assert dcgan(["generate", str(g.path), "--seeds", "0-3", *extra]) == 2, extra
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert not (tmp_path / "y").exists()  # the grid's error came before the folder was touched
    every = ["generate", str(g.path), "--seeds", "0-4294967295", "--outdir", str(tmp_path / "all"), "--shard-size", "1"]
    assert dcgan(every) == 2  # 4.3 billion shards: refused at once, before any file
    assert "use --shard-size 4295 or more" in capsys.readouterr().err and not (tmp_path / "all").exists()


def test_parquet_without_pyarrow_is_refused_before_anything_is_written(g, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    assert (
        dcgan(["generate", str(g.path), "--seeds", "0-3", "--outdir", str(tmp_path / "p"), "--format", "parquet"]) == 2
    )
    assert "pip install 'dcgan[parquet]'" in capsys.readouterr().err and not (tmp_path / "p").exists()


def test_shares_count_their_images_without_listing_them():
    seeds = SeedSet.parse("0-2499")
    first, second = (Plan(seeds, "npy", 1000, share=(i, 2)) for i in (1, 2))
    assert first.images_of(first.mine()) == 1500 and second.images_of(second.mine()) == 1000  # shards 0, 2 | 1
    every = SeedSet.parse("0-4294967295")
    assert Plan(every, "tar", 4295).shards <= 1_000_000  # the size the refusal names fits
    with pytest.raises(ValueError, match="more than 1,000,000 a run may have"):
        Plan(every, "tar", 4294)


def test_progress_bar_and_summary_line(g, tmp_path, capsys):
    from dcgan_runtime.cli.console import Bar

    bar = Bar()
    bar(500, 1000)
    bar.finish()
    err = capsys.readouterr().err
    assert "[###############...............] 500/1,000 images" in err and "images/s" in err
    assert dcgan(["generate", str(g.path), "--seeds", "0-19", "--outdir", str(tmp_path / "o")]) == 0
    out = capsys.readouterr()
    assert out.err == "" and out.out.startswith("wrote 20 images in 1 png shard to") and "images/s" in out.out


def test_a_sigkilled_run_resumes_to_identical_bytes(onnx_model, tmp_path):
    args = generate_args(onnx_model, "0-5999", "tar", 250)
    whole = tmp_path / "whole"
    run_locally(args, whole)
    out = tmp_path / "killed"
    proc = subprocess.Popen([*DCGAN, *args, "--outdir", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list(out.glob("shard-*.tar"))) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    done = len(list(out.glob("shard-*.tar")))
    assert 3 <= done < 24, "the run should have been killed part way"
    r = subprocess.run([*DCGAN, *args, "--outdir", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0 and f"{done} already there" in r.stdout, r.stdout + r.stderr
    assert files(out) == files(whole)  # no temp file left, every shard byte-identical


def test_two_shard_halves_run_side_by_side_make_the_whole(onnx_model, tmp_path):
    args = generate_args(onnx_model, "0-1999", "png", 300)
    run_locally(args, tmp_path / "whole")
    procs = [
        subprocess.Popen(
            [*DCGAN, *args, "--outdir", str(tmp_path / "split"), "--shard", f"{i}/2", "--threads", "1"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in (1, 2)
    ]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0] and "share 1/2" in outs[0] and "share 2/2" in outs[1]
    assert "4 png shards" in outs[0] and "3 png shards" in outs[1]  # 7 shards: 0, 2, 4, 6 and 1, 3, 5
    assert files(tmp_path / "split") == files(tmp_path / "whole")


@pytest.mark.slow
def test_120000_images_stream_at_bounded_memory(onnx_model, tmp_path):
    # measured in a fresh parent, so the peak is this command's alone (RUSAGE_CHILDREN keeps the largest child)
    probe = "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); " \
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"  # fmt: skip
    cmd = [*DCGAN, "generate", str(onnx_model), "--seeds", "0-119999", "--outdir", str(tmp_path / "o"), "--format",
           "npy", "--shard-size", "5000", "--batch-size", "256", "--device", "cpu"]  # fmt: skip
    r = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    peak_mb = int(r.stdout) / 1024
    pixels_mb = 120_000 * 32 * 32 * 3 / 2**20  # 352 MB: what holding them all would take, before float copies
    assert peak_mb < 300 < pixels_mb, f"peak RSS {peak_mb:.0f} MB"
    shards = sorted((tmp_path / "o").glob("shard-*.npy"))
    assert len(shards) == 24 and np.load(shards[-1]).shape == (5000, 32, 32, 3)
    g = Generator.load(onnx_model, device="cpu")
    assert np.array_equal(np.load(shards[-1], mmap_mode="r")[-3:], g.generate(seeds=[119997, 119998, 119999]))


RAY_DATASET = """
import json, sys
import numpy as np
import ray
from dcgan_runtime import Generator
from dcgan_runtime.scale import SeedSet
from dcgan_runtime.scale.ray_data import dataset
ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)
seeds = SeedSet.parse("7-20,3")
rows = dataset(sys.argv[1], seeds, workers=2, batch_size=4).take_all()
rows.sort(key=lambda r: list(seeds).index(r["seed"]))  # Ray Data keeps no order unless asked
want = Generator.load(sys.argv[1], device="cpu").generate(seeds=list(seeds))
equal = bool(np.array_equal(np.stack([r["image"] for r in rows]), want))
print(json.dumps({"seeds": [int(r["seed"]) for r in rows], "equal": equal}))
ray.shutdown()
"""


@pytest.mark.slow
def test_ray_engine_on_a_local_cluster_writes_the_same_files(onnx_model, tmp_path):
    pytest.importorskip("ray", reason="the [ray] extra is not installed")
    args = generate_args(onnx_model, "0-1499", "tar", 200)
    run_locally(args, tmp_path / "local")
    r = subprocess.run([*DCGAN, *args, "--outdir", str(tmp_path / "ray"), "--engine", "ray", "--workers", "2"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert "wrote 1,500 images in 8 tar shards" in r.stdout
    assert files(tmp_path / "ray") == files(tmp_path / "local")
    r = subprocess.run([sys.executable, "-c", RAY_DATASET, str(onnx_model)], capture_output=True, text=True,
                       cwd=ROOT, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result == {"seeds": [*range(7, 21), 3], "equal": True}


def test_a_ray_retry_counts_the_shard_its_dead_actor_completed(onnx_model, tmp_path):
    # An actor killed after its shard's rename but before it reported: Ray hands the shard out again, and
    # the retry finds it complete. It was missing when the run began, so its images count as written.
    from dcgan_runtime.scale.ray_data import ShardWriter
    from dcgan_runtime.scale.shards import prepare, write_shard

    plan = Plan(SeedSet.parse("0-9"), "npy", 4)
    writer = ShardWriter(str(onnx_model), None, "cpu", 1, plan, str(tmp_path))
    prepare(tmp_path, plan, plan.manifest(writer.g.sha256, writer.g.metadata), force=False)
    write_shard(writer.g, plan, tmp_path, 0)
    before = (tmp_path / "shard-00000.npy").read_bytes()
    out = writer({"shard": np.array([0, 2])})
    assert out["images"].tolist() == [4, 2]  # shard 0 kept (4 seeds), shard 2 written (seeds 8 and 9)
    assert (tmp_path / "shard-00000.npy").read_bytes() == before
    assert np.load(tmp_path / "shard-00002.npy").shape[0] == 2


@pytest.mark.slow
def test_ray_rewrites_the_shard_of_a_worker_killed_mid_run(onnx_model, tmp_path):
    pytest.importorskip("ray", reason="the [ray] extra is not installed")
    args = generate_args(onnx_model, "0-7999", "tar", 200)
    run_locally(args, tmp_path / "local")
    out = tmp_path / "ray"
    proc = subprocess.Popen([*DCGAN, *args, "--outdir", str(out), "--engine", "ray", "--workers", "2"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    deadline, killed = time.monotonic() + 240, None
    while killed is None and proc.poll() is None and time.monotonic() < deadline:
        if len(list(out.glob("shard-*.tar"))) >= 2:  # the workers are writing: kill one of them mid-shard
            pids = subprocess.run(["pgrep", "-f", "ShardWriter"], capture_output=True, text=True).stdout.split()
            if pids:
                killed = int(pids[0])
                os.kill(killed, signal.SIGKILL)
        time.sleep(0.01)
    stdout, _ = proc.communicate(timeout=300)
    assert killed is not None, "no Ray worker was seen running"
    assert proc.returncode == 0 and "wrote 8,000 images in 40 tar shards" in stdout, stdout
    assert files(out) == files(tmp_path / "local")  # the lost shard rewritten, nothing half-written left


@pytest.mark.parametrize("fmt", ["png", "tar", "npy", "parquet"])
def test_a_damaged_shard_is_written_again_on_resume(g, onnx_model, tmp_path, fmt, caplog):
    from dcgan_runtime.scale import Plan, SeedSet, write

    plan = Plan(SeedSet.parse("0-29"), fmt, 10)
    write(g, plan, tmp_path / "whole")
    whole = files(tmp_path / "whole")
    write(g, plan, tmp_path / "out")
    first, second = (tmp_path / "out" / plan.name(k) for k in (0, 1))
    if fmt == "png":
        next(first.iterdir()).unlink()  # a folder missing an image
        (second / "seed0011.png").write_bytes(b"not a png")
    else:
        first.write_bytes(first.read_bytes()[: first.stat().st_size // 2])  # truncated
        second.write_bytes(b"garbage" * 100)
    with caplog.at_level("WARNING", logger="dcgan_runtime"):
        summary = write(g, plan, tmp_path / "out")
    assert (summary.written, summary.kept) == (2, 1)
    assert sum("writing it again" in r.getMessage() for r in caplog.records) == 2
    assert files(tmp_path / "out") == whole


def test_a_second_run_of_the_same_share_is_refused_and_says_who_holds_it(g, onnx_model, tmp_path, capsys):
    from dcgan_runtime.scale import Plan, SeedSet
    from dcgan_runtime.scale.shards import prepare

    plan = Plan(SeedSet.parse("0-19"), "tar", 10, (1, 2))
    with prepare(tmp_path, plan, plan.manifest(g.sha256, g.metadata), force=False):
        args = generate_args(onnx_model, "0-19", "tar", 10)
        r = subprocess.run(
            [*DCGAN, *args, "--outdir", str(tmp_path), "--shard", "1/2"], capture_output=True, text=True, cwd=ROOT
        )
        assert r.returncode == 2 and r.stderr.count("\n") == 1
        assert f"share 1/2 of {str(tmp_path)!r} is being written by process {os.getpid()}" in r.stderr
        other = subprocess.run(
            [*DCGAN, *args, "--outdir", str(tmp_path), "--shard", "2/2"], capture_output=True, text=True, cwd=ROOT
        )
        assert other.returncode == 0 and "1 tar shard" in other.stdout  # another share goes on beside it
    r = subprocess.run(
        [*DCGAN, *args, "--outdir", str(tmp_path), "--shard", "1/2"], capture_output=True, text=True, cwd=ROOT
    )
    assert r.returncode == 0 and "1 tar shard" in r.stdout  # released: the share is free again


def test_a_full_disk_mid_shard_says_so_in_one_line(g, tmp_path, monkeypatch, capsys):
    import shutil as shutil_module
    from collections import namedtuple

    def full(*args, **kwargs):
        raise OSError("12288 requested and 4096 written")  # what numpy says when the disk fills

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(np, "save", full)
    monkeypatch.setattr(shutil_module, "disk_usage", lambda path: usage(10**9, 10**9, 0))
    out = tmp_path / "out"
    assert dcgan(["generate", str(g.path), "--seeds", "0-9", "--outdir", str(out), "--format", "npy"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the disk is full" in err and "rerun to resume" in err and "requested" not in err
    assert sorted(files(out)) == ["manifest.json"]  # no half-written shard
