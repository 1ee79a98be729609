"""Image-quality metrics that need no downloaded network.

- `swd`: multi-scale sliced Wasserstein distance (lives in `train.swd`: training tracks it too).
- `ms_ssim_diversity`: mean MS-SSIM over random pairs of one set (lower: more diverse).
- `frechet_distance`, `precision_recall`: on features of any extractor (Kynkaanniemi et al. 2019, k=3).
- `nearest_neighbour_distances`: for the memorisation check.

Images are uint8 NCHW numpy arrays throughout.

>>> a = np.random.RandomState(0).randint(0, 256, (64, 3, 32, 32)).astype(np.uint8)
>>> swd(a, a)["mean"]
0.0
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from train.swd import swd

__all__ = ["frechet_distance", "ms_ssim", "ms_ssim_diversity", "nearest_neighbour_distances", "precision_recall", "swd"]

# ---------------------------------------------------------------- MS-SSIM

_MS_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])


def _gauss_window(size: int = 7, sigma: float = 1.5) -> torch.Tensor:
    g = np.exp(-((np.arange(size) - size // 2) ** 2) / (2 * sigma**2))
    g /= g.sum()
    return torch.from_numpy(np.outer(g, g).astype(np.float32))


def ms_ssim(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """MS-SSIM of each pair (x[i], y[i]), uint8 NCHW. Scales: halve while the image is at least 8 px
    (3 at 32x32, 4 at 64x64), with the standard weights of the first scales renormalised; 7x7 window."""
    a, b = (torch.from_numpy(np.asarray(v, np.float32)) for v in (x, y))
    c = a.shape[1]
    win = _gauss_window().expand(c, 1, 7, 7)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    scales = max(1, min(5, int(np.log2(a.shape[-1] / 8)) + 1))
    weights = _MS_WEIGHTS[:scales] / _MS_WEIGHTS[:scales].sum()
    out = torch.ones(a.shape[0], dtype=torch.float64)
    for s in range(scales):
        mu_a, mu_b = F.conv2d(a, win, groups=c), F.conv2d(b, win, groups=c)
        var_a = F.conv2d(a * a, win, groups=c) - mu_a**2
        var_b = F.conv2d(b * b, win, groups=c) - mu_b**2
        cov = F.conv2d(a * b, win, groups=c) - mu_a * mu_b
        cs = ((2 * cov + c2) / (var_a + var_b + c2)).mean(dim=(1, 2, 3)).clamp(min=0).double()
        if s == scales - 1:
            lum = ((2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1)).mean(dim=(1, 2, 3)).clamp(min=0).double()
            out *= (lum * cs) ** weights[s]
        else:
            out *= cs ** weights[s]
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    return out.numpy()


def ms_ssim_diversity(images: np.ndarray, pairs: int = 1000, seed: int = 0) -> float:
    """Mean MS-SSIM over random distinct pairs of one set: about 0 for unrelated images, 1 for copies."""
    rng = np.random.RandomState(seed)
    i = rng.randint(0, len(images), pairs)
    j = (i + rng.randint(1, len(images), pairs)) % len(images)
    return round(float(ms_ssim(images[i], images[j]).mean()), 4)


# ---------------------------------------------------------------- feature-space metrics


def frechet_distance(f1: np.ndarray, f2: np.ndarray) -> float:
    """|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2), computed with symmetric eigendecompositions."""
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(w.clip(0))) @ v.T
    cross = np.linalg.eigvalsh(root1 @ s2 @ root1).clip(0)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(cross).sum())


def _kth_radius(f: torch.Tensor, k: int) -> torch.Tensor:
    d = torch.cdist(f, f)
    return d.kthvalue(k + 1, dim=1).values  # +1: the point itself is at distance 0


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> dict:
    """Improved precision (fakes inside the real manifold) and recall (reals inside the fake manifold),
    each manifold the union of k-nearest-neighbour balls (Kynkaanniemi et al. 2019)."""
    r, f = torch.from_numpy(np.asarray(real, np.float32)), torch.from_numpy(np.asarray(fake, np.float32))
    rr, rf = _kth_radius(r, k), _kth_radius(f, k)
    precision = (torch.cdist(f, r) <= rr[None]).any(dim=1).float().mean().item()
    recall = (torch.cdist(r, f) <= rf[None]).any(dim=1).float().mean().item()
    return {"precision": round(precision, 4), "recall": round(recall, 4)}


def nearest_neighbour_distances(queries: np.ndarray, pool: np.ndarray, chunk: int = 512) -> np.ndarray:
    """L2 distance (pixels scaled to [0, 1], per pixel RMS) from each query image to its nearest in `pool`."""
    # float64: cdist's matrix-product formula would blur small distances in float32
    q = torch.from_numpy(np.asarray(queries, np.float64).reshape(len(queries), -1) / 255)
    p = torch.from_numpy(np.asarray(pool, np.float64).reshape(len(pool), -1) / 255)
    best = torch.full((len(q),), float("inf"))
    for i in range(0, len(p), chunk * 8):
        best = torch.minimum(best, torch.cdist(q, p[i : i + chunk * 8]).min(dim=1).values)
    return (best / np.sqrt(q.shape[1])).float().numpy()
