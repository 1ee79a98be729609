"""`dcgan serve` as a hostile or careless client meets it: a real uvicorn on a free loopback port.

Mounting under a prefix, Host and Origin checks, back-pressure, slow clients, bodies that lie,
dynamic batching that never changes an image, and the command without its extra.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from dcgan_runtime import Generator
from dcgan_runtime.serving import server as server_module
from dcgan_runtime.serving.app import create_app
from dcgan_runtime.serving.explorer import Limits
from dcgan_runtime.serving.server import Server, allowed_hosts, make_server


@pytest.fixture(scope="module")
def g(onnx_model):
    return Generator.load(onnx_model, device="cpu")


class Running:
    """A server started in a thread, stopped on exit; `request` speaks raw HTTP/1.1 to it."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.host, self.port = server.server_address

    def __enter__(self) -> Running:
        self.thread = self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(10)
        self.server.server_close()

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 30
    ) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def running(g):
    with Running(make_server(g, port=0, quiet=True)) as r:
        yield r


def test_mounted_under_a_prefix_inside_another_app(g):
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    host_app = Starlette(
        routes=[Route("/", lambda request: PlainTextResponse("the host app")), Mount("/dcgan", create_app(g))]
    )
    with Running(Server(host_app, "127.0.0.1", 0, Limits(), quiet=True)) as r:
        assert r.request("GET", "/")[2] == b"the host app"
        status, headers, page = r.request("GET", "/dcgan/")
        assert status == 200 and b'src="app.js"' in page  # relative URLs: the page works under any prefix
        assert r.request("GET", "/dcgan/app.js")[0] == 200
        status, _, body = r.request("GET", "/dcgan/api/info")
        assert status == 200 and json.loads(body)["metadata"]["image_size"] == 32
        assert r.request("GET", "/dcgan/api/generate?seeds=0-3")[1]["content-type"] == "image/png"


def test_page_headers_forbid_framing_sniffing_and_foreign_scripts(running):
    status, headers, _ = running.request("GET", "/")
    csp = headers["content-security-policy"]
    assert status == 200 and "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
    assert running.request("GET", "/api/info")[1]["x-content-type-options"] == "nosniff"


def test_host_and_origin_are_checked_on_loopback(running, g):
    status, _, body = running.request("GET", "/api/info", headers={"Host": "evil.example"})
    assert status == 403 and "--allow-host" in json.loads(body)["error"]  # DNS rebinding
    assert running.request("GET", "/api/info", headers={"Host": f"localhost:{running.port}"})[0] == 200
    status, _, _ = running.request(
        "POST",
        "/api/generate",
        json.dumps({"latents": [[0.0] * 100]}).encode(),
        {"Content-Type": "application/json", "Origin": "https://evil.example"},
    )
    assert status == 403
    with Running(make_server(g, port=0, quiet=True, allow_hosts=["dcgan.lan"])) as r:
        assert r.request("GET", "/api/info", headers={"Host": "dcgan.lan:80"})[0] == 200
    assert allowed_hosts("0.0.0.0") is None and allowed_hosts("0.0.0.0", ["a"]) == ["0.0.0.0", "a"]
    assert "localhost" in allowed_hosts("127.0.0.1") and "localhost" in allowed_hosts("::1")


BAD = [
    # (method, path, body, headers, status, words in the error)
    ("POST", "/api/generate", b"[" * 2_000_000, {"Content-Type": "application/json"}, 400, "nests deeper"),
    (
        "POST",
        "/api/generate",
        b'{"latents": [[' + b"9" * 400 + b"]]}",
        {"Content-Type": "application/json"},
        400,
        "shape",
    ),
    (
        "POST",
        "/api/generate",
        json.dumps({"latents": [[1e39] + [0.0] * 99]}).encode(),
        {"Content-Type": "application/json"},
        400,
        "finite float32",
    ),
    (
        "POST",
        "/api/generate",
        json.dumps({"latents": [["1"] * 100]}).encode(),
        {"Content-Type": "application/json"},
        400,
        "numbers only",
    ),
    ("POST", "/api/generate", b" " * (2 * 1024 * 1024 + 1), {"Content-Type": "application/json"}, 413, "at most"),
    ("POST", "/api/generate", b"{}", {"Content-Type": "text/plain"}, 415, "Content-Type: application/json"),
    ("GET", "/api/generate?" + "&".join(f"seeds=0-99999,0-{i}" for i in range(100)), None, {}, 400, "given 100 times"),
    ("GET", "/api/generate?seeds=" + ",".join(f"0-{i}" for i in range(300)), None, {}, 400, "1 to 256 seeds"),
    ("GET", "/api/generate?seeds=0-99999,0-99999", None, {}, 400, "got 200,000"),
    ("GET", "/api/directions?k=" + "9" * 400, None, {}, 400, "must be an integer"),
    ("GET", "/api/arithmetic?plus=1&noise=1e999", None, {}, 400, "noise must be in"),
    ("GET", "/api/arithmetic?" + "&".join(["plus=0-200"] * 2), None, {}, 400, "more than 256 seeds"),
    ("GET", "/api/generate?seeds=0&grid=100000x1", None, {}, 400, "grid"),
    ("DELETE", "/api/info", None, {}, 405, ""),
    ("GET", "/nothing/here", None, {}, 404, "no such endpoint"),
]


@pytest.mark.parametrize("case", BAD, ids=[f"{c[0]} {c[1][:40]} {c[4]}" for c in BAD])
def test_bad_requests_get_4xx_json_never_5xx(running, case):
    method, path, body, headers, status, words = case
    got, response_headers, out = running.request(method, path, body, headers)
    assert got == status, out[:300]
    assert response_headers["content-type"] == "application/json"
    assert words in json.loads(out)["error"]


def test_head_where_get_exists(running):
    for path in ("/", "/api/info", "/api/generate?seeds=0"):
        status, headers, body = running.request("HEAD", path)
        assert status == 200 and body == b"", path


def test_a_body_shorter_than_its_content_length_times_out(g, monkeypatch):
    with Running(make_server(g, port=0, quiet=True, body_seconds=1.0)) as r:
        with socket.create_connection((r.host, r.port), timeout=10) as s:
            s.sendall(
                b"POST /api/generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                b'Content-Length: 1000\r\n\r\n{"latents": '
            )
            t = time.monotonic()
            answer = s.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - t < 5


def test_slow_and_silent_clients_cannot_hold_the_server(g, monkeypatch):
    monkeypatch.setattr(server_module, "HEAD_SECONDS", 1.0)
    with Running(make_server(g, port=0, quiet=True)) as r:
        silent = [socket.create_connection((r.host, r.port)) for _ in range(50)]  # connect, say nothing
        trickle = socket.create_connection((r.host, r.port))
        trickle.sendall(b"GET /api/info HTTP/1.1\r\nHo")  # a head that never ends
        t = time.monotonic()
        status, _, _ = r.request("GET", "/api/generate?seeds=0-15", timeout=5)
        assert status == 200 and time.monotonic() - t < 1.0  # answered while 51 clients hold connections
        time.sleep(1.5)
        for s in [*silent, trickle]:  # the head deadline closed them all
            s.settimeout(2)
            assert s.recv(1024) == b""
            s.close()


def test_garbage_and_tls_hellos_are_refused_and_the_server_goes_on(running):
    tls_hello = bytes.fromhex("16030100a5010000a10303") + bytes(160)
    for junk in (tls_hello, b"\x00\xff" * 100, b"GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: x\r\n\r\n"):
        with socket.create_connection((running.host, running.port), timeout=10) as s:
            s.sendall(junk)
            answer = s.recv(4096)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 400")
    assert running.request("GET", "/api/info")[0] == 200


class SlowGenerator:
    """A Generator whose decode takes `seconds`: to fill the server's in-flight slots."""

    def __init__(self, g: Generator, seconds: float) -> None:
        self.g, self.seconds = g, seconds

    def __getattr__(self, name: str):
        return getattr(self.g, name)

    def decode(self, z, *args, **kwargs):
        time.sleep(self.seconds)
        return self.g.decode(z, *args, **kwargs)


def test_overload_is_answered_with_503_and_retry_after(g):
    with Running(make_server(SlowGenerator(g, 0.5), port=0, quiet=True, max_inflight=2, batching=False)) as r:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda i: r.request("GET", f"/api/generate?seeds={i}"), range(8)))
    codes = sorted(status for status, _, _ in results)
    assert codes.count(200) >= 2 and codes.count(503) >= 1 and set(codes) <= {200, 503}, codes
    busy = next(headers for status, headers, _ in results if status == 503)
    assert busy["retry-after"] == "1"


def test_batching_never_changes_an_image_and_batches(g):
    app = create_app(g, max_wait_ms=50.0)
    with Running(Server(app, "127.0.0.1", 0, app.limits, quiet=True)) as r:
        paths = [f"/api/generate?seeds={s}" for s in range(16)] + ["/api/generate?seeds=3-10&grid=4x2"]
        serial = [r.request("GET", p)[2] for p in paths]
        calls_before = app.batcher.calls
        with ThreadPoolExecutor(len(paths)) as pool:
            together = list(pool.map(lambda p: r.request("GET", p)[2], paths))
        assert together == serial  # the same bytes, batched or not
        assert app.batcher.calls - calls_before < len(paths)  # and they were batched


def test_cli_without_the_serve_extra_says_what_to_install(onnx_model):
    code = (
        "import sys; sys.modules['starlette'] = None; sys.modules['uvicorn'] = None\n"
        "from dcgan_runtime.cli import main\n"
        f"sys.exit(main(['serve', {str(onnx_model)!r}]))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "dcgan[serve]" in r.stderr and "Traceback" not in r.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_workers_serve_and_clients_that_vanish_leave_no_traceback(onnx_model):
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dcgan_runtime",
            "serve",
            str(onnx_model),
            "--port",
            str(port),
            "--workers",
            "2",
            "--quiet",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/api/info")
                assert conn.getresponse().status == 200
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "the server did not start"
                time.sleep(0.2)
        for _ in range(5):  # ask for a large answer, then hang up before reading it
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(b"GET /api/interpolate?seeds=1,2&steps=64 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/api/generate?seeds=0-63")
        assert conn.getresponse().status == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err
