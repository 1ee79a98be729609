"""`dcgan serve MODEL --engine ray --replicas N`: the same ASGI app (`serve.create_app`) as N Ray Serve replicas.

Each replica loads the model once (Serve runs the app builder on the replica) and answers the page
API and the Open Inference Protocol exactly as `dcgan serve` does; Serve's proxy spreads requests
over the replicas. Without `address` a local Ray instance is started and stopped with the server;
with it, the application joins that cluster. `autoscaling` is Serve's `autoscaling_config` (e.g.
{"min_replicas": 1, "max_replicas": 8}) in place of a fixed count. Needs the `[ray]` extra.

>>> from ray import serve                                                     # doctest: +SKIP
>>> serve.run(application("generator.onnx", replicas=2), route_prefix="/")   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from typing import Any

from dcgan_runtime.engine.providers import on_gpu
from dcgan_runtime.scale import ray_cluster

log = logging.getLogger(__name__)


def check_installed() -> None:
    """ValueError saying how to install Ray Serve when it is missing (before a model is loaded for it)."""
    _ray()


def _ray() -> tuple[Any, Any]:
    try:
        import ray
        from ray import serve
    except ImportError:
        raise ValueError("--engine ray needs Ray Serve: pip install 'dcgan[ray]' (ray[serve])") from None
    return ray, serve


def application(
    model: str,
    *,
    replicas: int = 2,
    autoscaling: dict[str, Any] | None = None,
    device: str = "cpu",
    threads: int | None = None,
    precision: str | None = None,
    model_name: str = "dcgan",
    allowed_hosts: Sequence[str] | None = None,
    limits: dict[str, Any] | None = None,
) -> Any:
    """The Serve application: a deployment whose replicas each build `create_app(Generator.load(model))`."""
    _, serve = _ray()
    hosts = list(allowed_hosts) if allowed_hosts is not None else None

    def build() -> Any:  # runs on each replica: one model load there
        from dcgan_runtime.engine.generator import Generator
        from dcgan_runtime.serving.app import create_app

        g = Generator.load(model, device=device, threads=threads, precision=precision)
        return create_app(g, allowed_hosts=hosts, model_name=model_name, **(limits or {}))

    gpu = on_gpu(device)
    options: dict[str, Any] = {
        "name": "dcgan",
        "ray_actor_options": {"num_cpus": 0 if gpu else 1, "num_gpus": int(gpu)},
    }
    if autoscaling is not None:
        options["autoscaling_config"] = autoscaling
    else:
        options["num_replicas"] = replicas
    return serve.deployment(serve.ingress(build)(), **options).bind()


def run(
    model: str,
    host: str,
    port: int,
    *,
    replicas: int = 2,
    autoscaling: dict[str, Any] | None = None,
    address: str | None = None,
    stop: threading.Event | None = None,
    **app_options: Any,
) -> None:
    """Serve until Ctrl-C (SIGINT/SIGTERM) or `stop` is set, then shut the application (and a Ray started here) down."""
    ray, serve = _ray()
    stop = stop or threading.Event()
    handlers = {}
    if threading.current_thread() is threading.main_thread():  # a second Ctrl-C while stopping changes nothing
        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.signal(sig, lambda *_: stop.set())
    local_cpus = (autoscaling or {}).get("max_replicas", replicas) + 1  # the replicas and the proxy
    try:
        with ray_cluster.session(ray, address, local_cpus):
            try:
                serve.start(http_options={"host": host, "port": port})
                app = application(model, replicas=replicas, autoscaling=autoscaling, **app_options)
                serve.run(app, name="dcgan", route_prefix="/", blocking=False)
                count = f"autoscaling {autoscaling}" if autoscaling else f"{replicas} replicas"
                log.info("explorer on http://%s:%d/ on Ray Serve (%s); Ctrl-C stops", host, port, count)
                stop.wait()
                log.info("shutting down the Ray Serve application")
            finally:
                serve.shutdown()
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
