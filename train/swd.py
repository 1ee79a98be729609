"""The one quality number training itself tracks: the sliced Wasserstein distance (SWD) of samples
against real images, which picks `checkpoints/best.pt`.

Multi-scale SWD on Laplacian-pyramid patches (Karras et al. 2018, ProGAN's sliced_wasserstein.py:
7x7 patches, 128 per image per level, per-set normalisation, 4 x 128 random projections, x1e3 per
level, then averaged). Images are uint8 NCHW numpy arrays; `pixels` makes them from model output.

>>> a = np.random.RandomState(0).randint(0, 256, (64, 3, 32, 32)).astype(np.uint8)
>>> swd(a, a)["mean"]
0.0
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dcgan_runtime.images import to_uint8

_GAUSS5 = np.array([1, 4, 6, 4, 1], np.float32) / 16


def pixels(x: np.ndarray | torch.Tensor) -> np.ndarray:
    """Model output (N, C, H, W) in [-1, 1] -> uint8 NCHW, by the runtime's rounding rule."""
    x = x.float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return np.ascontiguousarray(to_uint8(x).transpose(0, 3, 1, 2))


def _blur(x: torch.Tensor) -> torch.Tensor:
    """Separable 5-tap Gaussian blur, reflect padding, per channel (five shifted adds a pass: ~3x a
    grouped conv2d at these sizes on the CPU)."""
    h, w = x.shape[-2:]
    x = F.pad(x, (2, 2, 2, 2), mode="reflect")
    x = sum(float(k) * x[..., i : i + w] for i, k in enumerate(_GAUSS5))
    return sum(float(k) * x[..., i : i + h, :] for i, k in enumerate(_GAUSS5))


def laplacian_pyramid(images: np.ndarray, min_size: int = 16) -> list[np.ndarray]:
    """Levels from full resolution down to `min_size`: band-pass details, then the coarsest low-pass."""
    x = torch.from_numpy(np.asarray(images, np.float32))
    levels = []
    while x.shape[-1] > min_size:
        down = _blur(x)[..., ::2, ::2]
        up = _blur(F.interpolate(down, scale_factor=2, mode="nearest"))
        levels.append((x - up).numpy())
        x = down
    levels.append(x.numpy())
    return levels


def _descriptors(level: np.ndarray, per_image: int, rng: np.random.RandomState, size: int = 7) -> np.ndarray:
    n, c, h, w = level.shape
    ys = rng.randint(0, h - size + 1, (n, per_image))
    xs = rng.randint(0, w - size + 1, (n, per_image))
    idx = np.arange(size)
    patches = level[
        np.arange(n)[:, None, None, None], :, (ys[..., None] + idx)[..., None], (xs[..., None] + idx)[:, :, None, :]
    ]  # (n, per_image, size, size, c)
    d = patches.reshape(n * per_image, size, size, c).transpose(0, 3, 1, 2)
    d = d - d.mean(axis=(0, 2, 3), keepdims=True)  # per-set normalisation, per channel
    d = d / (d.std(axis=(0, 2, 3), keepdims=True) + 1e-8)
    return d.reshape(len(d), -1)


def _sliced_wasserstein(
    a: np.ndarray, b: np.ndarray, rng: np.random.RandomState, repeats: int = 4, dirs: int = 128
) -> float:
    results = []
    for _ in range(repeats):
        d = rng.standard_normal((a.shape[1], dirs)).astype(np.float32)
        d /= np.linalg.norm(d, axis=0, keepdims=True)
        # one contiguous row of projections per direction, sorted in place (numpy's SIMD sort: ~8x torch's)
        pa, pb = d.T @ a.T, d.T @ b.T
        pa.sort(axis=1)
        pb.sort(axis=1)
        results.append(float(np.abs(pa - pb).mean()))
    return float(np.mean(results))


def swd(a: np.ndarray, b: np.ndarray, per_image: int = 128, seed: int = 0) -> dict:
    """Sliced Wasserstein distance between two equally sized uint8 image sets, x1e3 per pyramid level."""
    if a.shape != b.shape:
        raise ValueError(f"the two sets must have the same shape, got {a.shape} and {b.shape}")
    per_level = []
    for level, (la, lb) in enumerate(zip(laplacian_pyramid(a), laplacian_pyramid(b))):
        # the same patch positions in both sets (identical sets give exactly 0), fresh ones per level
        da = _descriptors(la, per_image, np.random.RandomState([seed, level]))
        db = _descriptors(lb, per_image, np.random.RandomState([seed, level]))
        per_level.append(round(1e3 * _sliced_wasserstein(da, db, np.random.RandomState([seed, level, 1])), 3))
    return {"per_level": per_level, "mean": round(float(np.mean(per_level)), 3)}
