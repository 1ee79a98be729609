"""The wheel as users get it: built from the checkout, installed into a fresh venv outside it (no editable
install, no PYTHONPATH), and every `dcgan` command run from a folder outside the checkout.

The fresh venv has no pip and no network: the wheel is installed into it by this environment's pip
(`pip --python`), and its third-party dependencies are read from this environment's site-packages
through a path file. A path file adds that folder only; the editable install's own path files there
are not processed, so `dcgan_runtime` can come from nowhere but the wheel (asserted).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dcgan_runtime
from benchmarks.load import free_port, wait_ready
from dcgan_runtime import Generator

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = ("cpu", "serve", "grpc")


def checkout_files() -> list[str]:
    """The files a clone of this working tree would hold: tracked, or new and not ignored."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout ({listed.stderr.strip()[:100]}): the shipped files cannot be listed")
    return [name for name in listed.stdout.splitlines() if (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the checkout's files: setuptools' build/ folder in the checkout keeps files of
    earlier builds, which would hide a package the wheel no longer finds."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheelhouse")
    for name in checkout_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("dcgan-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; returns its bin/ folder."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, capture_output=True)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib, "_test_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    return root / "bin"


def run(venv: Path, cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{venv}:/usr/bin:/bin", "HOME": str(cwd), "DCGAN_CACHE": str(cwd / "cache")}
    r = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(args)}: {r.stderr[-2000:]}"
    return r


def test_the_wheel_holds_every_runtime_file_and_nothing_else(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    runtime = {n for n in checkout_files() if n.startswith("dcgan_runtime/")}
    assert len(runtime) > 20 and runtime - names == set()
    assert {n.split("/")[0] for n in names} == {"dcgan_runtime", f"dcgan-{dcgan_runtime.__version__}.dist-info"}
    assert wheel.name.startswith(f"dcgan-{dcgan_runtime.__version__}-") and "dcgan_runtime/py.typed" in names
    metadata = zipfile.ZipFile(wheel).read(f"dcgan-{dcgan_runtime.__version__}.dist-info/METADATA").decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert sorted(r.split()[1].rstrip(">=<0123456789.,") for r in requires) == ["numpy", "pillow"]


def test_every_module_imports_from_the_installed_wheel(venv, tmp_path):
    code = """
import importlib, json, pathlib, sys, warnings
import dcgan_runtime
root = pathlib.Path(dcgan_runtime.__file__).parent
names = sorted(".".join(("dcgan_runtime",) + p.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
               for p in root.rglob("*.py") if p.name != "__main__.py")
for name in names:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the old paths' re-exports warn, and still import
        importlib.import_module(name)
try:
    import train  # noqa: F401
    checkout = True
except ImportError:
    checkout = False
print(json.dumps({"file": dcgan_runtime.__file__, "modules": names, "checkout": checkout}))
"""
    report = json.loads(run(venv, tmp_path, "python", "-c", code).stdout)
    assert report["file"].startswith(str(venv.parent)) and not report["checkout"]
    assert len(report["modules"]) > 20 and "dcgan_runtime.scale.shards" in report["modules"]
    requires = run(venv, tmp_path, "python", "-c", "import importlib.metadata as m; print(m.requires('dcgan'))")
    for extra in EXTRAS:
        assert f'extra == "{extra}"' in requires.stdout


def test_every_command_runs_from_the_installed_wheel(venv, exported, tmp_path):
    model = str(exported / "generator.onnx")
    want = Generator.load(model, device="cpu").generate(seeds=range(9))
    run(venv, tmp_path, "dcgan", "--version")
    run(venv, tmp_path, "dcgan", "generate", model, "--seeds", "0-8", "--out", "grid.png")
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    assert np.array_equal(grid[2:34, 2:34], want[0])
    for fmt in ("png", "tar", "npy", "parquet"):
        out = run(venv, tmp_path, "dcgan", "generate", model, "--seeds", "0-8", "--outdir", fmt, "--format", fmt)
        assert "wrote 9 images" in out.stdout and (tmp_path / fmt / "manifest.json").is_file()
    assert np.array_equal(np.load(tmp_path / "npy" / "shard-00000.npy"), want)
    run(venv, tmp_path, "dcgan", "interpolate", model, "--seeds", "1,2,3", "--steps", "4", "--out", "walk.gif")
    run(venv, tmp_path, "dcgan", "arithmetic", model, "--plus", "1,2", "--minus", "3", "--plus", "4", "--out", "a.png")
    info = json.loads(run(venv, tmp_path, "dcgan", "info", model, "--json").stdout)
    assert info["metadata"]["latent_dim"] == 100 and info["active_providers"] == ["CPUExecutionProvider"]
    run(venv, tmp_path, "dcgan", "triton", str(exported), "--out", "models")
    assert (tmp_path / "models" / "dcgan" / "config.pbtxt").is_file()
    tuned = run(venv, tmp_path, "dcgan", "tune", model, "--seconds", "0.05", "--threads", "1")
    assert "plan:" in tuned.stdout
    bench = run(venv, tmp_path, "dcgan", "bench", model, "--batch-sizes", "1,4", "--rounds", "2", "--json")
    bench = json.loads(bench.stdout)
    assert [row["batch_size"] for row in bench["results"]] == [1, 4]


def test_serve_from_the_installed_wheel_answers_the_inference_protocol(venv, exported, tmp_path):
    model = str(exported / "generator.onnx")
    port, grpc_port = free_port(), free_port()
    env = {"PATH": f"{venv}:/usr/bin:/bin", "HOME": str(tmp_path), "DCGAN_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen(
        ["dcgan", "serve", model, "--port", str(port), "--grpc-port", str(grpc_port), "--threads", "1", "-q"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(port, proc, timeout=120)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=10) as r:
            assert r.status == 200
        body = json.dumps({"inputs": [{"name": "seed", "shape": [2], "datatype": "INT64", "data": [3, 4]}]})
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v2/models/dcgan/infer",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as r:
            (out,) = json.loads(r.read())["outputs"]
        g = Generator.load(model, device="cpu")
        want = g.decode(g.latents(seeds=[3, 4]), output="float")
        assert np.array_equal(np.asarray(out["data"], np.float32).reshape(out["shape"]), want)
        load = ["--concurrency", "2", "--batch-sizes", "1", "--seconds", "0.3", "--json"]
        report = json.loads(
            run(venv, tmp_path, "dcgan", "bench", "--server", f"grpc://127.0.0.1:{grpc_port}", *load).stdout
        )
        assert report["results"][0]["errors"] == 0 and report["results"][0]["requests"] > 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            assert b"dcgan_images_generated_total" in r.read()
    finally:
        proc.terminate()
        proc.wait(30)


def test_site_from_the_installed_wheel(venv, exported, tmp_path):
    from dcgan_runtime.files import cache_dir
    from dcgan_runtime.publish.site import ORT_WEB_VERSION, ort_web_files

    try:
        ort_web_files(webgpu=False)
    except ValueError as e:
        pytest.skip(f"onnxruntime-web {ORT_WEB_VERSION} is not available here: {e}")
    tarball = cache_dir() / f"onnxruntime-web-{ORT_WEB_VERSION}.tgz"
    args = ["dcgan", "site", str(exported), "--out", "site", "--ort-web", str(tarball), "--no-webgpu"]
    run(venv, tmp_path, *args)
    assert (tmp_path / "site" / "index.html").is_file() and (tmp_path / "site" / "model.onnx").is_file()
    assert os.path.getsize(tmp_path / "site" / "model.onnx") == os.path.getsize(exported / "generator.onnx")
