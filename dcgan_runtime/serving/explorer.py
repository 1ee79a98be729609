"""The explorer's API logic, independent of HTTP: validate a request's parameters, then say which latents
to decode and how to render the answer (`Plan`). `dcgan_runtime.serving.app` puts it on the web.

Every limit is checked before anything is allocated: a seed list is counted from its ranges first.

>>> Limits().images
256
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from dcgan_runtime import latent, parse
from dcgan_runtime.engine.generator import Generator
from dcgan_runtime.images import encode_gif, encode_image, make_grid
from dcgan_runtime.latent import MAX_SEED


@dataclass(frozen=True)
class Limits:
    """What one request may ask for, and how the server protects itself."""

    images: int = 256  # decoded images per request (a seed list is counted from its ranges)
    steps: int = 64  # interpolation frames per request
    directions: int = 16  # random directions per request
    terms: int = 8  # arithmetic terms per request
    body_bytes: int = 2 * 1024 * 1024  # a POST body is refused (413) past this, before it is read whole
    body_seconds: float = 10.0  # a body that takes longer to arrive is refused (408)
    max_inflight: int = 64  # requests being answered at once; more get 503 with Retry-After
    max_batch: int = 256  # latents per Generator.decode call when batching
    max_wait_ms: float = 0.0  # how long a decode waits for company (0: batch what queued while the model was busy)
    batching: bool = True  # decode requests that arrive together in one call


class BadRequest(Exception):
    """Answered with `status` (400 unless said) and {"error": message}."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Plan:
    """A validated request that needs images: the latents to decode and how to render the answer."""

    z: np.ndarray  # (N, latent_dim) float32
    render: Callable[[np.ndarray], tuple[str, bytes]]  # uint8 (N, H, W, C) -> (content type, body)


Query = dict[str, list[str]]


class Explorer:
    """The API's logic, independent of HTTP: validate a request, then say what to decode and how to render it."""

    def __init__(self, g: Generator, limits: Limits) -> None:
        self.g, self.limits = g, limits

    # -- parameter helpers
    @staticmethod
    def one(q: Query, name: str, default: str | None = None) -> str:
        values = q.get(name)
        if not values:
            if default is None:
                raise BadRequest(f"missing parameter {name!r}")
            return default
        if len(values) > 1:
            raise BadRequest(f"parameter {name!r} given {len(values)} times")
        return values[0]

    def seeds(self, spec: str, name: str = "seeds", at_least: int = 1) -> list[int]:
        try:
            n = parse.count_seeds(spec)  # from the ranges: nothing is expanded yet
        except ValueError as e:
            raise BadRequest(f"{name} {e}") from None
        if not at_least <= n <= self.limits.images:
            raise BadRequest(f"{name} must name {at_least} to {self.limits.images} seeds, got {n:,}")
        return parse.parse_seeds(spec, self.limits.images)

    def integer(self, q: Query, name: str, default: int, lo: int, hi: int) -> int:
        raw = self.one(q, name, str(default))
        try:
            value = parse.to_int(raw)
        except ValueError:
            raise BadRequest(f"{name} must be an integer, got {raw[:40]!r}") from None
        if not lo <= value <= hi:
            raise BadRequest(f"{name} must be in {lo}..{hi}, got {value}")
        return value

    def grid(self, spec: str, n: int) -> int:
        if not spec:
            return int(np.ceil(np.sqrt(n)))
        try:
            cols, rows = parse.parse_grid(spec, limit=self.limits.images)
        except ValueError as e:
            raise BadRequest(f"grid {e}") from None
        if cols * rows != n:
            raise BadRequest(f"grid {spec} holds {cols * rows} images, not {n}")
        return cols

    def png_grid(self, cols: int) -> Callable[[np.ndarray], tuple[str, bytes]]:
        return lambda images: ("image/png", encode_image(make_grid(images, nrow=cols), fast=True))

    # -- endpoints that need no images
    def info(self) -> dict[str, Any]:
        return {
            "metadata": json.loads(self.g.metadata.to_json()),
            "providers": self.g.providers,
            "requested_providers": self.g.requested_providers,
            "limits": asdict(self.limits),
        }

    def latents(self, q: Query) -> dict[str, Any]:
        return {"latents": self.g.latents(seeds=self.seeds(self.one(q, "seeds"))).tolist()}

    def directions(self, q: Query) -> dict[str, Any]:
        dim = self.g.metadata.latent_dim
        k = self.integer(q, "k", 4, 1, min(self.limits.directions, dim))
        seed = self.integer(q, "seed", 0, 0, MAX_SEED)
        q_mat, _ = np.linalg.qr(np.random.RandomState(seed).standard_normal((dim, k)))  # orthonormal columns
        return {"directions": q_mat.T.astype(np.float32).tolist()}

    # -- endpoints that decode
    def generate(self, q: Query) -> Plan:
        seeds = self.seeds(self.one(q, "seeds", "0-15"))
        return Plan(self.g.latents(seeds=seeds), self.png_grid(self.grid(self.one(q, "grid", ""), len(seeds))))

    def generate_latents(self, body: Any) -> Plan:
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        z = body.get("latents")
        if not isinstance(z, list) or not 1 <= len(z) <= self.limits.images:
            raise BadRequest(f"'latents' must be a list of 1 to {self.limits.images} latent vectors")
        dim = self.g.metadata.latent_dim
        if not all(isinstance(v, list) and len(v) == dim for v in z):
            raise BadRequest(f"each latent must have shape ({dim},): a list of {dim} numbers")
        if not all(isinstance(x, float) for v in z for x in v):  # integers arrive as floats (parse_int)
            raise BadRequest("latents must hold numbers only")
        arr = np.array(z, dtype=np.float64)
        if not np.isfinite(arr).all() or np.abs(arr).max() > np.finfo(np.float32).max:
            raise BadRequest("latents must be finite float32 numbers (no NaN, infinity or |x| > 3.4e38)")
        grid = body.get("grid") or ""
        if not isinstance(grid, str):
            raise BadRequest("'grid' must be a string like 4x1")
        return Plan(arr.astype(np.float32), self.png_grid(self.grid(grid, len(z))))

    def interpolate(self, q: Query) -> Plan:
        seeds = self.seeds(self.one(q, "seeds"), at_least=2)
        if len(seeds) != 2:
            raise BadRequest("seeds must name exactly two seeds, e.g. 3,7")
        steps = self.integer(q, "steps", 16, 2, self.limits.steps)
        method, fmt = self.one(q, "method", "slerp"), self.one(q, "format", "gif")
        if method not in ("slerp", "lerp") or fmt not in ("gif", "png"):
            raise BadRequest("method must be slerp or lerp, and format gif or png")
        z0, z1 = self.g.latents(seeds=seeds)
        path = latent.interpolate(z0, z1, steps, method)
        if fmt == "gif":
            return Plan(path, lambda frames: ("image/gif", encode_gif(frames)))
        return Plan(path, self.png_grid(steps))

    def arithmetic(self, q: Query) -> Plan:
        plus = [self.seeds(s, "plus") for s in q.get("plus", [])]
        minus = [self.seeds(s, "minus") for s in q.get("minus", [])]
        if not plus:
            raise BadRequest("give at least one plus term, e.g. plus=1,2,3")
        if len(plus) + len(minus) > self.limits.terms:
            raise BadRequest(f"at most {self.limits.terms} terms")
        if sum(map(len, plus + minus)) > self.limits.images:
            raise BadRequest(f"the terms name more than {self.limits.images} seeds in all")
        raw = self.one(q, "noise", "0.25")
        try:
            noise = parse.to_float(raw)
        except ValueError:
            raise BadRequest(f"noise must be a number, got {raw[:40]!r}") from None
        if not 0 <= noise <= 2:
            raise BadRequest(f"noise must be in 0..2, got {raw[:40]!r}")
        z = latent.arithmetic(
            plus=[self.g.latents(seeds=s) for s in plus], minus=[self.g.latents(seeds=s) for s in minus]
        )
        order = [1, 2, 3, 4, 0, 5, 6, 7, 8]  # the result in the middle of its 8 neighbours
        grid = self.png_grid(3)
        return Plan(latent.neighbours(z, 8, noise), lambda images: grid(images[order]))
