"""Running the explorer app (`dcgan_runtime.serving.app.create_app`) on uvicorn: `dcgan serve`, and `make_server`
for tests and for embedding a server in a thread.

uvicorn is set up so that slow or idle clients cannot hold it: a request's head must arrive within
HEAD_SECONDS of the connection (or of the previous answer), idle keep-alive connections close after
KEEP_ALIVE_SECONDS, the listen backlog is 2,048, and connections beyond a cap get 503.

>>> server = make_server(Generator.load("generator.onnx"), port=0)      # doctest: +SKIP
>>> threading.Thread(target=server.serve_forever).start()               # doctest: +SKIP
>>> server.server_address                                               # doctest: +SKIP
('127.0.0.1', 43817)
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import json
import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Sequence
from typing import Any

from dcgan_runtime.engine.generator import Generator
from dcgan_runtime.engine.session import available_cpus
from dcgan_runtime.serving.app import create_app
from dcgan_runtime.serving.explorer import Limits

try:
    import uvicorn
    from uvicorn.protocols.http.h11_impl import H11Protocol
except ImportError as e:  # pragma: no cover - exercised in a subprocess test
    raise ImportError("dcgan serve needs the [serve] extra: pip install 'dcgan[serve]' (starlette, uvicorn)") from e

log = logging.getLogger(__name__)
HEAD_SECONDS = 10.0  # a request line and headers must arrive within this
KEEP_ALIVE_SECONDS = 5  # an idle keep-alive connection is closed after this
ENVIRONMENT = "DCGAN_SERVE"  # how `--workers N` hands each worker process its settings


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for each request head.

    uvicorn arms its keep-alive timer only after a first answer and disarms it on any byte received,
    so a client that connects and sends nothing, or its headers a byte at a time, would hold a
    connection (and a file descriptor) forever. Here such a client is disconnected after HEAD_SECONDS.
    """

    head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and self.head_deadline is not None:  # a whole request head arrived
            self.head_deadline.cancel()
            self.head_deadline = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()  # the next request on this connection gets the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
        self.head_deadline = self.loop.call_later(HEAD_SECONDS, self._too_slow)

    def _too_slow(self) -> None:
        self.head_deadline = None
        if self.cycle is None or self.cycle.response_complete:  # no request in progress: close
            self.transport.close()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, extra: Sequence[str] = ()) -> list[str] | None:
    """The Host names a server bound to `host` answers to: on loopback, the address and localhost
    (a page elsewhere cannot reach it by DNS rebinding); elsewhere any name, unless `extra` names some."""
    if is_loopback(host):
        return [host, "localhost", "127.0.0.1", "::1", *extra]
    return [host, *extra] if extra else None


def uvicorn_options(limits: Limits, quiet: bool = False) -> dict[str, Any]:
    """How uvicorn runs the app: the guarded protocol, short keep-alive, a deep backlog, a connection cap."""
    return {
        "http": GuardedH11Protocol,
        "lifespan": "off",
        "backlog": 2048,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "limit_concurrency": limits.max_inflight * 4 + 64,
        "server_header": False,
        "log_level": "warning" if quiet else "info",
        "access_log": not quiet,
    }


class Server:
    """A bound uvicorn server, run with `serve_forever()` (in a thread, say) and stopped with `shutdown()`.
    With `grpc_port` (0: any free port), the Open Inference Protocol over gRPC runs in the same event
    loop for the same app (`serving.grpc_oip`); `grpc_address` is set once it listens."""

    def __init__(
        self, app: Any, host: str, port: int, limits: Limits, quiet: bool, grpc_port: int | None = None
    ) -> None:
        self.config = uvicorn.Config(app, host=host, port=port, **uvicorn_options(limits, quiet))
        self.server = uvicorn.Server(self.config)
        self.socket = self.config.bind_socket()
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self.app, self.host, self.grpc_port = app, host, grpc_port
        self.grpc_address: tuple[str, int] | None = None

    def serve_forever(self) -> None:
        asyncio.run(self._serve())  # asyncio's own loop: grpc.aio runs on it

    async def _serve(self) -> None:
        grpc_server = None
        if self.grpc_port is not None:
            from dcgan_runtime.serving import grpc_oip

            grpc_server, port = await grpc_oip.start(self.app, self.host, self.grpc_port)
            self.grpc_address = (self.host, port)
        try:
            await self.server.serve(sockets=[self.socket])
        finally:
            if grpc_server is not None:
                await grpc_server.stop(grace=1.0)

    def start(self, timeout: float = 30.0) -> threading.Thread:
        """Serve from a daemon thread; return once the server accepts connections."""
        thread = threading.Thread(target=self.serve_forever, daemon=True, name="dcgan-serve")
        thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return thread

    def shutdown(self) -> None:
        self.server.should_exit = True

    def server_close(self) -> None:
        self.socket.close()


def check_port(host: str, port: int) -> None:
    """OSError saying what to do when `host:port` cannot be bound (in use, or not this machine's address)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise OSError(f"--host {host!r} is not an address of this machine ({e.strerror}): use 127.0.0.1") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise OSError(
                    f"port {port} on {host} is in use (another server?): stop it, or pick another --port"
                ) from None
            raise OSError(f"cannot listen on {host}:{port}: {e.strerror}") from None


def make_server(
    g: Generator,
    host: str = "127.0.0.1",
    port: int = 8000,
    quiet: bool = False,
    allow_hosts: Sequence[str] = (),
    model_name: str = "dcgan",
    grpc_port: int | None = None,
    **limits: Any,
) -> Server:
    """A bound (not yet serving) server; port 0 picks a free port (`server.server_address[1]`), and
    `grpc_port` adds gRPC (`server.grpc_address` once started)."""
    app = create_app(g, allowed_hosts=allowed_hosts(host, allow_hosts), model_name=model_name, **limits)
    return Server(app, host, port, app.limits, quiet, grpc_port)


def serve(
    g: Generator,
    host: str,
    port: int,
    *,
    workers: int = 1,
    allow_hosts: Sequence[str] = (),
    quiet: bool = False,
    model_name: str = "dcgan",
    grpc_port: int | None = None,
    **limits: Any,
) -> None:
    """`dcgan serve`: run until Ctrl-C. With `workers` > 1, each worker process loads its own Generator
    (threads split between them) and uvicorn shares the port; `grpc_port` (one worker only) adds the
    Open Inference Protocol over gRPC."""
    if not is_loopback(host):
        log.warning(
            "bound to %s, so other machines can reach this server; it has no authentication. "
            "Put it behind a proxy that has, or bind to 127.0.0.1.",
            host,
        )
    hosts = allowed_hosts(host, allow_hosts)
    where = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    check_port(host, port)  # before the banner: uvicorn would print it, then exit 3
    if grpc_port is not None:
        check_port(host, grpc_port)
    log.info(
        "explorer on %s  (%dx%d, %s, %d worker%s); Ctrl-C stops",
        where,
        g.metadata.image_size,
        g.metadata.image_size,
        g.providers[0],
        workers,
        "s" * (workers > 1),
    )
    if workers == 1:
        app = create_app(g, allowed_hosts=hosts, model_name=model_name, **limits)
        if grpc_port is not None:
            log.info("Open Inference Protocol over gRPC on %s:%d (model %r)", host, grpc_port, model_name)
        Server(app, host, port, app.limits, quiet, grpc_port).serve_forever()
        return
    if grpc_port is not None:
        raise ValueError("--grpc-port runs in the one-process server: use --workers 1 (or --engine ray over HTTP)")
    settings = {
        "model": str(g.path),
        "precision": g.metadata.precision,
        "device": "cuda" if g.providers[0] == "CUDAExecutionProvider" else "cpu",
        "threads": max(1, available_cpus() // workers),
        "allowed_hosts": hosts,
        "model_name": model_name,
        "limits": limits,
    }
    os.environ[ENVIRONMENT] = json.dumps(settings)
    uvicorn.run(
        "dcgan_runtime.serving.server:app_from_environment",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        **uvicorn_options(Limits(**limits), quiet),
    )


def app_from_environment() -> Any:
    """The app factory each `--workers` process calls: its own Generator, from DCGAN_SERVE's settings."""
    s = json.loads(os.environ[ENVIRONMENT])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = Generator.load(s["model"], device=s["device"], threads=s["threads"], precision=s["precision"])
    return create_app(g, allowed_hosts=s["allowed_hosts"], model_name=s["model_name"], **s["limits"])
