"""`dcgan serve`: the latent-space explorer and its HTTP API as an ASGI app (Starlette), served by uvicorn.

`create_app(generator, ...)` returns the app, so it can be mounted inside another Starlette or FastAPI
application; `dcgan serve` runs it on uvicorn. Needs the `[serve]` extra (starlette, uvicorn).

    GET  /                      the explorer page (HTML/CSS/JS shipped in the package; relative URLs)
    GET  /api/info              metadata, requested and active providers, limits (JSON)
    GET  /api/latents?seeds=3,7             the seeds' latents (JSON)
    GET  /api/directions?k=4&seed=0         k random orthonormal latent directions (JSON)
    GET  /api/generate?seeds=0-15[&grid=4x4]            a PNG grid
    POST /api/generate  {"latents": [[...], ...], "grid": "4x1"}   a PNG grid of given latents
    GET  /api/interpolate?seeds=3,7&steps=16&method=slerp&format=gif|png
    GET  /api/arithmetic?plus=1,2,3&minus=4,5,6&plus=7,8,9[&noise=0.25]   result + 8 neighbours (PNG)
    /v2/...                     the Open Inference Protocol (KServe v2 / Triton REST): dcgan_runtime.serving.oip

Every request's work is bounded before anything is allocated; anything a client sends that is wrong
gets a 4xx with {"error": ...}. Decodes that arrive together run as one `Generator.decode` call
(dynamic batching, off the event loop), the page's and the OIP's alike; batching never changes an
image (the runtime is batch-invariant). More than `max_inflight` requests at once get 503 with
Retry-After.

>>> from starlette.applications import Starlette                  # doctest: +SKIP
>>> from starlette.routing import Mount                            # doctest: +SKIP
>>> app = Starlette(routes=[Mount("/dcgan", create_app(Generator.load("generator.onnx")))])  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

import numpy as np

from dcgan_runtime.engine.generator import Generator
from dcgan_runtime.images import to_uint8
from dcgan_runtime.metadata import Metadata
from dcgan_runtime.serving import oip
from dcgan_runtime.serving.explorer import BadRequest, Explorer, Limits, Plan, Query
from dcgan_runtime.serving.stats import CONTENT_TYPE, OUTCOMES, Stats
from dcgan_runtime.serving.triton import model_config

try:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
    from starlette.types import ASGIApp, Receive, Scope, Send
except ImportError as e:  # pragma: no cover - exercised in a subprocess test
    raise ImportError("dcgan serve needs the [serve] extra: pip install 'dcgan[serve]' (starlette, uvicorn)") from e

STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
PAGE_HEADERS = {  # the page needs no inline script or style, and no other origin
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Frame-Options": "DENY",
}
COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
JSON_DEPTH = 4  # {"latents": [[...]]} is depth 3
METRICS = "/metrics"  # Prometheus' scrape path
PAGE_INFERENCE = ("/api/generate", "/api/interpolate", "/api/arithmetic")  # the page's routes that decode
Item = tuple[np.ndarray, "asyncio.Future[np.ndarray]", float]  # a queued request: latents, its answer, when queued


class Batcher:
    """Decode requests that arrive together as one `Generator.decode` call, in a worker thread.

    A request's latents join a queue; the worker takes what is queued (waiting up to `max_wait_ms`
    for more while under `max_batch`), decodes it in one call, and hands each request its images:
    float32 (N, C, H, W), what the model computes (the page's routes make pixels of them).
    """

    def __init__(self, g: Generator, limits: Limits, stats: Stats) -> None:
        self.g, self.limits, self.stats = g, limits, stats
        self.queue: asyncio.Queue[Item] | None = None
        self.task: asyncio.Task[None] | None = None
        self.calls = self.images = 0  # decode calls and images decoded: what batching saved shows here

    async def decode(self, z: np.ndarray) -> np.ndarray:
        if not self.limits.batching:
            self.calls, self.images = self.calls + 1, self.images + len(z)
            started = time.perf_counter()
            images = await run_in_threadpool(self.g.decode, z, "float")
            self.stats.batch([0.0], time.perf_counter() - started, len(z))
            return images
        loop = asyncio.get_running_loop()
        if self.task is None or self.task.done() or self.task.get_loop() is not loop:
            self.queue = asyncio.Queue()
            self.task = loop.create_task(self.run(self.queue))
        assert self.queue is not None
        future: asyncio.Future[np.ndarray] = loop.create_future()
        await self.queue.put((z, future, time.perf_counter()))
        return await future

    async def run(self, queue: asyncio.Queue[Item]) -> None:
        carried: Item | None = None
        while True:
            batch = [carried or await queue.get()]
            carried, n = None, len(batch[0][0])
            deadline = asyncio.get_running_loop().time() + self.limits.max_wait_ms / 1000
            while n < self.limits.max_batch:
                try:
                    item = queue.get_nowait()
                except asyncio.QueueEmpty:
                    timeout = deadline - asyncio.get_running_loop().time()
                    if timeout <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(queue.get(), timeout)
                    except asyncio.TimeoutError:
                        break
                if n + len(item[0]) > self.limits.max_batch:
                    carried = item
                    break
                batch.append(item)
                n += len(item[0])
            live = [item for item in batch if not item[1].done()]  # a client that went away needs no images
            if live:
                await self.decode_batch(live)

    async def decode_batch(self, live: list[Item]) -> None:
        """One decode call for the queued requests `live`; each gets its images (or the model's error)."""
        started = time.perf_counter()
        try:
            images = await run_in_threadpool(self.g.decode, np.concatenate([z for z, _, _ in live]), "float")
        except Exception as e:  # a model error: every waiting request gets it
            for _, f, _ in live:
                if not f.done():
                    f.set_exception(e)
            return
        self.stats.batch([started - t for _, _, t in live], time.perf_counter() - started, len(images))
        self.calls, self.images = self.calls + 1, self.images + len(images)
        start = 0
        for z, f, _ in live:
            if not f.done():
                f.set_result(images[start : start + len(z)])
            start += len(z)


class Guard:
    """ASGI middleware: Host/Origin checks, back-pressure (503 + Retry-After), security headers."""

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str] | None, served: Served) -> None:
        self.app, self.served, self.inflight = app, served, 0
        self.limits, self.batcher = served.limits, served.batcher  # what tests and embedders read
        self.allowed = None if allowed_hosts is None else {_hostname(h) for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self.refusal(headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if scope["path"] == METRICS:  # a scrape is never refused as busy, nor counted as a request
            await self.app(scope, receive, send)
            return
        if (busy := self.busy(_protocol(scope["path"]))) is not None:
            await error(503, busy, {"Retry-After": "1"})(scope, receive, send)
            return
        self.inflight += 1

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                extra = [
                    (k.lower().encode(), v.encode())
                    for k, v in COMMON_HEADERS.items()
                    if k.lower().encode() not in have
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            self.inflight -= 1

    def busy(self, protocol: str | None) -> str | None:
        """Why a request is refused when `max_inflight` are being answered (HTTP's 503, gRPC's
        RESOURCE_EXHAUSTED), counted for an inference `protocol`; None while there is room."""
        if self.inflight < self.limits.max_inflight:
            return None
        if protocol is not None:
            self.served.stats.request(protocol, "busy", 0.0)
        return f"the server is busy ({self.limits.max_inflight} requests in flight): retry shortly"

    def refusal(self, headers: dict[str, str]) -> Response | None:
        """A 403 for a Host this server does not answer to (DNS rebinding), or a foreign Origin."""
        if self.allowed is None:
            return None
        host = _hostname(headers.get("host", ""))
        if host not in self.allowed:
            return error(
                403,
                f"Host {headers.get('host', '')[:80]!r} is not one this server answers to: "
                "start it with --allow-host NAME to add a name",
            )
        origin = headers.get("origin")
        if origin is not None and origin != "null" and _hostname(origin.split("://", 1)[-1]) not in self.allowed:
            return error(403, f"Origin {origin[:80]!r} may not use this server")
        return None


def _protocol(path: str) -> str | None:
    """The protocol an inference path belongs to, for the request counts (None: not an inference path)."""
    if path.startswith("/v2/models/") and path.endswith("/infer"):
        return "http"
    return "page" if path in PAGE_INFERENCE else None


def _hostname(authority: str) -> str:
    """'localhost:8000' -> 'localhost', '[::1]:8000' -> '::1'."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        return authority[1:].split("]", 1)[0]
    return authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def read_json(request: Request, limits: Limits) -> Any:
    """The body as JSON: application/json, at most body_bytes, arriving within body_seconds, bounded depth."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise BadRequest("the body must be JSON (Content-Type: application/json)", 415)
    raw = await read_body(request, limits)
    if _depth(raw) > JSON_DEPTH:
        raise BadRequest(f"the body nests deeper than {JSON_DEPTH} levels")
    try:
        return json.loads(raw, parse_int=float)  # NaN and Infinity parse, and are refused as latents
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body is not valid JSON") from None


async def read_body(request: Request, limits: Limits) -> bytes:
    """The raw body: at most body_bytes (refused from Content-Length when it says more), within body_seconds."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isascii() or not declared.isdigit() or int(declared) > limits.body_bytes):
        raise BadRequest(f"the body must be at most {limits.body_bytes:,} bytes", 413)

    async def read() -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limits.body_bytes:
                raise BadRequest(f"the body must be at most {limits.body_bytes:,} bytes", 413)
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        return await asyncio.wait_for(read(), limits.body_seconds)
    except asyncio.TimeoutError:
        raise BadRequest(f"the body did not arrive within {limits.body_seconds:g} s", 408) from None


def _depth(raw: bytes) -> int:
    """The deepest nesting of [ and { outside strings, found without parsing."""
    depth = deepest = 0
    in_string = escaped = False
    for c in raw:
        if in_string:
            if escaped:
                escaped = False
            elif c == 0x5C:  # backslash
                escaped = True
            elif c == 0x22:  # quote
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif c in (0x5D, 0x7D):
            depth -= 1
    return deepest


def create_app(
    g: Generator,
    *,
    allowed_hosts: Sequence[str] | None = None,
    limits: Limits | None = None,
    model_name: str = "dcgan",
    **limit_overrides: Any,
) -> Guard:
    """The explorer, its API and the Open Inference Protocol over one Generator, as an ASGI app to run or mount.

    `allowed_hosts`: the names the Host header may carry (None: any; `dcgan serve` sets the bound
    address and localhost). `limits`, or keyword overrides of `Limits` fields (max_inflight=8, ...).
    `model_name`: the model's name under /v2/models/ (default "dcgan").

    >>> app = create_app(Generator.load("generator.onnx"), max_batch=64)   # doctest: +SKIP
    """
    if not isinstance(model_name, str) or not oip.NAME.fullmatch(model_name):
        raise ValueError(f"model name must be letters, digits, '_', '.' or '-' (at most 64), got {model_name!r}")
    limits = limits or Limits()
    if limit_overrides:
        unknown = set(limit_overrides) - set(asdict(limits))
        if unknown:
            raise ValueError(f"unknown limits {sorted(unknown)}: choose from {sorted(asdict(limits))}")
        limits = Limits(**{**asdict(limits), **limit_overrides})
    stats = Stats()
    served = Served(
        model_name, g.metadata, Batcher(g, limits, stats), limits, stats, serving_config(g, model_name, limits)
    )
    routes = _oip_routes(served) + _explorer_routes(Explorer(g, limits), served)
    routes.append(Route(METRICS, _metrics(stats), methods=["GET"]))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error(
            exc.status_code,
            exc.detail if exc.status_code != 404 else f"no such endpoint: {request.url.path}",
            dict(exc.headers or {}),
        )

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    guard = Guard(app, allowed_hosts, served)
    stats.inflight.set_function(lambda: guard.inflight)  # read at each scrape: nothing to keep in step
    return guard


@dataclass(frozen=True)
class Served:
    """One served model: what the HTTP routes and the gRPC service (dcgan_runtime.serving.grpc_oip) share."""

    name: str  # the model's name under /v2/models/
    meta: Metadata
    batcher: Batcher  # one queue: HTTP and gRPC requests that arrive together are decoded together
    limits: Limits
    stats: Stats
    config: dict[str, Any]  # Triton's ModelConfig as JSON (GET /v2/models/NAME/config)


def serving_config(g: Generator, name: str, limits: Limits) -> dict[str, Any]:
    """The ModelConfig `dcgan triton` would write for this file (serving.triton.model_config), with this
    server's batching: up to `limits.images` per request, queued requests batched after max_wait_ms."""
    kind = "cpu" if g.plan is not None else "gpu"
    threads = g.plan.bands[0][1].workers * g.plan.bands[0][1].threads if g.plan is not None else 1
    config = model_config(g, name, kind, limits.images, 1, threads, [], round(limits.max_wait_ms * 1000))
    if not limits.batching:
        del config["dynamic_batching"]
    else:
        del config["dynamic_batching"]["preferred_batch_size"]  # it batches whatever queued, up to max_batch
    return config


def _metrics(stats: Stats) -> Handler:
    async def scrape(request: Request) -> Response:
        return Response(
            stats.prometheus(), media_type=CONTENT_TYPE.split(";")[0], headers={"Content-Type": CONTENT_TYPE}
        )

    return scrape


def counted(handler: Handler, stats: Stats, protocol: str) -> Handler:
    """`handler`, each call counted in `stats`: its outcome (by the answer's status) and its wall time."""

    async def run(request: Request) -> Response:
        started, outcome = time.perf_counter(), OUTCOMES[3]
        try:
            response = await handler(request)
            outcome = (
                OUTCOMES[0] if response.status_code < 400 else OUTCOMES[1] if response.status_code < 500 else outcome
            )
            return response
        finally:
            stats.request(protocol, outcome, time.perf_counter() - started)

    return run


Handler = Callable[[Request], Awaitable[Response]]


def endpoint(handler: Handler) -> Handler:
    """A route whose bad requests (BadRequest, or the Generator's own ValueError) are answered as JSON errors."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except BadRequest as e:
            return error(e.status, str(e))
        except ValueError as e:  # the Generator's own argument checks
            return error(400, str(e))

    return run


def _answer(fn: Callable[[], Any]) -> Handler:
    """A route that answers `fn()` as JSON, computed per request (the statistics change; the rest is fixed)."""

    async def reply(request: Request) -> Response:
        return JSONResponse(fn())

    return reply


def _explorer_routes(explorer: Explorer, served: Served) -> list[Route]:
    """The explorer's page and its API (/api/...); the routes that decode are counted as protocol "page"."""
    batcher, limits = served.batcher, served.limits
    static = {
        path: (resources.files("dcgan_runtime.serving").joinpath("explorer_page").joinpath(name).read_bytes(), ctype)
        for path, (name, ctype) in STATIC.items()
    }

    def query(request: Request) -> Query:
        return {k: request.query_params.getlist(k) for k in request.query_params.keys()}

    async def answer(plan: Plan) -> Response:
        images = await batcher.decode(plan.z)
        ctype, body = await run_in_threadpool(lambda: plan.render(to_uint8(images)))
        return Response(body, media_type=ctype)

    def page(path: str) -> Handler:
        body, ctype = static[path]

        async def serve_file(request: Request) -> Response:
            return Response(body, media_type=ctype.split(";")[0], headers=PAGE_HEADERS)

        return serve_file

    def json_route(fn: Callable[[Query], dict[str, Any]]) -> Handler:
        return endpoint(lambda request: _json(fn(query(request))))

    def plan_route(fn: Callable[[Query], Plan]) -> Handler:
        return counted(endpoint(lambda request: answer(fn(query(request)))), served.stats, "page")

    async def generate(request: Request) -> Response:
        if request.method == "POST":
            return await answer(explorer.generate_latents(await read_json(request, limits)))
        return await answer(explorer.generate(query(request)))

    return [Route(path, page(path), methods=["GET"]) for path in STATIC] + [
        Route("/api/info", json_route(lambda q: explorer.info()), methods=["GET"]),
        Route("/api/latents", json_route(explorer.latents), methods=["GET"]),
        Route("/api/directions", json_route(explorer.directions), methods=["GET"]),
        Route("/api/generate", counted(endpoint(generate), served.stats, "page"), methods=["GET", "POST"]),
        Route("/api/interpolate", plan_route(explorer.interpolate), methods=["GET"]),
        Route("/api/arithmetic", plan_route(explorer.arithmetic), methods=["GET"]),
    ]


def _oip_routes(served: Served) -> list[Route]:
    """The Open Inference Protocol under /v2 (dcgan_runtime.serving.oip has the requests and answers), with
    Triton's model configuration, repository index and statistics extensions."""
    meta, model_name, limits = served.meta, served.name, served.limits

    def model(request: Request) -> None:
        """404 unless the path names this model (and version 1, where it names one)."""
        try:
            oip.check_model(request.path_params["name"], request.path_params.get("version", ""), model_name)
        except oip.UnknownModel as e:
            raise BadRequest(str(e), 404) from None

    def about(fn: Callable[[], dict[str, Any]]) -> Handler:
        async def answer(request: Request) -> Response:
            model(request)
            return JSONResponse(fn())

        return endpoint(answer)

    async def v2_infer(request: Request) -> Response:
        model(request)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in ("", "application/json", "application/octet-stream"):
            raise BadRequest("an inference body is JSON, or JSON then binary tensors (application/octet-stream)", 415)
        body = await read_body(request, limits)
        try:
            req = oip.parse_request(
                body, request.headers.get(oip.HEADER), meta.latent_dim, limits.images, meta.input_name, meta.output_name
            )
        except oip.OIPError as e:
            raise BadRequest(str(e)) from None
        images = await served.batcher.decode(oip.latents(req, meta.latent_dim))
        content, headers = await run_in_threadpool(oip.response, model_name, req, images, meta.output_name)
        kind = "application/octet-stream" if req.binary_output else "application/json"
        return Response(content, media_type=kind, headers=headers)

    routes = [
        Route("/v2", _answer(oip.server_metadata), methods=["GET"]),
        Route("/v2/health/live", _answer(lambda: {"live": True}), methods=["GET"]),
        Route("/v2/health/ready", _answer(lambda: {"ready": True}), methods=["GET"]),
        Route("/v2/repository/index", _answer(lambda: oip.repository_index(model_name)), methods=["POST"]),
        Route("/v2/models/stats", _answer(lambda: served.stats.triton(model_name)), methods=["GET"]),
    ]
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        routes += [
            Route(prefix, about(lambda: oip.model_metadata(model_name, meta)), methods=["GET"]),
            Route(prefix + "/ready", about(lambda: {"name": model_name, "ready": True}), methods=["GET"]),
            Route(prefix + "/config", about(lambda: served.config), methods=["GET"]),
            Route(prefix + "/stats", about(lambda: served.stats.triton(model_name)), methods=["GET"]),
            Route(prefix + "/infer", counted(endpoint(v2_infer), served.stats, "http"), methods=["POST"]),
        ]
    return routes


async def _json(body: dict[str, Any]) -> Response:
    return JSONResponse(body)
