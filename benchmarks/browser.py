"""The static site's speed in headless Chromium, beside native onnxruntime on the same machine.

    python -m benchmarks.browser MODEL [--ort-web PATH] [--seconds 3] [--json out.json]

MODEL is an export folder or generator .onnx. Writes the site (WebAssembly build), serves it twice
from this process on loopback (plainly, and with the COOP/COEP headers that make a page
cross-origin isolated, which onnxruntime-web needs for threads), and measures in each: the time from
navigation to the first grid of 16 images drawn (a cold load, fresh browser context), images/s at
batch 1, 8 and 64, and the bytes the visitor downloads. Native rows: `Generator` with 1 thread and
with all, on the same latents.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from dcgan_runtime import Generator
from dcgan_runtime.engine.session import available_cpus
from dcgan_runtime.publish.site import write_site

BATCHES = (1, 8, 64)
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Handler(SimpleHTTPRequestHandler):
    isolated = False

    def end_headers(self) -> None:
        if self.isolated:
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()

    def log_message(self, *args: object) -> None:
        pass


def static_server(folder: Path, isolated: bool) -> tuple[ThreadingHTTPServer, str]:
    handler = type("H", (Handler,), {"isolated": isolated})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def browser_rows(browser, url: str, seconds: float) -> dict:
    context = browser.new_context()
    page = context.new_page()
    downloaded = []
    page.on("response", lambda r: downloaded.append(int(r.headers.get("content-length", 0))))
    t = time.perf_counter()
    page.goto(url)
    page.wait_for_function("window.dcgan !== undefined")
    page.evaluate("window.dcgan.ready")
    first = time.perf_counter() - t
    backend = page.evaluate("window.dcgan.backend")
    rows = {b: page.evaluate(f"window.dcgan.benchmark({b}, {seconds})") for b in BATCHES}
    context.close()
    return {
        "backend": backend,
        "first_image_s": round(first, 3),
        "bytes": sum(downloaded),
        "images_per_s": {b: round(r["images_per_s"], 1) for b, r in rows.items()},
    }


def native_rows(model: str, threads: int, seconds: float, precision: str) -> dict:
    g = Generator.load(model, device="cpu", threads=threads, precision=precision)
    out = {}
    for b in BATCHES:
        z = g.latents(seeds=range(b))
        g.decode(z)
        times, end = [], time.perf_counter() + seconds
        while time.perf_counter() < end or len(times) < 3:
            t = time.perf_counter()
            g.decode(z)
            times.append(time.perf_counter() - t)
        out[b] = round(b / float(np.median(times)), 1)
    g.close()
    return {"backend": f"onnxruntime {threads} thread(s)", "images_per_s": out}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.browser", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("model")
    p.add_argument("--precision", choices=("fp32", "int8"), default="fp32", help="the file to use in an export folder")
    p.add_argument("--ort-web", help="onnxruntime-web's folder or .tgz (default: the cached npm tarball)")
    p.add_argument("--seconds", type=float, default=3.0, help="per batch size (default 3)")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("error: headless Chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        site = write_site(a.model, Path(tmp) / "site", a.precision, ort_web=a.ort_web, webgpu=False)
        results = {}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=FLAGS, headless=True)
            for isolated in (False, True):
                server, url = static_server(site, isolated)
                results["wasm, cross-origin isolated" if isolated else "wasm"] = browser_rows(browser, url, a.seconds)
                server.shutdown()
            browser.close()
    cpus = available_cpus()
    for threads in sorted({1, cpus}):
        results[f"native {threads}"] = native_rows(a.model, threads, a.seconds, a.precision)
    print(f"| backend | first image | downloaded | {' | '.join(f'batch {b}' for b in BATCHES)} |")
    print("|---|---|---|" + "---|" * len(BATCHES))
    for r in results.values():
        first = f"{r['first_image_s']:.2f} s" if "first_image_s" in r else ""
        size = f"{r['bytes'] / 1e6:.1f} MB" if "bytes" in r else ""
        cells = " | ".join(f"{r['images_per_s'][b]:,.0f} img/s" for b in BATCHES)
        print(f"| {r['backend']} | {first} | {size} | {cells} |")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
