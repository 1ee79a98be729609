"""`dcgan serve`: a local latent-space explorer over one Generator, on the standard library's HTTP server.

Endpoints (every parameter validated; bad requests get 400 with {"error": ...}, never a traceback):

    GET  /                      the explorer page (HTML/CSS/JS shipped in the package)
    GET  /api/info              metadata, requested and active providers, limits (JSON)
    GET  /api/latents?seeds=3,7             the seeds' latents (JSON)
    GET  /api/directions?k=4&seed=0         k random orthonormal latent directions (JSON)
    GET  /api/generate?seeds=0-15[&grid=4x4]            a PNG grid
    POST /api/generate  {"latents": [[...], ...], "grid": "4x1"}   a PNG grid of given latents
    GET  /api/interpolate?seeds=3,7&steps=16&method=slerp&format=gif|png
    GET  /api/arithmetic?plus=1,2,3&minus=4,5,6&plus=7,8,9[&noise=0.25]   result + 8 neighbours (PNG)

Requests never touch the file system: the page's three files are read once at start-up.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np

from dcgan_runtime import parse
from dcgan_runtime.generator import Generator
from dcgan_runtime.images import encode_gif, encode_image, make_grid

MAX_IMAGES = 256  # per request
MAX_STEPS = 64
MAX_DIRECTIONS = 16
MAX_BODY = 2 * 1024 * 1024
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}


Query = dict[str, list[str]]  # parse_qs's result


class BadRequest(ValueError):
    """Answered with 400 and the message."""


class Explorer:
    """The API's logic, independent of HTTP: each method takes query values and returns (content type, bytes)."""

    def __init__(self, g: Generator):
        self.g = g
        self.static = {
            path: (resources.files("dcgan_runtime").joinpath("static").joinpath(name).read_bytes(), ctype)
            for path, (name, ctype) in STATIC.items()
        }

    # -- parameter helpers
    @staticmethod
    def _one(q: Query, name: str, default: str | None = None) -> str:
        values = q.get(name)
        if not values:
            if default is None:
                raise BadRequest(f"missing parameter {name!r}")
            return default
        if len(values) > 1:
            raise BadRequest(f"parameter {name!r} given {len(values)} times")
        return values[0]

    @staticmethod
    def _seeds(spec: str, name: str = "seeds", at_least: int = 1) -> list[int]:
        try:
            n = parse.count_seeds(spec)  # before anything is expanded
            if not at_least <= n <= MAX_IMAGES:
                raise BadRequest(f"{name} must name {at_least} to {MAX_IMAGES} seeds, got {n:,}")
            return parse.parse_seeds(spec, MAX_IMAGES)
        except BadRequest:
            raise
        except ValueError as e:
            raise BadRequest(f"{name} {e}") from None

    @staticmethod
    def _int(q: Query, name: str, default: int, lo: int, hi: int) -> int:
        raw = Explorer._one(q, name, str(default))
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"{name} must be an integer, got {raw!r}") from None
        if not lo <= value <= hi:
            raise BadRequest(f"{name} must be in {lo}..{hi}, got {value}")
        return value

    def _grid(self, q_or_value: str | None, n: int) -> int:
        if not q_or_value:
            return int(np.ceil(np.sqrt(n)))
        try:
            cols, rows = parse.parse_grid(q_or_value)
        except ValueError as e:
            raise BadRequest(f"grid {e}") from None
        if cols * rows != n:
            raise BadRequest(f"grid {q_or_value} holds {cols * rows} images, not {n}")
        return cols

    # -- endpoints
    def info(self, q: Query) -> tuple[str, bytes]:
        body = {
            "metadata": json.loads(self.g.metadata.to_json()),
            "providers": self.g.providers,
            "requested_providers": self.g.requested_providers,
            "limits": {"images": MAX_IMAGES, "steps": MAX_STEPS, "directions": MAX_DIRECTIONS},
        }
        return "application/json", json.dumps(body).encode()

    def latents(self, q: Query) -> tuple[str, bytes]:
        z = self.g.latents(seeds=self._seeds(self._one(q, "seeds")))
        return "application/json", json.dumps({"latents": z.tolist()}).encode()

    def directions(self, q: Query) -> tuple[str, bytes]:
        k = self._int(q, "k", 4, 1, MAX_DIRECTIONS)
        seed = self._int(q, "seed", 0, 0, 2**32 - 1)
        dim = self.g.metadata.latent_dim
        if k > dim:
            raise BadRequest(f"k must be at most latent_dim ({dim})")
        q_mat, _ = np.linalg.qr(np.random.RandomState(seed).standard_normal((dim, k)))  # orthonormal columns
        return "application/json", json.dumps({"directions": q_mat.T.astype(np.float32).tolist()}).encode()

    def generate(self, q: Query, body: dict[str, Any] | None = None) -> tuple[str, bytes]:
        if body is None:
            seeds = self._seeds(self._one(q, "seeds", "0-15"))
            images, grid = self.g.generate(seeds=seeds), self._one(q, "grid", "")
        else:
            z = body.get("latents")
            if not isinstance(z, list) or not 1 <= len(z) <= MAX_IMAGES:
                raise BadRequest(f"'latents' must be a list of 1 to {MAX_IMAGES} latent vectors")
            try:
                arr = np.asarray(z, dtype=np.float64)
            except (TypeError, ValueError):
                raise BadRequest("'latents' must hold numbers only") from None
            images, grid = self.g.decode(arr), body.get("grid") or ""
            if not isinstance(grid, str):
                raise BadRequest("'grid' must be a string like 4x1")
        return "image/png", encode_image(make_grid(images, nrow=self._grid(grid, len(images))))

    def interpolate(self, q: Query) -> tuple[str, bytes]:
        seeds = self._seeds(self._one(q, "seeds"), at_least=2)
        if len(seeds) != 2:
            raise BadRequest("seeds must name exactly two seeds, e.g. 3,7")
        steps = self._int(q, "steps", 16, 2, MAX_STEPS)
        method = self._one(q, "method", "slerp")
        fmt = self._one(q, "format", "gif")
        if method not in ("slerp", "lerp") or fmt not in ("gif", "png"):
            raise BadRequest("method must be slerp or lerp, and format gif or png")
        z0, z1 = self.g.latents(seeds=seeds)
        frames = self.g.interpolate(z0, z1, steps=steps, method=method)
        return (
            ("image/gif", encode_gif(frames))
            if fmt == "gif"
            else ("image/png", encode_image(make_grid(frames, nrow=steps)))
        )

    def arithmetic(self, q: Query) -> tuple[str, bytes]:
        plus = [self._seeds(s, "plus") for s in q.get("plus", [])]
        minus = [self._seeds(s, "minus") for s in q.get("minus", [])]
        if not plus:
            raise BadRequest("give at least one plus term, e.g. plus=1,2,3")
        if len(plus) + len(minus) > 8:
            raise BadRequest("at most 8 terms")
        raw = self._one(q, "noise", "0.25")
        try:
            noise = float(raw)
        except ValueError:
            raise BadRequest(f"noise must be a number, got {raw!r}") from None
        if not 0 <= noise <= 2:
            raise BadRequest(f"noise must be in 0..2, got {noise}")
        images = self.g.arithmetic(
            plus=[self.g.latents(seeds=s) for s in plus],
            minus=[self.g.latents(seeds=s) for s in minus],
            neighbours=8,
            noise=noise,
        )
        order = [1, 2, 3, 4, 0, 5, 6, 7, 8]  # the result in the middle of its 8 neighbours
        return "image/png", encode_image(make_grid(images[order], nrow=3))


class Handler(BaseHTTPRequestHandler):
    server_version = "dcgan-serve"
    explorer: Explorer  # set on the class by make_server
    quiet = False

    def _send(self, status: int, ctype: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        self._send(status, "application/json", json.dumps({"error": message}).encode())

    def _dispatch(self, method: str) -> None:
        url = urlparse(self.path)
        routes = {
            "/api/info": "info",
            "/api/latents": "latents",
            "/api/directions": "directions",
            "/api/generate": "generate",
            "/api/interpolate": "interpolate",
            "/api/arithmetic": "arithmetic",
        }
        try:
            if method == "GET" and url.path in self.explorer.static:
                body, ctype = self.explorer.static[url.path]
                return self._send(200, ctype, body)
            if url.path not in routes:
                return self._error(404, f"no such endpoint: {url.path}")
            if method == "POST" and url.path != "/api/generate":
                return self._error(405, f"{url.path} takes GET")
            q = parse_qs(url.query, keep_blank_values=True)
            if method == "POST":
                ctype, body = self.explorer.generate(q, self._json_body())
            else:
                ctype, body = getattr(self.explorer, routes[url.path])(q)
            self._send(200, ctype, body)
        except (BadRequest, ValueError) as e:  # ValueError: the Generator's own argument checks
            self._error(400, str(e))
        except Exception as e:  # never a traceback to the client
            print(f"dcgan serve: internal error on {self.path}: {type(e).__name__}: {e}", file=sys.stderr)
            self._error(500, "internal error")

    def _json_body(self) -> dict[str, Any]:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise BadRequest("a POST needs a Content-Length header") from None
        if not 0 < length <= MAX_BODY:
            raise BadRequest(f"the body must be 1 byte to {MAX_BODY} bytes")
        try:
            body = json.loads(self.rfile.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BadRequest("the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        return body

    def do_GET(self) -> None:  # noqa: N802 (the standard library's names)
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def log_message(self, fmt: str, *args: Any) -> None:
        if not self.quiet:
            super().log_message(fmt, *args)


def make_server(g: Generator, host: str = "127.0.0.1", port: int = 8000, quiet: bool = False) -> ThreadingHTTPServer:
    """A ready (not yet serving) server; port 0 picks a free port (`server.server_address[1]`).

    >>> server = make_server(Generator.load("generator.onnx"), port=0)   # doctest: +SKIP
    >>> server.serve_forever()                                           # doctest: +SKIP
    """
    handler = type("BoundHandler", (Handler,), {"explorer": Explorer(g), "quiet": quiet})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def serve(g: Generator, host: str, port: int) -> None:
    server = make_server(g, host, port)
    h, p = str(server.server_address[0]), server.server_address[1]
    print(
        f"dcgan explorer on http://{h}:{p}/  ({g.metadata.image_size}x{g.metadata.image_size}, "
        f"{g.providers[0]}); Ctrl-C stops",
        file=sys.stderr,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
