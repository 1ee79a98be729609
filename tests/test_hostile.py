"""Hostile input, round three: caches, signals, run folders, odd images, odd models, the server's edges.

Every case gets one line saying what is wrong and what to do, no traceback, nothing lost, and
bounded time and memory (docs/reliability.md lists the classes).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from dcgan_runtime import ClosedError, Generator, MetadataError, ModelError, files
from dcgan_runtime.cli import main as dcgan_main
from dcgan_runtime.engine import tune
from dcgan_runtime.metadata import MAX_LATENT_DIM, Metadata
from support import TINY, train_tiny
from train import conv_path
from train.checkpoint import load_checkpoint
from train.config import TrainConfig
from train.data import load_dataset, load_image
from train.step import Execution

ROOT = Path(__file__).resolve().parents[1]


def hostile_files(folder: Path) -> dict[str, Path]:
    """A FIFO, a link to an endless device, a symlink loop, deep JSON and JSON of the wrong types."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {k: folder / k for k in ("fifo", "zero", "loop", "deep", "types")}
    os.mkfifo(out["fifo"])
    out["zero"].symlink_to("/dev/zero")
    out["loop"].symlink_to(folder / "loop2")
    (folder / "loop2").symlink_to(out["loop"])
    out["deep"].write_text("[" * 100_000 + "]" * 100_000)
    out["types"].write_text('{"format": 1, "key": [], "plan": "x", "choice": 7, "formats": 3}')
    return out


# ------------------------------------------------------------------ caches are untrusted


@pytest.mark.parametrize("kind", ["fifo", "zero", "loop", "deep", "types"])
def test_a_bad_tuning_cache_is_ignored_in_one_line(kind, onnx_model, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "cache"))
    g = Generator.load(onnx_model, device="cpu")
    path = tune.cache_file(g._tune_key)
    bad = hostile_files(tmp_path / "bad")[kind]
    path.parent.mkdir(parents=True)
    os.replace(bad, path) if kind in ("deep", "types") else path.symlink_to(bad)
    t0 = time.perf_counter()
    with caplog.at_level(logging.WARNING, "dcgan_runtime"):
        g2 = Generator.load(onnx_model, device="cpu")
    assert time.perf_counter() - t0 < 30  # a FIFO is never waited on, /dev/zero never read
    assert g2.plan is not None and "built-in" in g2.plan.describe()
    warned = [r.getMessage() for r in caplog.records if "tuning cache" in r.getMessage()]
    assert len(warned) == 1, warned
    assert np.array_equal(g2.generate(seeds=[1]), g.generate(seeds=[1]))


def test_cache_dir_empty_is_unset_and_relative_is_absolute(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DCGAN_CACHE", "")
    assert files.cache_dir() == Path.home() / ".cache" / "dcgan"
    monkeypatch.setenv("DCGAN_CACHE", "rel")
    assert files.cache_dir() == tmp_path / "rel"


@pytest.mark.parametrize("kind", ["fifo", "zero", "deep", "types"])
def test_a_bad_conv_path_cache_costs_a_measurement_not_the_run(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "cache"))
    cfg = TrainConfig(image_size=32, ngf=8, ndf=8, batch_size=8)
    execution = Execution(torch.device("cpu"), None)
    path = conv_path._cache_file(conv_path.cache_key(cfg, execution))
    path.parent.mkdir(parents=True)
    bad = hostile_files(tmp_path / "bad")[kind]
    os.replace(bad, path) if kind in ("deep", "types") else path.symlink_to(bad)
    monkeypatch.setattr(conv_path, "measure", lambda cfg, execution: {"onednn-cl": 2.0, "onednn": 1.0})
    monkeypatch.setattr(conv_path, "BUSY_SHARE", 0.0)  # an instant fake measurement uses no CPU at all
    lines: list[str] = []
    chosen = conv_path.choose(cfg, execution, log=lines.append)
    assert chosen.conv_path == "onednn-cl"
    assert any("ignoring the conv-path cache" in line for line in lines), lines
    assert json.loads(path.read_text())["choice"] == "onednn-cl"  # rewritten: a regular file again
    assert not path.is_symlink()


@pytest.mark.parametrize("kind", ["fifo", "zero", "deep", "types"])
def test_a_bad_parity_report_is_one_line(kind, exported, tmp_path):
    from dcgan_runtime.publish.push import check_export
    from dcgan_runtime.publish.site import _parity_row

    folder = tmp_path / "export"
    folder.mkdir()
    for p in exported.iterdir():
        if p.is_file() and p.name != "parity.json":
            (folder / p.name).symlink_to(p)
    bad = hostile_files(tmp_path / "bad")[kind]
    os.replace(bad, folder / "parity.json") if kind in ("deep", "types") else (folder / "parity.json").symlink_to(bad)
    with pytest.raises(ValueError, match="parity.json") as e:
        check_export(folder)
    assert "\n" not in str(e.value)
    assert _parity_row(folder / "generator.onnx") == {}


def test_read_small_never_reads_past_its_limit(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (files.SMALL_FILE + 1))
    with pytest.raises(ValueError, match="larger than"):
        files.read_json(big)


# ------------------------------------------------------------------ training runs and their folders


def train_err(capsys, out: Path, *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = train_tiny(out, *extra)
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


def test_empty_data_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # "" once meant "train on the current folder"
    code, err = train_err(capsys, tmp_path / "run", "--data", "")
    assert code == 2 and "--data must name" in err and "Traceback" not in err


def test_a_folder_that_is_not_a_run_is_not_written(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "config.json").write_text("my own")
    (out / "notes.txt").write_text("keep")
    code, err = train_err(capsys, out, "--max-steps", "1")
    assert code == 2 and "not a training run's (notes.txt)" in err
    assert (out / "config.json").read_text() == "my own" and sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "notes.txt",
    ]


def test_a_run_killed_before_its_first_last_pt_resumes_from_best_and_is_never_clobbered(tmp_path, capsys):
    run = tmp_path / "run"
    assert train_tiny(run, "--max-steps", "4", "--sample-every", "2") == 0
    ckpts = run / "checkpoints"
    best = load_checkpoint(ckpts / "best.pt")
    for p in ckpts.glob("*.pt"):
        if p.name != "best.pt":
            p.unlink()
    code, err = train_err(capsys, run, "--max-steps", "4")
    assert code == 2 and "already holds a run (checkpoints/best.pt)" in err
    assert load_checkpoint(ckpts / "best.pt")["step"] == best["step"]
    code, err = train_err(capsys, run, "--max-steps", "6", "--resume")
    assert code == 0, err
    assert f"resuming from best.pt (step {best['step']})" in err
    assert load_checkpoint(ckpts / "last.pt")["step"] == 6


def test_resume_that_would_train_nothing_says_so(tiny_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    code, err = train_err(capsys, run, "--max-steps", "2", "--resume")
    assert code == 2 and "is at step 4 already" in err and "--max-steps" in err
    assert "done" not in err


def test_resume_on_changed_data_is_refused(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(20):
        Image.fromarray(np.full((8, 8, 3), i * 10, np.uint8)).save(data / f"{i}.png")
    run = tmp_path / "run"
    args = ("--data", str(data), "--batch-size", "8")
    assert train_tiny(run, *args, "--max-steps", "2") == 0
    for p in sorted(data.iterdir())[:10]:
        p.unlink()
    code, err = train_err(capsys, run, *args, "--max-steps", "4", "--resume")
    assert code == 2 and "has 10 images now, but the run trained on 20" in err


def test_a_non_finite_loss_before_any_checkpoint_names_none(tmp_path, capsys, monkeypatch):
    from train import fitting

    monkeypatch.setattr(
        fitting.GANStep,
        "__call__",
        lambda self, real, z, noise=0.0: dict.fromkeys(("loss_d", "loss_g", "d_x", "d_g_z"), np.nan),
    )
    code, err = train_err(capsys, tmp_path / "run", "--max-steps", "3")
    assert code == 1 and "non-finite loss at step 1" in err
    assert "no checkpoint was saved before it" in err and "last.pt" not in err


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--num-images", str(10**9)], "--num-images must be at most"),
        (["--nz", str(10**8)], "--nz must be at most"),
        (["--ngf", "4000", "--ndf", "4000"], "GiB of memory is available"),
        (["--batch-size", str(10**7)], "--batch-size must be at most"),
    ],
)
def test_size_flags_are_bounded_before_any_allocation(flags, words, tmp_path, capsys):
    code, err = train_err(capsys, tmp_path / "run", *flags)
    assert code == 2 and words in err, err


def test_a_folder_of_corrupt_files_warns_in_one_line(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        (data / f"{i}.png").write_text("not a png")
    code, err = train_err(capsys, tmp_path / "run", "--data", str(data))
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[0].startswith("warning: skipped 3 of 3 files") and lines[1].startswith("error: none of the 3")
    assert len(lines) == 2 and "warnings.warn" not in err


def test_sigint_while_torch_loads_is_one_line(tmp_path):
    p = subprocess.Popen(
        [sys.executable, "-m", "train", *TINY, "--out", str(tmp_path / "run")],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # not inherited as ignored
    )
    time.sleep(0.7)  # python is up; torch is still importing
    p.send_signal(signal.SIGINT)
    err = p.communicate(timeout=120)[1]
    assert p.returncode == 130, err
    assert "interrupted before training started" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_data_set_larger_than_memory_is_refused_before_decoding(tmp_path, monkeypatch):
    from train import data as data_module

    folder = tmp_path / "data"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / f"{i}.png")
    monkeypatch.setattr(data_module, "memory_available", lambda: 4 * 3 * 64 * 64)  # less than 4 decoded images
    monkeypatch.setattr(data_module, "load_image", lambda *a: pytest.fail("decoded before the memory check"))
    with pytest.raises(data_module.DataError, match="decode to .* GiB at --image-size 64"):
        load_dataset(str(folder), 64, 3)


def test_skipped_files_leave_one_compact_copy(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    for i in range(6):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    (folder / "2.png").write_text("broken")
    with pytest.warns(UserWarning, match="skipped 1 of 6 files"):
        ds = load_dataset(str(folder), 8, 3)
    assert len(ds) == 5 and ds.skipped == 1
    assert [int(v) for v in ds.images[:, 0, 0, 0]] == [0, 40, 120, 160, 200]


def test_export_into_a_symlinked_folder_fills_its_target(tiny_run, tmp_path, monkeypatch, capsys):
    from export.__main__ import main as export_main

    target = tmp_path / "real"
    target.mkdir()
    (tmp_path / "link").symlink_to(target)
    monkeypatch.chdir(tmp_path)
    assert export_main([str(tiny_run), "--outdir", "link"]) == 0
    assert (tmp_path / "link").is_symlink() and (target / "generator.onnx").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging or .old-* left


@pytest.mark.parametrize("where", [".", ".."])
def test_export_over_the_current_folder_is_refused(where, tiny_run, tmp_path, monkeypatch, capsys):
    from export.__main__ import main as export_main

    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    capsys.readouterr()
    assert export_main([str(tiny_run), "--outdir", where, "--force"]) == 2
    assert "is the current folder or holds it" in capsys.readouterr().err
    assert list(here.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["here"]


# ------------------------------------------------------------------ images as a viewer shows them


def test_a_transparent_colour_key_lands_on_white(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[:4] = (10, 20, 30)
    Image.fromarray(rgb).save(tmp_path / "rgb.png", transparency=(0, 0, 0))
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "grey.png", transparency=0)
    got = load_image(tmp_path / "rgb.png", 8, 3)
    assert got[:, 7, 7].tolist() == [255, 255, 255] and got[:, 0, 0].tolist() == [10, 20, 30]
    assert load_image(tmp_path / "grey.png", 8, 1)[0, 7, 7] == 255


def test_exif_orientation_is_applied(tmp_path):
    wide = np.zeros((4, 8, 3), np.uint8)
    wide[:, :4] = 255  # left half white; orientation 6 shows it rotated 90 degrees clockwise: top half white
    im = Image.fromarray(wide)
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(tmp_path / "photo.jpg", exif=exif.tobytes(), quality=95)
    got = load_image(tmp_path / "photo.jpg", 4, 1)[0]
    assert got[:2].min() > 200 and got[2:].max() < 60


# ------------------------------------------------------------------ models and the runtime


def test_huge_latent_sizes_are_refused_before_allocation():
    with pytest.raises(MetadataError, match="latent_dim must be an integer in 1..16,384"):
        Metadata(latent_dim=MAX_LATENT_DIM + 1, image_size=64, channels=3)


@pytest.mark.parametrize(
    "kind, words", [("fifo", "is a FIFO"), ("zero", "is a character device"), ("loop", "symlink loop")]
)
def test_a_model_path_that_is_no_file_says_what_it_is(kind, words, tmp_path):
    path = hostile_files(tmp_path)[kind]
    with pytest.raises(ModelError, match=words):
        Generator.load(path)


def test_close_while_decoding_lets_running_calls_finish_and_refuses_new_ones(onnx_model):
    g = Generator.load(onnx_model, device="cpu")
    want = g.generate(seeds=range(64))
    seen: list[str] = []
    started = threading.Barrier(5)

    def work() -> None:
        started.wait()
        try:
            while True:
                assert np.array_equal(g.generate(seeds=range(64)), want)
        except ClosedError:
            seen.append("closed")
        except Exception as e:  # noqa: BLE001 - any other error is the bug
            seen.append(repr(e))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(0.05)
    g.close()
    for t in threads:
        t.join(timeout=60)
    assert seen == ["closed"] * 4
    with pytest.raises(ClosedError, match="closed"):
        g.generate(seeds=[0])


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda g, z: g.arithmetic([z], neighbours=10**7), "neighbours must be an integer in 0..999,999"),
        (lambda g, z: g.arithmetic([z], neighbours=-1), "neighbours must be an integer"),
        (lambda g, z: g.arithmetic([z], neighbours=2, noise=float("nan")), "noise must be a number"),
        (lambda g, z: g.interpolate(z[0], z[0], steps=10**9), "steps .* must be an integer in 2.."),
    ],
)
def test_api_counts_are_bounded(call, words, onnx_model):
    g = Generator.load(onnx_model, device="cpu")
    with pytest.raises(ValueError, match=words):
        call(g, g.latents(1))


def test_session_option_threads_are_capped(onnx_model):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 5000
    with pytest.raises(ValueError, match="intra_op_num_threads must be in 0..1024"):
        Generator.load(onnx_model, session_options=so)


def test_tune_time_is_bounded_by_its_flag(onnx_model, tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    g = Generator.load(onnx_model, device="cpu")
    calls = 0

    def run(strategy, z):
        nonlocal calls
        calls += 1
        time.sleep(0.01)  # a slow machine: every call takes 10 ms
        return np.zeros((len(z), 3, 32, 32), np.float32)

    many = [tune.Strategy(w, 1) for w in range(1, 25)]
    monkeypatch.setattr(tune, "candidates", lambda threads: many)
    t0 = time.perf_counter()
    table = tune.measure(run, 100, 2, seconds_per_size=0.05)
    took = time.perf_counter() - t0
    # untrimmed, 24 strategies x 7 sizes x 5 rounds of a pause and 3 calls would take 84 s; the floor is
    # 3 rounds of 2 strategies a size (1.7 s here)
    assert took < 5, took
    assert table.rates  # something was measured
    del g


# ------------------------------------------------------------------ CLI and server


def run_dcgan(argv: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = dcgan_main(argv)
    return code, capsys.readouterr().err


def test_a_grid_wider_than_jpeg_allows_fails_before_decoding(onnx_model, tmp_path, capsys):
    out = tmp_path / "grid.jpg"
    code, err = run_dcgan(
        ["generate", str(onnx_model), "--seeds", "0-1999", "--grid", "2000x1", "--out", str(out)], capsys
    )
    assert code == 2 and "larger than JPEG allows (65,500 pixels a side)" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_serve_on_a_port_in_use_is_one_line_before_the_banner(onnx_model):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = subprocess.run(
            [sys.executable, "-m", "dcgan_runtime", "serve", str(onnx_model), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert r.returncode == 1, r.stderr
    assert f"port {port} on 127.0.0.1 is in use" in r.stderr and "explorer on" not in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("value", ["²", "٣", "1_0", "1e3", " "])
def test_api_numbers_are_ascii_and_errors_are_ours(value, onnx_model):
    from starlette.testclient import TestClient

    from dcgan_runtime.serving.app import create_app

    with TestClient(create_app(Generator.load(onnx_model, device="cpu"))) as client:
        for query in ({"seeds": f"{value}-3"}, {"seeds": "1,2", "grid": f"{value}x1"}):
            r = client.get("/api/generate", params=query)
            assert r.status_code == 400, (query, r.text)
            assert "invalid literal" not in r.text and "Traceback" not in r.text
        r = client.get("/api/arithmetic", params={"plus": "1,2", "noise": value if value.strip() else "nan"})
        assert r.status_code == 400 and "noise must be" in r.text


def test_a_conv_path_timed_on_a_busy_machine_is_used_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    cfg = TrainConfig(image_size=32, ngf=8, ndf=8, batch_size=8)
    execution = Execution(torch.device("cpu"), None)

    def measure_while_busy(cfg, execution):
        time.sleep(0.3)  # waiting for the cores, not computing: this process gets almost no CPU
        return {"onednn-cl": 1.0, "onednn": 2.0}

    monkeypatch.setattr(conv_path, "measure", measure_while_busy)
    lines: list[str] = []
    assert conv_path.choose(cfg, execution, log=lines.append).conv_path == "onednn"
    assert "not cached: the machine was busy" in lines[-1]
    assert not conv_path._cache_file(conv_path.cache_key(cfg, execution)).exists()
