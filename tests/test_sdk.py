"""The SDK as app developers use it: PIL output, every provider the build offers, a logger, pickling,
dcgan bench's machine-readable output, clean packaging and an API reference built from the docstrings."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import logging
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

import dcgan_runtime
from dcgan_runtime import Generator, ProviderError, to_pil
from dcgan_runtime.cli import main as dcgan
from dcgan_runtime.engine.providers import CPU, CUDA, TENSORRT, resolve
from support import sessions_end_up_on_cpu

ROOT = Path(__file__).resolve().parents[1]
AZURE = "AzureExecutionProvider"  # listed by the CPU build of onnxruntime: a provider that is not CPU's own


@pytest.fixture(scope="module")
def g(onnx_model):
    return Generator.load(onnx_model, device="cpu", threads=2)


# ---------------------------------------------------------------- outputs


def test_pil_output_matches_uint8_everywhere(g):
    seeds = [3, 7, 11]
    pil = g.generate(seeds=seeds, output="pil")
    assert [im.mode for im in pil] == ["RGB"] * 3 and pil[0].size == (32, 32)
    assert np.array_equal(np.stack([np.asarray(im) for im in pil]), g.generate(seeds=seeds))
    z = g.latents(seeds=[1, 2])
    walk = g.interpolate(z[0], z[1], 5, output="pil")
    assert len(walk) == 5 and np.array_equal(np.asarray(walk[2]), g.interpolate(z[0], z[1], 5)[2])
    result = g.arithmetic([z[:1]], [z[1:]], neighbours=2, output="pil")
    assert len(result) == 3 and np.array_equal(np.asarray(result[0]), g.arithmetic([z[:1]], [z[1:]])[0])
    assert g.decode(z, output="float").dtype == np.float32 and g.decode(z, output="float").shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="output must be one of"):
        g.generate(seeds=[1], output="png")  # type: ignore[call-overload]


def test_to_pil_gives_mode_l_for_one_channel():
    grey = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4, 1)
    images = to_pil(grey)
    assert [im.mode for im in images] == ["L", "L"] and np.array_equal(np.asarray(images[1]), grey[1, ..., 0])
    assert isinstance(to_pil(np.zeros((1, 4, 4, 3), np.uint8))[0], Image.Image)
    with pytest.raises(ValueError, match="uint8"):
        to_pil(np.zeros((1, 3, 4, 4), np.float32))


# ---------------------------------------------------------------- execution providers


def test_a_provider_other_than_cpu_runs_on_the_generic_path(onnx_model, g):
    assert AZURE in ort.get_available_providers()  # the CPU build lists it: the case the issue names
    other = Generator.load(onnx_model, providers=[AZURE, CPU])
    assert other.providers[0] == AZURE and other.plan is None  # no CPU lanes: one session, host buffers
    assert np.array_equal(other.generate(seeds=range(5)), g.generate(seeds=range(5)))
    assert np.array_equal(
        other.decode(g.latents(9, seed=2), output="float", batch_size=4), g.decode(g.latents(9, seed=2), output="float")
    )


def test_unknown_missing_or_malformed_providers_are_refused_at_load(onnx_model, capfd):
    with pytest.raises(ProviderError, match="'FooExecutionProvider' is not an onnxruntime execution provider"):
        Generator.load(onnx_model, providers=["FooExecutionProvider"])
    with pytest.raises(ProviderError, match="this onnxruntime build has no DmlExecutionProvider"):
        Generator.load(onnx_model, providers=["DmlExecutionProvider", CPU])
    with pytest.raises(ValueError, match=r"did you mean \['CPUExecutionProvider'\]"):
        Generator.load(onnx_model, providers=CPU)  # a string is a sequence of letters to onnxruntime
    with pytest.raises(ValueError, match="a provider must be a name or"):
        Generator.load(onnx_model, providers=[(CPU,)])
    assert "EP Error" not in capfd.readouterr().err  # refused before onnxruntime prints its fallback banner


def test_first_requested_provider_must_be_the_one_that_runs(onnx_model, monkeypatch):
    sessions_end_up_on_cpu(monkeypatch)
    with pytest.raises(ProviderError, match="AzureExecutionProvider was requested first but the session runs on"):
        Generator.load(onnx_model, providers=[AZURE, CPU])


def test_tensorrt_device_requests_tensorrt_over_cuda_with_engine_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    wanted, strict = resolve("tensorrt:1", [TENSORRT, CUDA, CPU])
    assert strict and [p if isinstance(p, str) else p[0] for p in wanted] == [TENSORRT, CUDA, CPU]
    options = wanted[0][1]
    assert options["device_id"] == 1 and options["trt_engine_cache_enable"] == "True"
    assert options["trt_engine_cache_path"] == str(tmp_path / "tensorrt") == options["trt_timing_cache_path"]
    with pytest.raises(ProviderError, match=r"no TensorrtExecutionProvider or CUDAExecutionProvider .*dcgan\[gpu\]"):
        resolve("tensorrt", [AZURE, CPU])
    for bad in ("tensorrt:", "cuda:x", "tpu", 3):
        with pytest.raises(ValueError, match="device must be one of"):
            resolve(bad, [CPU])  # type: ignore[arg-type]


# ---------------------------------------------------------------- the library logger


def test_the_library_logs_what_runs_and_never_prints(onnx_model, caplog, capsys):
    with caplog.at_level(logging.INFO, logger="dcgan_runtime"):
        g = Generator.load(onnx_model, device="cpu", threads=2)
        g.generate(seeds=range(4))
    messages = [r.getMessage() for r in caplog.records]
    assert all(r.name.startswith("dcgan_runtime") for r in caplog.records)
    assert any("loaded" in m and "CPUExecutionProvider" in m for m in messages)
    assert any(m.startswith("cpu plan: ") for m in messages)
    assert capsys.readouterr() == ("", "")


def test_cli_maps_verbose_and_quiet_to_the_logger(onnx_model, capsys):
    assert dcgan(["info", str(onnx_model), "--device", "cpu", "-v"]) == 0
    err = capsys.readouterr().err
    assert "dcgan: loaded" in err and "dcgan: cpu plan:" in err
    assert dcgan(["info", str(onnx_model), "--device", "cpu"]) == 0
    assert capsys.readouterr().err == ""  # default: warnings only
    assert dcgan(["info", str(onnx_model), "--device", "cpu", "-q", "-v"]) == 0
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------- pickling


def test_generator_pickles_by_reloading_with_its_options(exported, g):
    for loaded in (
        Generator.load(exported, device="cpu", threads=1, precision="int8"),
        Generator.load(exported / "generator.onnx", providers=[AZURE, CPU]),
    ):
        copy = pickle.loads(pickle.dumps(loaded))
        assert copy.path == loaded.path and copy.providers == loaded.providers
        assert copy.metadata == loaded.metadata
        assert np.array_equal(copy.generate(seeds=range(6)), loaded.generate(seeds=range(6)))
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.graph_optimization_level = 1, ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    own = pickle.loads(pickle.dumps(Generator.load(exported, device="cpu", session_options=so)))
    assert own._load_args["session_options"]["graph_optimization_level"] == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert np.array_equal(own.generate(seeds=[5]), g.generate(seeds=[5]))


def test_a_pickled_generator_runs_in_another_process(g):
    code = (
        "import pickle, sys; g = pickle.load(sys.stdin.buffer); sys.stdout.buffer.write(g.generate(seeds=[3, 4]).data)"
    )
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(g), capture_output=True, check=True, cwd=ROOT)
    assert out.stdout == g.generate(seeds=[3, 4]).tobytes()


# ---------------------------------------------------------------- dcgan bench


def test_bench_json_sweeps_the_precisions_of_an_export_folder(exported, capsys):
    assert dcgan(["bench", str(exported), "--device", "cpu", "--precision", "fp32,int8", "--batch-sizes", "1,3",
                  "--rounds", "3", "--json"]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    engines = {"openvino"} if importlib.util.find_spec("openvino") else set()  # its version, where installed
    assert set(report["machine"]) == {"cpu", "cpu_flags", "onnxruntime", "threads"} | engines
    rows = report["results"]
    assert [(r["precision"], r["batch_size"]) for r in rows] == [("fp32", 1), ("fp32", 3), ("int8", 1), ("int8", 3)]
    for r in rows:
        assert r["min_ms"] <= r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"] and r["std_ms"] >= 0
        assert r["providers"].startswith(CPU) and r["plan"] and r["rounds"] == 3
        assert r["images_per_s"] == pytest.approx(r["batch_size"] / r["p50_ms"] * 1000, rel=1e-3)


def test_bench_csv_and_bad_precision_lists(onnx_model, capsys):
    assert dcgan(["bench", str(onnx_model), "--device", "cpu", "--batch-sizes", "2", "--rounds", "2", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert (
        len(rows) == 1
        and rows[0]["batch_size"] == "2"
        and rows[0]["precision"] == "fp32"
        and rows[0]["cpu_flags"] is not None
    )
    assert dcgan(["bench", str(onnx_model), "--precision", "fp32,fp64"]) == 2
    assert "--precision takes distinct values" in capsys.readouterr().err


# ---------------------------------------------------------------- packaging, no onnxruntime, the API reference


def test_wheel_declares_license_classifiers_and_builds_without_deprecations(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-v",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    build_log = out.stdout + out.stderr
    assert "Deprecat" not in build_log and "is absent from the `packages` configuration" not in build_log
    (wheel,) = tmp_path.glob("dcgan-*.whl")
    zf = zipfile.ZipFile(wheel)
    info = f"dcgan-{dcgan_runtime.__version__}.dist-info"
    metadata = zf.read(f"{info}/METADATA").decode()
    assert "License-Expression: MIT" in metadata and "Classifier: Typing :: Typed" in metadata
    assert f"{info}/licenses/LICENSE" in zf.namelist()
    assert {"dcgan_runtime/publish/site_page/seed.js", "dcgan_runtime/serving/explorer_page/app.js"} <= set(
        zf.namelist()
    )


def test_without_onnxruntime_the_cli_says_what_to_install_in_one_line(onnx_model):
    code = (
        "import sys; sys.modules['onnxruntime'] = None\n"
        "from dcgan_runtime.cli import main\nsys.exit(main(sys.argv[1:]))"
    )
    out = subprocess.run([sys.executable, "-c", code, "info", str(onnx_model)], capture_output=True, text=True)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert "dcgan info: error:" in out.stderr and "dcgan[cpu]" in out.stderr and "dcgan[gpu]" in out.stderr


def test_api_reference_builds_from_the_docstrings(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "build_api.py"), str(tmp_path)], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    page = (tmp_path / "dcgan_runtime" / "engine" / "generator.html").read_text()
    for name in ("Generator.load", "Generator.decode", "Generator.generate", "Generator.arithmetic"):
        assert name in page
    assert "float32 (N, C, H, W) in" in page  # the output layouts are documented
    assert (tmp_path / "dcgan_runtime" / "engine" / "providers.html").is_file() and (tmp_path / "index.html").is_file()
    for wing in ("cli", "scale", "serving", "publish"):  # every wing is in the reference but the command line
        assert (tmp_path / "dcgan_runtime" / f"{wing}.html").is_file() == (wing != "cli")
