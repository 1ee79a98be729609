"""Images out: float NCHW -> uint8 NHWC, grids, PNG and GIF bytes, saved atomically.

>>> imgs = to_uint8(np.zeros((2, 3, 4, 4), np.float32))
>>> imgs.shape, int(imgs[0, 0, 0, 0])
((2, 4, 4, 3), 128)
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from dcgan_runtime.files import atomic_write

MIN_FPS, MAX_FPS = 0.02, 100.0  # GIF frame times from 50 s down to 10 ms
MAX_SIDE = {"JPEG": 65_500, "WEBP": 16_383, "GIF": 65_535, "PNG": 1 << 20}  # pixels a side each format takes
GRID_PADDING = 2  # pixels between the images of a grid


def grid_shape(n: int, size: int, nrow: int, padding: int = GRID_PADDING) -> tuple[int, int]:
    """(width, height) in pixels of `make_grid` over n images of size x size, nrow per row."""
    cols = max(1, min(nrow, n))
    rows = -(-n // cols)
    return cols * (size + padding) + padding, rows * (size + padding) + padding


def image_format(path: str | os.PathLike[str]) -> str:
    """Pillow's format name for the path's suffix (.png, .jpg, .webp, .gif), or ValueError."""
    fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    if fmt not in MAX_SIDE:
        raise ValueError(f"unknown image suffix in {str(path)!r}: use .png, .jpg or .webp")
    return fmt


def check_canvas(width: int, height: int, path: str | os.PathLike[str]) -> None:
    """Refuse (ValueError) a picture larger than its file format allows, before anything is drawn."""
    fmt = image_format(path)
    if max(width, height) > MAX_SIDE[fmt]:
        raise ValueError(
            f"a {width:,} x {height:,} pixel picture is larger than {fmt} allows ({MAX_SIDE[fmt]:,} pixels a "
            f"side): use fewer images per row or column{', or .png' if fmt != 'PNG' else ''}"
        )


def to_uint8(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> uint8 (N, H, W, C), rounding to the nearest grey level.

    The project's one float-to-pixel rule: training's sample grids and SWD use it too.
    """
    return np.clip(np.rint((x.astype(np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def to_pil(images: np.ndarray) -> list[Image.Image]:
    """uint8 (N, H, W, C) -> N `PIL.Image`s: mode "L" for one channel, "RGB" for three.

    >>> [im.mode for im in to_pil(np.zeros((2, 4, 4, 1), np.uint8))]
    ['L', 'L']
    """
    return [_to_pil(image) for image in _check_images(images)]


def make_grid(images: np.ndarray, nrow: int = 8, padding: int = GRID_PADDING, fill: int = 255) -> np.ndarray:
    """uint8 (N, H, W, C) -> one uint8 (H', W', C) image with `nrow` images per row."""
    images = _check_images(images)
    n, h, w, c = images.shape
    cols = max(1, min(nrow, n))
    rows = -(-n // cols)
    grid = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding, c), fill, np.uint8)
    for i, img in enumerate(images):
        r, q = divmod(i, cols)
        y, x = padding + r * (h + padding), padding + q * (w + padding)
        grid[y : y + h, x : x + w] = img
    return grid


def encode_image(image: np.ndarray, fmt: str = "PNG", fast: bool = False) -> bytes:
    """One uint8 (H, W, C) image as the bytes of a PNG (or another Pillow format).

    `fast`: PNG at zlib level 1 instead of 6, about 4x quicker to encode for 20% more bytes (what a
    server answering on loopback or a LAN wants; files on disk keep the default).
    """
    buf = io.BytesIO()
    _to_pil(image).save(buf, format=fmt, **({"compress_level": 1} if fast and fmt == "PNG" else {}))
    return buf.getvalue()


def encode_gif(frames: np.ndarray | Sequence[np.ndarray], fps: float = 12.0, loop: bool = True) -> bytes:
    """uint8 frames (N, H, W, C) as the bytes of an animated GIF, every frame kept."""
    frames = _check_images(np.asarray(frames))
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS):
        raise ValueError(
            f"fps must be a number from {MIN_FPS:g} to {MAX_FPS:g} (frame times from 10 ms to 50 s), got {fps!r}"
        )
    pil = [_to_pil(f) for f in frames]
    buf = io.BytesIO()
    pil[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=pil[1:],
        duration=round(1000 / fps),
        loop=0 if loop else None,
        disposal=1,
        optimize=False,
    )
    return buf.getvalue()


def save_image(image: np.ndarray, path: str | os.PathLike[str], force: bool = True) -> Path:
    """One uint8 (H, W, C) image; the format follows the suffix (.png, .jpg, .webp)."""
    check_canvas(image.shape[1], image.shape[0], path)
    data = encode_image(image, image_format(path))
    return atomic_write(path, data, overwrite=force)


def save_grid(
    images: np.ndarray, path: str | os.PathLike[str], nrow: int = 8, padding: int = GRID_PADDING, force: bool = True
) -> Path:
    """Save uint8 (N, H, W, C) images as one grid picture.

    >>> import tempfile
    >>> p = save_grid(np.zeros((4, 8, 8, 3), np.uint8), tempfile.mkdtemp() + "/g.png", nrow=2)
    >>> Image.open(p).size
    (22, 22)
    """
    return save_image(make_grid(images, nrow, padding), path, force)


def save_gif(
    frames: np.ndarray | Sequence[np.ndarray],
    path: str | os.PathLike[str],
    fps: float = 12.0,
    loop: bool = True,
    force: bool = True,
) -> Path:
    """Save uint8 frames (N, H, W, C) as an animated GIF, every frame kept."""
    data = encode_gif(frames, fps, loop)
    return atomic_write(path, data, overwrite=force)


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3) or len(images) == 0:
        raise ValueError(f"expected uint8 images (N, H, W, 1 or 3) with N >= 1, got {images.dtype} {images.shape}")
    return images


def _to_pil(image: np.ndarray) -> Image.Image:
    return Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
