"""`dcgan site`: the seed rule in JavaScript, and the static site decoding in headless Chromium from a
plain static server (no project code running) like the Python runtime does."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dcgan_runtime import Generator
from dcgan_runtime.cli import main as cli_main
from dcgan_runtime.errors import UsageError
from dcgan_runtime.files import cache_dir
from dcgan_runtime.publish.site import ORT_WEB_VERSION, ort_web_files, write_site
from support import CHROMIUM_FLAGS, chromium

ROOT = Path(__file__).resolve().parents[1]
SEED_JS = ROOT / "dcgan_runtime" / "publish" / "site_page" / "seed.js"
ARTIFACTS = ROOT / "test-artifacts"


def node() -> str:
    path = shutil.which("node")
    if not path:
        pytest.skip("node is not installed: the JavaScript seed rule cannot be run")
    return path


def test_seed_rule_in_javascript_is_numpys(tmp_path):
    seeds = [0, 1, 2, 7, 42, 2**31, 2**32 - 1] + np.random.RandomState(5).randint(0, 2**32 - 1, 293).tolist()
    script = tmp_path / "latents.mjs"
    script.write_text(
        f"import {{ latentsFromSeeds }} from {json.dumps(SEED_JS.as_uri())};\n"
        "const seeds = JSON.parse(process.argv[2]);\n"
        "process.stdout.write(JSON.stringify(Array.from(latentsFromSeeds(seeds, 100))));\n"
    )
    out = subprocess.run([node(), str(script), json.dumps(seeds)], capture_output=True, text=True, check=True)
    got = np.array(json.loads(out.stdout), np.float32).reshape(len(seeds), 100)
    want = np.stack([np.random.RandomState(s).standard_normal(100) for s in seeds]).astype(np.float32)
    assert np.array_equal(got, want)  # float32-exact, seeds 0 and 2**32-1 included


@pytest.fixture(scope="module")
def ort_web(tmp_path_factory) -> dict:
    """The pinned onnxruntime-web files (npm fetches them once into the cache); skips, saying why, without npm."""
    try:
        return ort_web_files()
    except UsageError as e:
        pytest.skip(f"onnxruntime-web {ORT_WEB_VERSION} is not available here: {e}")


def tarball() -> Path:
    return cache_dir() / f"onnxruntime-web-{ORT_WEB_VERSION}.tgz"


@pytest.fixture(scope="module")
def sites(exported, ort_web, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sites")
    return {p: write_site(exported, root / p, p, tarball(), webgpu=False) for p in ("fp32", "int8")}


@pytest.fixture(scope="module")
def static_server(sites):
    """`python -m http.server` over the sites' parent folder: a plain static host, no project code."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(sites["fp32"].parent)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/",
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def browser():
    path = chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()


def open_site(browser, url: str):
    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_function("window.dcgan !== undefined")
    page.evaluate("window.dcgan.ready")
    return page, errors


def test_site_folder_is_self_contained(sites):
    names = sorted(p.relative_to(sites["fp32"]).as_posix() for p in sites["fp32"].rglob("*") if p.is_file())
    assert names == [
        "index.html",
        "model.json",
        "model.onnx",
        "ort/ort-wasm-simd-threaded.mjs",
        "ort/ort-wasm-simd-threaded.wasm",
        "ort/ort.wasm.min.mjs",
        "seed.js",
        "site.js",
        "style.css",
    ]
    html = (sites["fp32"] / "index.html").read_text() + (sites["fp32"] / "site.js").read_text()
    assert "://" not in html and "cdn" not in html.lower()  # nothing is fetched from elsewhere
    assert '"/' not in html and "'/" not in html  # relative URLs only: any sub-path works
    assert json.loads((sites["int8"] / "model.json").read_text())["precision"] == "int8"


def test_page_decodes_what_the_python_runtime_decodes(browser, static_server, exported):
    page, errors = open_site(browser, static_server + "/fp32/")
    got = np.array(page.evaluate("window.dcgan.generate([...Array(16).keys()])"), np.int16)
    want = Generator.load(exported).generate(seeds=range(16)).astype(np.int16)
    assert np.abs(got.reshape(want.shape) - want).max() <= 1  # within 1 grey level (measured: identical)
    assert "wasm" in page.evaluate("window.dcgan.backend") and not errors
    page.close()


def test_int8_page_keeps_the_int8_files_quality(browser, static_server, exported):
    page, errors = open_site(browser, static_server + "/int8/")
    seeds = list(range(64))
    got = np.array(page.evaluate(f"window.dcgan.generate({seeds})"), np.float64)
    fp32 = Generator.load(exported).generate(seeds=seeds).astype(np.float64)
    int8 = Generator.load(exported, precision="int8").generate(seeds=seeds).astype(np.float64)

    def psnr(a, b):
        return 10 * np.log10(255.0**2 / max(float(((a - b) ** 2).mean()), 1e-12))

    assert abs(psnr(got.reshape(fp32.shape), fp32) - psnr(int8, fp32)) < 0.5  # the browser loses no more than Python
    assert json.loads((exported / "parity.json").read_text())["passed"] and not errors
    page.close()


@pytest.mark.slow
def test_the_page_explores(browser, static_server):
    page, errors = open_site(browser, static_server + "/fp32/")
    assert page.locator("#grid canvas").count() == 16
    page.click("#grid canvas[data-seed='3']")
    page.click("#grid canvas[data-seed='5']")
    page.wait_for_function("document.getElementById('big').dataset.version === '2'")
    page.locator("#dir0").fill("2.5")
    page.wait_for_function("document.getElementById('big').dataset.version === '3'")
    page.click("#interpolate")
    page.wait_for_function("!document.getElementById('t').disabled")
    page.locator("#t").fill("8")
    page.click("#compute")
    page.wait_for_function("document.querySelectorAll('#arith-result canvas').length === 9")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "site.png"), full_page=True)
    assert not errors
    page.close()


def test_refusals(exported, tmp_path, ort_web, capsys):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    argv = ["site", str(exported), "--ort-web", str(tarball()), "--no-webgpu"]
    assert cli_main([*argv, "--out", str(tmp_path / "busy")]) == 2
    assert "not empty" in capsys.readouterr().err
    assert cli_main([*argv, "--out", str(tmp_path / "busy"), "--force"]) == 2
    assert "not a dcgan site" in capsys.readouterr().err and (tmp_path / "busy" / "notes.txt").exists()
    fake = tmp_path / "fake-dist"
    fake.mkdir()
    for name in ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"):
        (fake / name).write_bytes(b"not onnxruntime-web")
    assert cli_main(["site", str(exported), "--ort-web", str(fake), "--no-webgpu", "--out", str(tmp_path / "s")]) == 2
    assert "sha256" in capsys.readouterr().err and not (tmp_path / "s").exists()
    assert cli_main([*argv, "--out", str(tmp_path / "ok")]) == 0
    assert cli_main([*argv, "--out", str(tmp_path / "ok"), "--force"]) == 0  # replaces its own site


@pytest.mark.slow
def test_browser_benchmark_runs(exported, ort_web, tmp_path):
    chromium()
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.browser",
        str(exported),
        "--ort-web",
        str(tarball()),
        "--seconds",
        "0.2",
        "--json",
        str(tmp_path / "b.json"),
    ]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=300)  # its own Playwright, in its process
    rows = json.loads((tmp_path / "b.json").read_text())
    assert rows["wasm"]["first_image_s"] > 0 and rows["wasm, cross-origin isolated"]["bytes"] > 1_000_000
    assert "2 thread" in rows["wasm, cross-origin isolated"]["backend"] or os.cpu_count() == 1
    assert all(v > 0 for r in rows.values() for v in r["images_per_s"].values())
