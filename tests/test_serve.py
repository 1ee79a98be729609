"""`dcgan serve`: the HTTP API against a real server on a free local port, and the page in headless Chromium."""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcgan_runtime import Generator
from dcgan_runtime.cli import main as cli_main
from dcgan_runtime.serving.server import make_server
from support import CHROMIUM_FLAGS, chromium

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def server(onnx_model):
    srv = make_server(Generator.load(onnx_model, device="cpu"), port=0, quiet=True)
    thread = srv.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    thread.join(10)
    srv.server_close()


def get(url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, str, bytes]:
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


def post_json(url: str, body) -> tuple[int, str, bytes]:
    return get(url, json.dumps(body).encode(), {"Content-Type": "application/json"})


def test_binds_to_loopback_by_default(onnx_model):
    srv = make_server(Generator.load(onnx_model, device="cpu"), port=0, quiet=True)
    try:
        assert srv.server_address[0] == "127.0.0.1"
    finally:
        srv.server_close()


def test_info_and_page(server):
    status, ctype, body = get(server + "/api/info")
    info = json.loads(body)
    assert status == 200 and ctype == "application/json"
    assert info["metadata"]["image_size"] == 32 and info["providers"] == ["CPUExecutionProvider"]
    for path, kind in (("/", "text/html"), ("/app.js", "text/javascript"), ("/style.css", "text/css")):
        status, ctype, body = get(server + path)
        assert status == 200 and ctype.startswith(kind) and len(body) > 100
    assert b"cdn" not in get(server + "/")[2].lower()  # everything ships in the package


def test_generate_by_seeds_and_by_latents_agree(server, onnx_model):
    status, ctype, body = get(server + "/api/generate?seeds=0-7&grid=4x2")
    assert status == 200 and ctype == "image/png"
    assert Image.open(io.BytesIO(body)).size == (4 * 34 + 2, 2 * 34 + 2)
    z = json.loads(get(server + "/api/latents?seeds=5")[2])["latents"]
    by_latent = post_json(server + "/api/generate", {"latents": z})[2]
    by_seed = get(server + "/api/generate?seeds=5")[2]
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(by_latent))), np.asarray(Image.open(io.BytesIO(by_seed))))


def test_interpolate_and_arithmetic(server):
    status, ctype, body = get(server + "/api/interpolate?seeds=3,7&steps=6")
    assert status == 200 and ctype == "image/gif" and Image.open(io.BytesIO(body)).n_frames == 6
    status, ctype, body = get(server + "/api/interpolate?seeds=3,7&steps=5&method=lerp&format=png")
    assert ctype == "image/png" and Image.open(io.BytesIO(body)).size == (5 * 34 + 2, 36)
    status, ctype, body = get(server + "/api/arithmetic?plus=1,2,3&minus=4,5,6&plus=7,8,9")
    assert status == 200 and Image.open(io.BytesIO(body)).size == (3 * 34 + 2, 3 * 34 + 2)


def test_directions_are_orthonormal(server):
    d = np.array(json.loads(get(server + "/api/directions?k=5&seed=3")[2])["directions"])
    assert d.shape == (5, 100) and np.allclose(d @ d.T, np.eye(5), atol=1e-5)


BAD = [
    ("/api/generate?seeds=x", "seeds takes numbers"),
    ("/api/generate?seeds=0-999", "1 to 256 seeds"),
    ("/api/generate?seeds=-5", "outside"),
    ("/api/generate?seeds=4294967296", "outside"),
    ("/api/generate?seeds=0-3&grid=3x3", "holds 9"),
    ("/api/generate?seeds=0-3&grid=abc", "COLSxROWS"),
    ("/api/generate?seeds=1&seeds=2", "given 2 times"),
    ("/api/latents", "missing parameter 'seeds'"),
    ("/api/directions?k=0", "k must be in"),
    ("/api/directions?k=abc", "k must be an integer"),
    ("/api/interpolate?seeds=3", "2 to 256 seeds"),
    ("/api/interpolate?seeds=3,4,5", "exactly two"),
    ("/api/interpolate?seeds=3,4&steps=1", "steps must be in 2..64"),
    ("/api/interpolate?seeds=3,4&steps=1000", "steps must be in 2..64"),
    ("/api/interpolate?seeds=3,4&format=bmp", "format gif or png"),
    ("/api/arithmetic?minus=1", "at least one plus"),
    ("/api/arithmetic?plus=1&noise=nan", "noise must be a number"),
    ("/api/arithmetic?plus=1&noise=lots", "noise must be a number"),
]


@pytest.mark.parametrize("path,message", BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_400_json(server, path, message):
    status, ctype, body = get(server + path)
    assert status == 400 and ctype == "application/json"
    assert message in json.loads(body)["error"]


@pytest.mark.parametrize(
    "body,message",
    [
        ({"latents": [[0.0] * 99]}, "shape"),
        ({"latents": [[float("nan")] + [0.0] * 99]}, "NaN"),
        ({"latents": [["a"] * 100]}, "numbers only"),
        ({"latents": []}, "list of 1 to 256"),
        ({"latents": [[0.0] * 100] * 300}, "list of 1 to 256"),
        ({"latents": [[0.0] * 100], "grid": 7}, "'grid' must be a string"),
        ([1, 2, 3], "JSON object"),
    ],
)
def test_bad_posts_get_400_json(server, body, message):
    status, ctype, out = post_json(
        server + "/api/generate", body
    )  # json.dumps writes NaN as the server's json reads it
    assert status == 400 and message in json.loads(out)["error"]


def test_unknown_paths_methods_and_bodies(server):
    assert get(server + "/etc/passwd")[0] == 404  # no file system access from requests
    assert get(server + "/../README.md")[0] == 404
    assert get(server + "/api/info", b"{}")[0] == 405
    status, _, body = get(server + "/api/generate", b"not json", {"Content-Type": "application/json"})
    assert status == 400 and "not valid JSON" in json.loads(body)["error"]


def test_twenty_concurrent_clients(server):
    seeds = [f"{i}-{i + 3}" for i in range(20)]
    serial = [get(server + f"/api/generate?seeds={s}")[2] for s in seeds]
    with ThreadPoolExecutor(20) as pool:
        parallel = list(pool.map(lambda s: get(server + f"/api/generate?seeds={s}")[2], seeds))
    assert parallel == serial


def test_cli_rejects_bad_port(onnx_model, capsys):
    assert cli_main(["serve", str(onnx_model), "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err


def wait_until(page, expression: str, timeout: float = 30.0) -> None:
    """Poll a JS expression through the DevTools protocol: the page's CSP forbids eval, which
    Playwright's wait_for_function needs, and this test runs the page under its real CSP."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {expression}")
        time.sleep(0.05)


@pytest.mark.slow
def test_page_in_headless_chromium(server):
    executable = chromium()
    from playwright.sync_api import sync_playwright

    flags = CHROMIUM_FLAGS
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=flags, headless=True)
        page = browser.new_page(viewport={"width": 1100, "height": 1600})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: "Content Security Policy" in m.text and errors.append(m.text))
        page.goto(server + "/")
        wait_until(
            page,
            "[...document.querySelectorAll('#grid img')].length === 16 && "
            "[...document.querySelectorAll('#grid img')].every(i => i.complete && i.naturalWidth > 0)",
        )
        assert "32x32" in page.inner_text("#model") and "CPUExecutionProvider" in page.inner_text("#model")
        page.click("#grid img[data-seed='3']")
        page.click("#grid img[data-seed='5']")
        wait_until(page, "document.getElementById('big').naturalWidth > 0")
        first = page.eval_on_selector("#big", "e => e.src")
        before = page.locator("#big").screenshot()
        page.locator("#dir0").fill("2.5")  # move a slider
        wait_until(page, f"document.getElementById('big').src !== {json.dumps(first)}")
        wait_until(page, "document.getElementById('big').complete")
        assert page.locator("#big").screenshot() != before  # the image changed
        page.click("#interpolate")
        wait_until(page, "!document.getElementById('t').disabled")
        page.locator("#t").fill("8")
        assert page.get_attribute("#save-gif", "href").startswith("/api/interpolate?seeds=3,5")
        page.click("#compute")
        wait_until(page, "document.getElementById('arith-result').naturalWidth > 0")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "explorer.png"), full_page=True)
        browser.close()
    assert not errors
    assert (ARTIFACTS / "explorer.png").stat().st_size > 10_000
