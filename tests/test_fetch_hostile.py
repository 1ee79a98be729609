"""A hostile server behind a model URL or the Hub: every way it misbehaves ends in one line, in bounded time,
with nothing kept in the cache for a later run to trust.

The servers are loopback http.server handlers that write raw bytes (a cut-off body, a bad status line, a
header of 70 KB, 200 headers, a page instead of a model, a drip of one byte at a time, a Hub that answers 500).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dcgan_runtime import Generator, ModelError
from dcgan_runtime.engine import fetch

ROOT = Path(__file__).resolve().parents[1]


def raw(answer: bytes, drip: float = 0.0) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if not drip:
                self.wfile.write(answer)
                return
            for i in range(len(answer)):  # one byte at a time, slowly: a server that never quite stops
                self.wfile.write(answer[i : i + 1])
                self.wfile.flush()
                time.sleep(drip)

        do_HEAD = do_GET

    return Handler


def serve(handler: type[BaseHTTPRequestHandler]) -> tuple[str, ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


BODY = b"\x08\x07" + b"x" * 2000  # starts as an ONNX file does (field 1, ir_version)
CASES = {
    "cut-off body": (b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + BODY, "was cut off: 2,002 of the 5,000"),
    "cut-off chunked body": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" + BODY[:100],
        "cannot download",
    ),
    "bad status line": (b"HTTP/1.1 abc\r\n\r\n", "cannot download"),
    "70 KB header": (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", "cannot download"),
    "200 headers": (
        b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n",
        "cannot download",
    ),
    "an HTML page": (b"HTTP/1.1 200 OK\r\nContent-Length: 27\r\n\r\n  <html>not a model</html>\n", "a web page"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_download_is_one_line_and_nothing_is_kept(case, tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    answer, says = CASES[case]
    url, server = serve(raw(answer))
    try:
        with pytest.raises(ModelError) as e:
            fetch.fetch_url(f"{url}/generator.onnx")
    finally:
        server.shutdown()
    assert says in str(e.value) and "\n" not in str(e.value), str(e.value)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_a_dripping_server_is_cut_off_at_the_deadline(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    monkeypatch.setenv("DCGAN_FETCH_DEADLINE", "1.5")
    url, server = serve(raw(b"HTTP/1.1 200 OK\r\nContent-Length: 2002\r\n\r\n" + BODY, drip=0.05))
    start = time.monotonic()
    try:
        with pytest.raises(ModelError, match="took longer than 1.5 s .*DCGAN_FETCH_DEADLINE"):
            fetch.fetch_url(f"{url}/generator.onnx")
    finally:
        server.shutdown()
    assert time.monotonic() - start < 10 and [p for p in tmp_path.rglob("*") if p.is_file()] == []
    monkeypatch.setenv("DCGAN_FETCH_DEADLINE", "never")
    with pytest.raises(ValueError, match="DCGAN_FETCH_DEADLINE must be a number of seconds"):
        fetch.deadline_seconds()


def test_a_downloaded_file_that_does_not_load_is_not_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    url, server = serve(raw(b"HTTP/1.1 200 OK\r\nContent-Length: 2002\r\n\r\n" + BODY))
    try:
        with pytest.raises(ModelError, match="the downloaded copy was removed from the cache"):
            Generator.load(f"{url}/generator.onnx", device="cpu")
    finally:
        server.shutdown()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_the_cli_says_each_in_one_line(tmp_path):
    url, server = serve(raw(CASES["cut-off body"][0]))
    env = {"PATH": "/usr/bin:/bin", "DCGAN_CACHE": str(tmp_path), "HOME": str(tmp_path)}
    try:
        r = subprocess.run(
            [sys.executable, "-m", "dcgan_runtime", "info", f"{url}/generator.onnx"],
            capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
        )  # fmt: skip
    finally:
        server.shutdown()
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "was cut off" in r.stderr, r.stderr


class Failing(BaseHTTPRequestHandler):
    """A Hub that answers 500 to everything."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET


def test_a_hub_answering_500_is_one_line_soon(tmp_path):
    url, server = serve(Failing)
    env = {"PATH": "/usr/bin:/bin", "HF_ENDPOINT": url, "HF_HUB_CACHE": str(tmp_path / "hub"), "HOME": str(tmp_path)}
    start = time.monotonic()
    try:
        r = subprocess.run(
            [sys.executable, "-m", "dcgan_runtime", "info", "hf://acme/faces"],
            capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
        )  # fmt: skip
    finally:
        server.shutdown()
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "not in the Hub cache and the Hub cannot be reached" in r.stderr
    assert time.monotonic() - start < 15
