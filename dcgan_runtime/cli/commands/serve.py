"""`dcgan serve`: the latent-space explorer, its HTTP API and the Open Inference Protocol, on uvicorn
(`--engine local`) or as Ray Serve replicas (`--engine ray`)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from dcgan_runtime.cli import args
from dcgan_runtime.errors import UsageError
from dcgan_runtime.limits import MAX_BATCH

if TYPE_CHECKING:
    from dcgan_runtime.cli.commands import Load

HELP = "A latent-space explorer in the browser, and its HTTP API, on this machine."
MODEL = "one"
EXAMPLES = """examples:
  dcgan serve generator.onnx                     # then open http://127.0.0.1:8000/
  dcgan serve generator.onnx --allow-host dcgan.lan --port 8080   # also answer to that name
  dcgan serve generator.onnx --port 8000 --grpc-port 8001   # the inference protocol over gRPC too
  dcgan serve generator.onnx --host 0.0.0.0 --workers 4   # other machines can reach it: mind who can
  dcgan serve generator.onnx --engine ray --replicas 2    # Ray Serve replicas (a local Ray, or --address)
  dcgan serve generator.onnx --engine ray --autoscaling '{"min_replicas": 1, "max_replicas": 4}'
(needs the [serve] extra: pip install 'dcgan[serve]'; --engine ray also [ray], --grpc-port [grpc]. The
 Open Inference Protocol answers under /v2 (and over gRPC): Triton/KServe clients and tools work against
 it; Prometheus metrics at /metrics; docs/serving.md)"""


def arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    c.add_argument("--port", type=args.int_in(0, 65535), default=8000, help="default 8000 (0: any free port)")
    c.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a name the Host header may carry besides the bound address and localhost (repeatable)",
    )
    c.add_argument(
        "--grpc-port",
        type=args.int_in(0, 65535),
        metavar="PORT",
        help="also answer the Open Inference Protocol over gRPC on this port (Triton's and KServe's gRPC clients; "
        "off by default; needs the [grpc] extra)",
    )
    c.add_argument("--workers", type=args.int_in(1, 64), default=1, help="server processes, each with its own model")
    c.add_argument("--max-inflight", type=args.int_in(1, 10_000), default=64, help="answered at once; more get 503")
    c.add_argument("--max-batch", type=args.int_in(1, MAX_BATCH), default=256, help="latents per batched model call")
    c.add_argument(
        "--max-wait-ms",
        type=args.float_in(0, 1000),
        default=0.0,
        help="how long a decode waits to be batched with others (default 0: what queued while the model was busy)",
    )
    c.add_argument("--no-batching", action="store_true", help="decode each request on its own")
    c.add_argument("--model-name", default="dcgan", help="the model's name in the /v2 inference protocol")
    c.add_argument("--engine", choices=("local", "ray"), default="local", help="local (uvicorn, default) or ray")
    c.add_argument("--replicas", type=args.int_in(1, 64), default=2, help="with --engine ray: Serve replicas")
    c.add_argument("--autoscaling", metavar="JSON", help="with --engine ray: Serve's autoscaling_config, as JSON")
    c.add_argument("--address", help="with --engine ray: the Ray cluster to join (default: start a local one)")


def check(a: argparse.Namespace) -> dict[str, Any] | None:
    """The flags and extras, checked before the model is loaded; returns the parsed --autoscaling."""
    try:
        from dcgan_runtime.serving import oip, server
    except ImportError as e:
        raise UsageError(str(e)) from None
    if not oip.NAME.fullmatch(a.model_name):
        raise UsageError(f"--model-name takes letters, digits, _ . - (64 at most), got {a.model_name[:80]!r}")
    if a.engine == "local" and (a.autoscaling is not None or a.address is not None):
        raise UsageError("--autoscaling and --address need --engine ray")
    if a.engine == "ray" and a.workers != 1:
        raise UsageError("--workers is for --engine local; Ray Serve scales by --replicas")
    if a.grpc_port is not None and (a.engine == "ray" or a.workers != 1):
        raise UsageError("--grpc-port runs in the one-process local server: drop --workers / --engine ray, or use HTTP")
    if a.grpc_port is not None:
        try:
            from dcgan_runtime.serving import grpc_oip  # noqa: F401 - the extra is there before the model loads
        except ImportError as e:
            raise UsageError(str(e)) from None
        server.check_port(a.host, a.grpc_port)
    autoscaling = None
    if a.autoscaling is not None:
        try:
            autoscaling = json.loads(a.autoscaling)
        except ValueError:
            autoscaling = None
        if not isinstance(autoscaling, dict):
            raise UsageError('--autoscaling must be a JSON object, e.g. \'{"min_replicas": 1, "max_replicas": 4}\'')
    if a.engine == "ray":
        from dcgan_runtime.serving import ray_serve

        ray_serve.check_installed()
    server.check_port(a.host, a.port)  # before the model loads (and Serve's proxy would take minutes to say so)
    return autoscaling


def run(a: argparse.Namespace, load: Load) -> None:
    autoscaling = check(a)
    from dcgan_runtime.engine.session import available_cpus
    from dcgan_runtime.serving.server import allowed_hosts, serve

    g = load(a.precision)
    limits = {"max_inflight": a.max_inflight, "max_batch": a.max_batch, "max_wait_ms": a.max_wait_ms}
    limits["batching"] = not a.no_batching
    if a.engine == "local":
        serve(g, a.host, a.port, workers=a.workers, allow_hosts=a.allow_host, quiet=a.quiet, model_name=a.model_name,
              grpc_port=a.grpc_port, **limits)  # fmt: skip
        return
    from dcgan_runtime.serving import ray_serve

    g.close()
    ray_serve.run(
        args.worker_model(a.model, g), a.host, a.port, replicas=a.replicas, autoscaling=autoscaling,
        address=a.address, device=a.device, threads=a.threads or max(1, available_cpus() // a.replicas),
        precision=g.metadata.precision, model_name=a.model_name, allowed_hosts=allowed_hosts(a.host, a.allow_host),
        limits=limits,
    )  # fmt: skip
