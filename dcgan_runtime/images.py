"""Images out: float NCHW -> uint8 NHWC, grids, GIFs, atomic writes.

>>> imgs = to_uint8(np.zeros((2, 3, 4, 4), np.float32))
>>> imgs.shape, int(imgs[0, 0, 0, 0])
((2, 4, 4, 3), 128)
"""
from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image


def to_uint8(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> uint8 (N, H, W, C), rounding to the nearest grey level."""
    return np.clip(np.rint((x.astype(np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def parse_grid(spec: str) -> tuple[int, int]:
    """'8x4' -> (8 columns, 4 rows)."""
    try:
        cols, rows = (int(v) for v in spec.lower().split("x"))
    except ValueError:
        raise ValueError(f"grid must look like COLSxROWS, e.g. 8x8; got {spec!r}") from None
    if cols < 1 or rows < 1:
        raise ValueError(f"grid needs at least 1x1, got {spec!r}")
    return cols, rows


def make_grid(images: np.ndarray, nrow: int = 8, padding: int = 2, fill: int = 255) -> np.ndarray:
    """uint8 (N, H, W, C) -> one uint8 (H', W', C) image with `nrow` images per row."""
    images = _check_images(images)
    n, h, w, c = images.shape
    cols = max(1, min(nrow, n))
    rows = -(-n // cols)
    grid = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding, c), fill, np.uint8)
    for i, img in enumerate(images):
        r, q = divmod(i, cols)
        y, x = padding + r * (h + padding), padding + q * (w + padding)
        grid[y:y + h, x:x + w] = img
    return grid


def atomic_save(path: str | os.PathLike, write: Callable[[object], None], force: bool = True) -> Path:
    """Write through a temp file in the same folder, then rename: no half-written file is ever seen."""
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{str(path)!r} exists: pass force=True (--force) to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def encode_image(image: np.ndarray, fmt: str = "PNG") -> bytes:
    """One uint8 (H, W, C) image as the bytes of a PNG (or another Pillow format)."""
    buf = io.BytesIO()
    _to_pil(image).save(buf, format=fmt)
    return buf.getvalue()


def encode_gif(frames: np.ndarray | Sequence[np.ndarray], fps: float = 12.0, loop: bool = True) -> bytes:
    """uint8 frames (N, H, W, C) as the bytes of an animated GIF, every frame kept."""
    frames = _check_images(np.asarray(frames))
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    pil = [_to_pil(f) for f in frames]
    buf = io.BytesIO()
    pil[0].save(buf, format="GIF", save_all=True, append_images=pil[1:], duration=round(1000 / fps),
                loop=0 if loop else None, disposal=1, optimize=False)
    return buf.getvalue()


def save_image(image: np.ndarray, path: str | os.PathLike, force: bool = True) -> Path:
    """One uint8 (H, W, C) image; the format follows the suffix (.png, .jpg, .webp)."""
    fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(f"unknown image suffix in {str(path)!r}: use .png, .jpg or .webp")
    data = encode_image(image, fmt)
    return atomic_save(path, lambda f: f.write(data), force)


def save_grid(images: np.ndarray, path: str | os.PathLike, nrow: int = 8, padding: int = 2, force: bool = True) -> Path:
    """Save uint8 (N, H, W, C) images as one grid picture.

    >>> p = save_grid(np.zeros((4, 8, 8, 3), np.uint8), tempfile.mkdtemp() + "/g.png", nrow=2)
    >>> Image.open(p).size
    (22, 22)
    """
    return save_image(make_grid(images, nrow, padding), path, force)


def save_gif(frames: np.ndarray | Sequence[np.ndarray], path: str | os.PathLike, fps: float = 12.0,
             loop: bool = True, force: bool = True) -> Path:
    """Save uint8 frames (N, H, W, C) as an animated GIF, every frame kept."""
    data = encode_gif(frames, fps, loop)
    return atomic_save(path, lambda f: f.write(data), force)


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3) or len(images) == 0:
        raise ValueError(f"expected uint8 images (N, H, W, 1 or 3) with N >= 1, got {images.dtype} {images.shape}")
    return images


def _to_pil(image: np.ndarray) -> Image.Image:
    return Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
