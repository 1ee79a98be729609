"""What one served model did: Triton's statistics extension (`GET /v2/models/NAME/stats`, ModelStatistics
over gRPC) and Prometheus metrics (`GET /metrics`), from the same counts.

Every inference request is counted once, whatever its protocol ("http" for the OIP over HTTP,
"grpc", "page" for the explorer's API): its outcome and its wall time; the batcher adds, per decode
call, its batch size and compute time, and per request the time it queued before its batch started.
Recording takes a lock for a few additions, never across inference; prometheus_client's own
metrics are thread-safe. Durations are nanoseconds in the Triton document, seconds in Prometheus.

>>> s = Stats(); s.batch([0.001], 0.004, 1); s.request("http", "success", 0.006)
>>> s.triton("dcgan")["model_stats"][0]["inference_stats"]["success"]["count"]
1
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from dcgan_runtime.serving.oip import VERSION

try:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
except ImportError as e:  # pragma: no cover - exercised in a subprocess test
    raise ImportError("dcgan serve needs the [serve] extra: pip install 'dcgan[serve]' (prometheus-client)") from e

OUTCOMES = ("success", "invalid", "busy", "error")  # answered; refused as malformed; refused as busy; model failed
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus' text exposition format


@dataclass
class Duration:
    count: int = 0
    ns: int = 0

    def add(self, seconds: float) -> None:
        self.count += 1
        self.ns += int(seconds * 1e9)


class Stats:
    """The counts behind /v2/models/NAME/stats and /metrics (one instance per app)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.success, self.fail, self.queue, self.compute = Duration(), Duration(), Duration(), Duration()
        self.batches: dict[int, Duration] = {}
        self.inference_count = self.execution_count = self.last_inference_ms = 0
        self.registry = r = CollectorRegistry()
        self.requests = Counter(
            "dcgan_requests",
            "Inference requests answered, by protocol and outcome",
            ["protocol", "outcome"],
            registry=r,
        )
        self.images = Counter("dcgan_images_generated", "Images generated (decoded by the model)", registry=r)
        self.queue_seconds = Histogram(
            "dcgan_queue_seconds", "Time a request waited for its batch to start", buckets=LATENCY_BUCKETS, registry=r
        )
        self.compute_seconds = Histogram(
            "dcgan_compute_seconds", "Time a request's batch spent in the model", buckets=LATENCY_BUCKETS, registry=r
        )
        self.request_seconds = Histogram(
            "dcgan_request_seconds", "Inference request wall time", ["protocol"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.batch_size = Histogram("dcgan_batch_size", "Images per model call", buckets=BATCH_BUCKETS, registry=r)
        self.inflight = Gauge(  # the app sets its function: the guard's own count, read at each scrape
            "dcgan_inflight_requests", "Requests being answered now", registry=r
        )

    def batch(self, waits: list[float], compute: float, images: int) -> None:
        """One decode call of `images` images taking `compute` s, for requests that queued `waits` s each."""
        with self._lock:
            for w in waits:
                self.queue.add(w)
                self.compute.add(compute)
            self.batches.setdefault(images, Duration()).add(compute)
            self.inference_count += images
            self.execution_count += 1
            self.last_inference_ms = int(time.time() * 1000)
        for w in waits:
            self.queue_seconds.observe(w)
            self.compute_seconds.observe(compute)
        self.batch_size.observe(images)
        self.images.inc(images)

    def request(self, protocol: str, outcome: str, seconds: float) -> None:
        """One inference request's end: `outcome` one of OUTCOMES, `seconds` its wall time."""
        with self._lock:
            (self.success if outcome == "success" else self.fail).add(seconds)
        self.requests.labels(protocol, outcome).inc()
        self.request_seconds.labels(protocol).observe(seconds)

    def triton(self, name: str) -> dict[str, Any]:
        """The statistics extension's document, in Triton's shape (ns and counts)."""
        with self._lock:
            zero = {"count": 0, "ns": 0}
            infer = {
                "success": vars(self.success).copy(),
                "fail": vars(self.fail).copy(),
                "queue": vars(self.queue).copy(),
                "compute_input": zero,
                "compute_infer": vars(self.compute).copy(),
                "compute_output": zero,
                "cache_hit": zero,
                "cache_miss": zero,
            }
            batches = [
                {"batch_size": n, "compute_input": zero, "compute_infer": vars(d).copy(), "compute_output": zero}
                for n, d in sorted(self.batches.items())
            ]
            model = {
                "name": name,
                "version": VERSION,
                "last_inference": self.last_inference_ms,
                "inference_count": self.inference_count,
                "execution_count": self.execution_count,
                "inference_stats": infer,
                "batch_stats": batches,
            }
        return {"model_stats": [model]}

    def prometheus(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)
