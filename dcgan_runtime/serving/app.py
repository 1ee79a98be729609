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
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import asdict
from importlib import resources
from typing import Any

import numpy as np

from dcgan_runtime import latent
from dcgan_runtime.engine.generator import Generator
from dcgan_runtime.images import to_uint8
from dcgan_runtime.metadata import Metadata
from dcgan_runtime.serving import oip
from dcgan_runtime.serving.explorer import BadRequest, Explorer, Limits, Plan, Query

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


class Batcher:
    """Decode requests that arrive together as one `Generator.decode` call, in a worker thread.

    A request's latents join a queue; the worker takes what is queued (waiting up to `max_wait_ms`
    for more while under `max_batch`), decodes it in one call, and hands each request its images:
    float32 (N, C, H, W), what the model computes (the page's routes make pixels of them).
    """

    def __init__(self, g: Generator, limits: Limits) -> None:
        self.g, self.limits = g, limits
        self.queue: asyncio.Queue[tuple[np.ndarray, asyncio.Future[np.ndarray]]] | None = None
        self.task: asyncio.Task[None] | None = None
        self.calls = self.images = 0  # decode calls and images decoded: what batching saved shows here

    async def decode(self, z: np.ndarray) -> np.ndarray:
        if not self.limits.batching:
            self.calls, self.images = self.calls + 1, self.images + len(z)
            return await run_in_threadpool(self.g.decode, z, "float")
        loop = asyncio.get_running_loop()
        if self.task is None or self.task.done() or self.task.get_loop() is not loop:
            self.queue = asyncio.Queue()
            self.task = loop.create_task(self.run(self.queue))
        assert self.queue is not None
        future: asyncio.Future[np.ndarray] = loop.create_future()
        await self.queue.put((z, future))
        return await future

    async def run(self, queue: asyncio.Queue[tuple[np.ndarray, asyncio.Future[np.ndarray]]]) -> None:
        carried: tuple[np.ndarray, asyncio.Future[np.ndarray]] | None = None
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
            live = [(z, f) for z, f in batch if not f.done()]  # a client that went away needs no images
            if not live:
                continue
            try:
                images = await run_in_threadpool(self.g.decode, np.concatenate([z for z, _ in live]), "float")
            except Exception as e:  # a model error: every waiting request gets it
                for _, f in live:
                    if not f.done():
                        f.set_exception(e)
                continue
            self.calls, self.images = self.calls + 1, self.images + len(images)
            start = 0
            for z, f in live:
                if not f.done():
                    f.set_result(images[start : start + len(z)])
                start += len(z)


class Guard:
    """ASGI middleware: Host/Origin checks, back-pressure (503 + Retry-After), security headers."""

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str] | None, limits: Limits, batcher: Batcher) -> None:
        self.app, self.limits, self.batcher, self.inflight = app, limits, batcher, 0
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
        if self.inflight >= self.limits.max_inflight:
            await error(
                503,
                f"the server is busy ({self.limits.max_inflight} requests in flight): retry shortly",
                {"Retry-After": "1"},
            )(scope, receive, send)
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
    batcher = Batcher(g, limits)
    routes = _oip_routes(g.metadata, model_name, batcher, limits) + _explorer_routes(
        Explorer(g, limits), batcher, limits
    )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error(
            exc.status_code,
            exc.detail if exc.status_code != 404 else f"no such endpoint: {request.url.path}",
            dict(exc.headers or {}),
        )

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    return Guard(app, allowed_hosts, limits, batcher)


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


def _fixed(body: dict[str, Any]) -> Handler:
    async def reply(request: Request) -> Response:
        return JSONResponse(body)

    return reply


def _explorer_routes(explorer: Explorer, batcher: Batcher, limits: Limits) -> list[Route]:
    """The explorer's page and its API (/api/...)."""
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
        return endpoint(lambda request: answer(fn(query(request))))

    async def generate(request: Request) -> Response:
        if request.method == "POST":
            return await answer(explorer.generate_latents(await read_json(request, limits)))
        return await answer(explorer.generate(query(request)))

    return [Route(path, page(path), methods=["GET"]) for path in STATIC] + [
        Route("/api/info", json_route(lambda q: explorer.info()), methods=["GET"]),
        Route("/api/latents", json_route(explorer.latents), methods=["GET"]),
        Route("/api/directions", json_route(explorer.directions), methods=["GET"]),
        Route("/api/generate", endpoint(generate), methods=["GET", "POST"]),
        Route("/api/interpolate", plan_route(explorer.interpolate), methods=["GET"]),
        Route("/api/arithmetic", plan_route(explorer.arithmetic), methods=["GET"]),
    ]


def _oip_routes(meta: Metadata, model_name: str, batcher: Batcher, limits: Limits) -> list[Route]:
    """The Open Inference Protocol under /v2 (dcgan_runtime.serving.oip has the requests and answers)."""

    def model(request: Request) -> None:
        """404 unless the path names this model (and version 1, where it names one)."""
        name, version = request.path_params["name"], request.path_params.get("version", oip.VERSION)
        if name != model_name:
            raise BadRequest(f"unknown model {name[:64]!r}: this server serves {model_name!r}", 404)
        if version != oip.VERSION:
            raise BadRequest(f"model {model_name!r} has version {oip.VERSION} only, not {version[:16]!r}", 404)

    async def v2_model(request: Request) -> Response:
        model(request)
        return JSONResponse(oip.model_metadata(model_name, meta))

    async def v2_ready(request: Request) -> Response:
        model(request)
        return JSONResponse({"name": model_name, "ready": True})

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
        z = req.z if req.z is not None else latent.latents_from_seeds(req.seeds or [], meta.latent_dim)
        images = await batcher.decode(z)
        content, headers = await run_in_threadpool(oip.response, model_name, req, images, meta.output_name)
        kind = "application/octet-stream" if req.binary_output else "application/json"
        return Response(content, media_type=kind, headers=headers)

    routes = [
        Route("/v2", _fixed(oip.server_metadata()), methods=["GET"]),
        Route("/v2/health/live", _fixed({"live": True}), methods=["GET"]),
        Route("/v2/health/ready", _fixed({"ready": True}), methods=["GET"]),
    ]
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        routes += [
            Route(prefix, endpoint(v2_model), methods=["GET"]),
            Route(prefix + "/ready", endpoint(v2_ready), methods=["GET"]),
            Route(prefix + "/infer", endpoint(v2_infer), methods=["POST"]),
        ]
    return routes


async def _json(body: dict[str, Any]) -> Response:
    return JSONResponse(body)
