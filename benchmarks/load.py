"""Load on `dcgan serve`: images/s and latency percentiles per number of concurrent clients.

    python -m benchmarks.load MODEL                          # batching on and off, 1/8/32/128 clients
    python -m benchmarks.load MODEL --seconds 3 --clients 1,8
    python -m benchmarks.load MODEL --server-cmd "python -m dcgan_runtime serve {model} --port {port}" --label old
    python -m benchmarks.load MODEL --scale          # one process, --workers 2, Ray Serve with 2 replicas

Each configuration starts its own server process on a free loopback port; the clients are threads in
this process, each asking for 16-image grids (`/api/generate?seeds=A-B&grid=4x4`, a fresh range per
request; `--images 1` for single images, as the explorer page asks) back to back for `--seconds`.
Clients and server share the machine's cores, as they would on one box. Prints a markdown table and
writes JSON with `--json`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shlex
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/info")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start (exit code {proc.poll()})")
        time.sleep(0.2)


def load(port: int, clients: int, seconds: float, images: int = 16) -> dict:
    """`clients` threads asking back to back for `seconds`; latencies of answered requests, errors counted."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        seed, grid = index * 1_000_000, {1: "1x1", 16: "4x4"}.get(images, f"{images}x1")
        while time.monotonic() < stop:
            t = time.perf_counter()
            try:
                conn.request("GET", f"/api/generate?seeds={seed}-{seed + images - 1}&grid={grid}")
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except OSError:
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            with lock:
                if ok:
                    latencies.append(time.perf_counter() - t)
                else:
                    errors[0] += 1
            seed += images
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": errors[0],
        "images_per_s": round(images * len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
    }


def run_server(command: str, model: str, clients: list[int], seconds: float, images: int) -> list[dict]:
    port = free_port()
    argv = shlex.split(command.format(model=model, port=port, python=sys.executable))
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, proc)
        load(port, 2, 1.0, images)  # warm-up
        return [load(port, c, seconds, images) for c in clients]
    finally:
        proc.terminate()
        proc.wait(30)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.load", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("model", help="generator.onnx or an export folder")
    p.add_argument("--clients", default="1,8,32,128", help="concurrent clients, comma-separated (default 1,8,32,128)")
    p.add_argument("--seconds", type=float, default=8.0, help="per client count (default 8)")
    p.add_argument("--images", type=int, default=16, help="images per request (default 16, a 4x4 grid)")
    p.add_argument("--server-cmd", help="a server command instead of dcgan serve on and off ({model} {port} {python})")
    p.add_argument("--label", default="custom", help="the --server-cmd row's label")
    p.add_argument("--scale", action="store_true", help="one process, --workers 2 and Ray Serve with 2 replicas")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args(argv)
    clients = [int(c) for c in a.clients.split(",")]
    serve = "{python} -m dcgan_runtime serve {model} --port {port} --quiet --max-inflight 512"
    configs = {"batching on": serve, "batching off": serve + " --no-batching"}
    if a.scale:
        configs = {
            "one process": serve,
            "--workers 2": serve + " --workers 2",
            "Ray Serve, 2 replicas": serve + " --engine ray --replicas 2",
        }
    if a.server_cmd:
        configs = {a.label: a.server_cmd}
    results = {
        label: run_server(cmd, str(Path(a.model)), clients, a.seconds, a.images) for label, cmd in configs.items()
    }
    print("| server | clients | images/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|")
    for label, rows in results.items():
        for r in rows:
            cells = [label, r["clients"], f"{r['images_per_s']:,}", r["p50_ms"], r["p99_ms"], r["errors"]]
            print("| " + " | ".join(map(str, cells)) + " |")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
