"""`dcgan bench --server URL`: load on any Open Inference Protocol server (dcgan serve, Triton, KServe) through
Triton's own clients, at a range of concurrencies, as perf_analyzer's `--concurrency-range` does.

For each batch size and concurrency C, C client threads (each with its own tritonclient connection)
send inference requests back to back for `seconds` (after one untimed request each): a closed loop
that keeps C requests in flight. The latents follow the seed rule, one batch per request, sent as
binary tensors; the model's input name and shape come from its metadata, so any server whose model
takes (N, latent_dim, 1, 1) floats is driven alike. Each row: requests, failures, images/s (images
answered / wall time), and p50/p95/p99 request latency.

>>> rows = run("grpc://127.0.0.1:8001", "dcgan", [1, 64], [1, 4, 8], seconds=2.0)   # doctest: +SKIP
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from dcgan_runtime import latent
from dcgan_runtime.errors import first_line

SCHEMES = ("http", "grpc")


@dataclass(frozen=True)
class LoadRow:
    protocol: str  # http or grpc
    batch_size: int  # images per request
    concurrency: int  # requests kept in flight
    requests: int  # answered in the timed window
    errors: int  # failed in the timed window
    seconds: float  # wall time from the window's start until the last request ended
    images_per_s: float  # images answered / seconds
    p50_ms: float  # request latency percentiles
    p95_ms: float
    p99_ms: float


def parse_server(url: str) -> tuple[str, str]:
    """'grpc://127.0.0.1:8001' -> ('grpc', '127.0.0.1:8001'); ValueError for anything else.

    >>> parse_server("http://localhost:8000")
    ('http', 'localhost:8000')
    """
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname or parts.port is None or parts.path not in ("", "/"):
        raise ValueError(f"--server must be http://HOST:PORT or grpc://HOST:PORT, got {url[:100]!r}")
    return parts.scheme, parts.netloc


def client(protocol: str, address: str) -> tuple[Any, Any]:
    """(a tritonclient InferenceServerClient, its module) for the protocol; ImportError names the extra."""
    try:
        if protocol == "grpc":
            import tritonclient.grpc as module
        else:
            import tritonclient.http as module
    except ImportError as e:
        raise ImportError(f"dcgan bench --server needs tritonclient: pip install 'dcgan[grpc]' ({e})") from None
    return module.InferenceServerClient(address), module


def input_of(protocol: str, address: str, model: str) -> tuple[str, int]:
    """The model's input name and latent size, from its metadata (ValueError when it is not (N, nz, 1, 1))."""
    c, _ = client(protocol, address)
    try:
        meta = c.get_model_metadata(model, as_json=True) if protocol == "grpc" else c.get_model_metadata(model)
    except Exception as e:  # tritonclient's own exception for an unreachable server or an unknown model
        raise OSError(f"{protocol}://{address} gave no metadata for model {model!r}: {first_line(e, 200)}") from None
    if len(meta["inputs"]) != 1:
        raise ValueError(f"model {model!r} has {len(meta['inputs'])} inputs; a DCGAN generator has one")
    (inp,) = meta["inputs"]
    shape = [int(d) for d in inp["shape"]]
    if len(shape) != 4 or shape[2:] != [1, 1] or inp["datatype"] != "FP32":
        raise ValueError(f"model {model!r} takes {inp['datatype']} {shape}, not FP32 (N, latent_dim, 1, 1)")
    return inp["name"], shape[1]


def run(
    url: str, model: str, batch_sizes: Sequence[int], concurrencies: Sequence[int], seconds: float = 2.0
) -> list[LoadRow]:
    """One LoadRow per (batch size, concurrency), in that order."""
    protocol, address = parse_server(url)
    name, dim = input_of(protocol, address, model)
    rows = []
    for bs in batch_sizes:
        z = latent.latents_from_seeds(range(bs), dim).reshape(bs, dim, 1, 1)
        for c in concurrencies:
            rows.append(_drive(protocol, address, model, name, z, c, seconds))
    return rows


def _drive(protocol: str, address: str, model: str, name: str, z: np.ndarray, c: int, seconds: float) -> LoadRow:
    latencies: list[list[float]] = [[] for _ in range(c)]
    errors, ends = [0] * c, [0.0] * c
    start = threading.Barrier(c + 1)
    window: list[float] = []

    def worker(i: int) -> None:
        send = _sender(protocol, address, model, name, z)
        send()  # untimed: connection, first call
        start.wait()
        t_end = window[0] + seconds
        while (t := time.perf_counter()) < t_end:
            try:
                send()
                latencies[i].append(time.perf_counter() - t)
            except Exception:  # the server refused or failed: counted, the loop goes on
                errors[i] += 1
        ends[i] = time.perf_counter()  # the last request started in the window ends after it: counted whole

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(c)]
    for t in threads:
        t.start()
    window.append(time.perf_counter() + 0.05)  # every thread starts timing at the same moment
    start.wait()
    for t in threads:
        t.join()
    done = [x for per in latencies for x in per]
    ms = np.asarray(done or [float("nan")]) * 1000
    p50, p95, p99 = (round(float(v), 3) for v in np.percentile(ms, [50, 95, 99]))
    wall = max(ends) - window[0]
    return LoadRow(protocol, len(z), c, len(done), sum(errors), round(wall, 3), round(len(done) * len(z) / wall, 1),
                   p50, p95, p99)  # fmt: skip


def _sender(protocol: str, address: str, model: str, name: str, z: np.ndarray) -> Callable[[], None]:
    c, module = client(protocol, address)
    inp = module.InferInput(name, list(z.shape), "FP32")
    inp.set_data_from_numpy(z)  # binary on both: raw contents over gRPC, the binary extension over HTTP

    def send() -> None:
        c.infer(model, [inp])  # no outputs named: every output, binary (tritonclient's default)

    return send


def table(rows: Sequence[LoadRow], url: str, model: str) -> str:
    lines = [
        f"server {url}, model {model!r}: closed-loop load, images/s and request latency",
        f"{'batch':>6}{'concurrency':>13}{'requests':>10}{'errors':>8}{'images/s':>11}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}",
    ]
    for r in rows:
        lines.append(
            f"{r.batch_size:>6}{r.concurrency:>13}{r.requests:>10}{r.errors:>8}{r.images_per_s:>11.1f}"
            f"{r.p50_ms:>9.2f}{r.p95_ms:>9.2f}{r.p99_ms:>9.2f}"
        )
    return "\n".join(lines)
