"""Latent-space math in pure numpy: seeds, interpolation, concept averaging and arithmetic.

>>> z = latents_from_seeds([0, 1], 4)
>>> z.shape, z.dtype
((2, 4), dtype('float32'))
>>> path = interpolate(z[0], z[1], steps=5)
>>> bool(np.allclose(path[0], z[0]) and np.allclose(path[-1], z[1]))
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MAX_SEED = 2**32 - 1
MAX_N = 1_000_000  # latents per call: 1M 64x64 RGB images are 12 GB; loop over seed ranges for more
MAX_NOISE = 10.0  # the neighbours' noise std (latents are N(0, 1): 10 is far past any use)


def check_count(value: object, name: str, low: int, high: int = MAX_N) -> int:
    """An integer count in low..high, or ValueError naming it (never numpy's own message)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in {low}..{high:,}, got {value!r}")
    return int(value)


def check_seed(seed: object) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"a seed must be an integer in 0..{MAX_SEED}, got {seed!r}")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed {seed} is outside 0..{MAX_SEED}")
    return int(seed)


def latents_from_seed(n: int, seed: int, dim: int) -> np.ndarray:
    """(n, dim) float32 from one `RandomState(seed)` draw; row 0 equals `latents_from_seeds([seed])`."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if n > MAX_N:
        raise ValueError(f"n={n:,} is more than {MAX_N:,} images per call: generate in chunks of seeds")
    return np.random.RandomState(check_seed(seed)).standard_normal((int(n), dim)).astype(np.float32)


def latents_from_seeds(seeds: Sequence[int], dim: int) -> np.ndarray:
    """(len(seeds), dim) float32, one `RandomState(seed).standard_normal(dim)` per seed."""
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise ValueError(f"seeds must be a sequence of integers, got {seeds!r}")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must not be empty")
    if len(seeds) > MAX_N:
        raise ValueError(f"{len(seeds):,} seeds is more than {MAX_N:,} images per call: generate in chunks")
    return np.stack([np.random.RandomState(check_seed(s)).standard_normal(dim) for s in seeds]).astype(np.float32)


def check_latents(z: object, dim: int) -> np.ndarray:
    """Accept (N, dim) or (N, dim, 1, 1) real floats, finite in float32; return (N, dim) float32."""
    if isinstance(z, (str, bytes)):
        raise ValueError(f"latents must be an array of floats, got {type(z).__name__}")
    z = np.asarray(z)
    if z.dtype.kind != "f":
        raise ValueError(f"latents must be floating point, got dtype {z.dtype}")
    if z.ndim == 4 and z.shape[2:] == (1, 1):
        z = z.reshape(z.shape[:2])
    if z.ndim == 1 and z.shape[0] == dim:
        z = z[None]
    if z.ndim != 2 or z.shape[1] != dim or z.shape[0] == 0:
        raise ValueError(f"latents must have shape (N, {dim}) or (N, {dim}, 1, 1) with N >= 1, got {z.shape}")
    if len(z) > MAX_N:
        raise ValueError(f"{len(z):,} latents is more than {MAX_N:,} per call: decode them in chunks")
    if not np.isfinite(z).all():
        raise ValueError("latents contain NaN or infinite values")
    with np.errstate(over="ignore"):
        z32 = np.ascontiguousarray(z, dtype=np.float32)
    if not np.isfinite(z32).all():
        raise ValueError(f"latents exceed float32's range (|z| > {np.finfo(np.float32).max:.2e}); the model is float32")
    return z32


def lerp(z0: np.ndarray, z1: np.ndarray, t: np.ndarray) -> np.ndarray:
    t = np.asarray(t, np.float64)[:, None]
    return ((1 - t) * z0 + t * z1).astype(np.float32)


def slerp(z0: np.ndarray, z1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation of direction and linear interpolation of length.

    A Gaussian latent's norm concentrates near sqrt(dim); a straight line between two such
    points dips toward the origin where the generator has seen few latents. Walking the great
    circle keeps each point's norm between the endpoints' norms.
    """
    t = np.asarray(t, np.float64)[:, None]
    a, b = z0.astype(np.float64), z1.astype(np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    ua, ub = a / na, b / nb
    omega = np.arccos(np.clip(ua @ ub, -1.0, 1.0))
    if omega < 1e-6:  # (anti)parallel: nothing to rotate
        return lerp(z0, z1, t[:, 0])
    direction = (np.sin((1 - t) * omega) * ua + np.sin(t * omega) * ub) / np.sin(omega)
    return (direction * ((1 - t) * na + t * nb)).astype(np.float32)


def interpolate(z0: np.ndarray, z1: np.ndarray, steps: int = 16, method: str = "slerp") -> np.ndarray:
    """(steps, dim) from z0 to z1, endpoints included."""
    steps = check_count(steps, "steps (the endpoints are included)", 2)
    if method not in ("slerp", "lerp"):
        raise ValueError(f"method must be 'slerp' or 'lerp', got {method!r}")
    z0, z1 = np.asarray(z0, np.float32).reshape(-1), np.asarray(z1, np.float32).reshape(-1)
    if z0.shape != z1.shape:
        raise ValueError(f"endpoints differ in shape: {z0.shape} vs {z1.shape}")
    t = np.linspace(0.0, 1.0, steps)
    return (slerp if method == "slerp" else lerp)(z0, z1, t)


def concept(samples: np.ndarray) -> np.ndarray:
    """A concept's latent: the mean of its exemplars (k, dim) -> (dim,), as in the paper (k=3)."""
    samples = np.asarray(samples, np.float32)
    if samples.ndim == 1:
        return samples
    if samples.ndim != 2 or samples.shape[0] == 0:
        raise ValueError(f"a concept is (k, dim) exemplar latents with k >= 1, got shape {samples.shape}")
    return samples.mean(axis=0)


def arithmetic(plus: Sequence[np.ndarray], minus: Sequence[np.ndarray] = ()) -> np.ndarray:
    """sum(mean(p) for p in plus) - sum(mean(m) for m in minus), shape (dim,).

    >>> a, b, c = np.eye(3, dtype=np.float32)
    >>> arithmetic(plus=[[a, a], [c]], minus=[[b]]).tolist()
    [1.0, -1.0, 1.0]
    """
    if not plus:
        raise ValueError("arithmetic needs at least one term in plus")
    terms = [concept(p) for p in plus] + [-concept(m) for m in minus]
    if len({t.shape for t in terms}) != 1:
        raise ValueError(f"terms differ in latent size: {[t.shape for t in terms]}")
    return np.sum(terms, axis=0).astype(np.float32)


def neighbours(z: np.ndarray, k: int = 8, scale: float = 0.25, seed: int = 0) -> np.ndarray:
    """z plus k copies with small Gaussian noise (the paper's 'result plus 8 neighbours'): (k+1, dim)."""
    k = check_count(k, "neighbours", 0, MAX_N - 1)
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.floating)) or not 0 <= scale <= MAX_NOISE:
        raise ValueError(f"noise must be a number from 0 to {MAX_NOISE:g}, got {scale!r}")
    z = np.asarray(z, np.float32).reshape(-1)
    noise = np.random.RandomState(check_seed(seed)).standard_normal((k, z.shape[0])) * scale
    return np.concatenate([z[None], z[None] + noise.astype(np.float32)])


def walk(z: np.ndarray, steps: int = 16, method: str = "slerp") -> np.ndarray:
    """The latents of a walk through the rows of `z`: from the first to the second for two rows, a closed loop
    through all of them (back to the first, no frame repeated at the joins) for more. `steps` frames per leg,
    endpoints included.

    >>> walk(latents_from_seeds([1, 2], 4), steps=5).shape, walk(latents_from_seeds([1, 2, 3], 4), steps=5).shape
    ((5, 4), (12, 4))
    """
    if len(z) < 2:
        raise ValueError(f"a walk needs at least two latents, got {len(z)}")
    loop = len(z) > 2
    points = np.concatenate([z, z[:1]]) if loop else z
    legs = [interpolate(points[i], points[i + 1], steps, method) for i in range(len(points) - 1)]
    frames = np.concatenate([legs[0]] + [leg[1:] for leg in legs[1:]])
    return frames[:-1] if loop else frames
