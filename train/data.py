"""Training data: image folders, IDX files (MNIST / Fashion-MNIST) and the built-in toy faces.

Every source becomes one in-memory uint8 tensor (N, C, H, W) at the configured size and channels;
`to_model_range` maps a batch to [-1, 1] on the device.

>>> ds = load_dataset("toyfaces", image_size=32, channels=1, num_images=8)
>>> tuple(ds.images.shape), ds.name
((8, 1, 32, 32), 'toyfaces')
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from dcgan_runtime.files import not_a_file
from train.toyfaces import make_toyfaces

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
BACKGROUND = (255, 255, 255)  # transparent pixels are composited onto this
MAX_PIXELS = 6000 * 6000  # an image file larger than this (after JPEG draft decoding) is skipped, not decoded
MAX_SIDE = 4096  # IDX images: at most this many pixels a side
MAX_IDX_BYTES = 512 * 2**20  # IDX files: at most this much pixel data (Fashion-MNIST's training set is 47 MB)


class DataError(ValueError):
    """The data set cannot be used: missing, empty, or in a format we do not read."""


@dataclass
class Dataset:
    images: torch.Tensor  # uint8 (N, C, H, W)
    name: str  # "toyfaces", or the folder / file name
    skipped: int = 0  # files that could not be read
    upscaled: int = 0  # images whose source's shorter side was at most half the training size

    def __len__(self) -> int:
        return self.images.shape[0]


def to_model_range(batch: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return batch.float().div_(127.5).sub_(1.0)


def load_dataset(data: str, image_size: int, channels: int, num_images: int = 20_000, seed: int = 0) -> Dataset:
    """Load `data`: "toyfaces", a folder of images, or an IDX file or folder of them."""
    if data == "toyfaces":
        faces = make_toyfaces(num_images, seed, image_size, channels)
        return Dataset(torch.from_numpy(faces.images).permute(0, 3, 1, 2).contiguous(), "toyfaces")
    path = Path(data)
    if not path.exists():
        raise DataError(f"data path {str(path)!r} does not exist: pass an image folder, an IDX file, or 'toyfaces'")
    idx_files = _idx_image_files(path)
    if idx_files:
        arrays = [read_idx(f) for f in idx_files]
        return Dataset(fit_grey(np.concatenate(arrays), image_size, channels), path.name)
    if path.is_file():
        raise DataError(f"{str(path)!r} is neither an IDX file nor a folder of images")
    return _load_folder(path, image_size, channels)


# ---------------------------------------------------------------- image folders


def _find_images(root: Path) -> list[Path]:
    """Image-named files under root. Folder symlinks are not followed (no loops); every name is
    returned, and `load_image` refuses what is not a regular file (a FIFO would block forever)."""
    found = []
    for dirpath, _dirs, files in os.walk(root, followlinks=False):
        found += [Path(dirpath, f) for f in files if f.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(found)


def load_image(path: Path, image_size: int, channels: int) -> np.ndarray:
    """One image file -> uint8 (C, H, W) as a viewer shows it: first frame, EXIF orientation applied,
    transparency (an alpha channel or a transparent colour key) over BACKGROUND, centre crop, resize.

    Raises OSError for what is not a readable regular file, and ValueError for images of more than
    MAX_PIXELS pixels (checked from the header, before decoding; JPEGs decode at a reduced scale
    first). 16-bit grey images are scaled to 8 bits, not clipped.
    """
    return decode_image(path, image_size, channels)[0]


def decode_image(path: Path, image_size: int, channels: int) -> tuple[np.ndarray, int]:
    """`load_image`'s pixels, and the shorter side of the source it cropped (before any resize)."""
    if (what := not_a_file(path)) is not None:  # follows file symlinks; a FIFO would block forever
        raise OSError(what)
    with Image.open(path) as im:
        im.seek(0)
        im.draft("L" if channels == 1 else "RGB", (image_size, image_size))  # JPEG: decode at 1/2..1/8 scale
        if im.size[0] * im.size[1] > MAX_PIXELS:
            raise ValueError(
                f"{im.size[0]}x{im.size[1]} pixels is more than the {MAX_PIXELS:,} this loader decodes: shrink the file"
            )
        im.load()
        im = ImageOps.exif_transpose(im)  # as a viewer shows it: photos carry their rotation in EXIF
        keyed = "transparency" in im.info  # a transparent colour (palette, grey or RGB), not an alpha channel
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey: scale to 8 bits
            key = im.info.get("transparency")
            im = Image.fromarray((np.asarray(im, dtype=np.uint32) // 257).clip(0, 255).astype(np.uint8))
            if isinstance(key, int):
                im.info["transparency"] = key // 257
        if im.mode == "P" or im.mode in ("LA", "PA", "RGBa", "La") or (keyed and im.mode in ("L", "RGB")):
            im = im.convert("RGBA")
        if im.mode == "RGBA":
            canvas = Image.new("RGB", im.size, BACKGROUND)
            canvas.paste(im, mask=im.getchannel("A"))
            im = canvas
        im = im.convert("L" if channels == 1 else "RGB")
        w, h = im.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        im = im.crop((left, top, left + side, top + side))
        if side != image_size:
            im = im.resize((image_size, image_size), Image.Resampling.LANCZOS, reducing_gap=3.0)
        return np.asarray(im).reshape(image_size, image_size, channels).transpose(2, 0, 1), side


def _load_folder(root: Path, image_size: int, channels: int) -> Dataset:
    """Decode every image straight into one preallocated uint8 array (one copy of the pixels, no
    list-then-stack), after checking that the array fits in the memory available."""
    files = _find_images(root)
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {str(root)!r}")
    need = len(files) * channels * image_size**2
    have = memory_available()
    if have is not None and need > 0.8 * have:
        raise DataError(
            f"the {len(files):,} images under {str(root)!r} decode to {need / 2**30:.1f} GiB at --image-size "
            f"{image_size}, more than the {0.8 * have / 2**30:.1f} GiB of memory this run can use (80% of what "
            "is available): train at a smaller --image-size, or on a subset of the folder"
        )
    images = np.empty((len(files), channels, image_size, image_size), np.uint8)
    small = np.zeros(len(files), bool)

    def read(i: int) -> str | None:
        try:
            images[i], side = decode_image(files[i], image_size, channels)
            small[i] = 2 * side <= image_size
            return None
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:  # truncated, empty, not an image
            return f"{files[i]}: {type(e).__name__}: {e}"

    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) * 2)) as pool:
        results = list(pool.map(read, range(len(files))))
    errors = [r for r in results if r is not None]
    if errors:
        warnings.warn(
            f"skipped {len(errors)} of {len(files)} files that could not be read as images (first: {errors[0]})",
            stacklevel=2,
        )
    if len(errors) == len(files):
        raise DataError(f"none of the {len(files)} image files under {str(root)!r} could be read")
    kept = 0
    for i, r in enumerate(results):  # close the gaps in place: still one copy
        if r is None:
            if i != kept:
                images[kept] = images[i]
            kept += 1
    upscaled = int(sum(small[i] for i, r in enumerate(results) if r is None))
    return Dataset(torch.from_numpy(images[:kept]), root.name, skipped=len(errors), upscaled=upscaled)


def memory_available() -> int | None:
    """MemAvailable from /proc/meminfo, in bytes (None where the system has no such file)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


# ---------------------------------------------------------------- IDX (MNIST format)


def _idx_image_files(path: Path) -> list[Path]:
    """IDX image files at `path`: the file itself, or a folder's `train-images*` (else every `*images*`)."""
    if path.is_file():
        return [path] if _is_idx(path) else []
    cands = sorted(p for p in path.iterdir() if "images" in p.name and "idx3" in p.name)
    train = [p for p in cands if p.name.startswith("train")]
    return train or cands


def _open_maybe_gzip(path: Path):
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def _is_idx(path: Path) -> bool:
    try:
        with _open_maybe_gzip(path) as f:
            head = f.read(4)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DataError(f"{str(path)!r} is a damaged gzip file ({type(e).__name__}: {e}): download it again") from None
    except OSError:
        return False
    return len(head) == 4 and head[:3] == b"\x00\x00\x08" and head[3] == 3


def read_idx(path: Path, ndim: int = 3) -> np.ndarray:
    """An IDX file of unsigned bytes: images (N, rows, cols) with ndim=3, labels (N,) with ndim=1.

    The header's sizes are checked (each at least 1, images at most MAX_SIDE a side, MAX_IDX_BYTES in
    all) before anything is read, and exactly the declared bytes are read: a file that declares more
    than it holds is called truncated without allocating what it declared.
    """
    try:
        with _open_maybe_gzip(path) as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[:3] != b"\x00\x00\x08" or magic[3] != ndim:
                raise DataError(f"{str(path)!r} is not an IDX file of unsigned bytes with {ndim} dimension(s)")
            header = f.read(4 * ndim)
            if len(header) < 4 * ndim:
                raise DataError(f"{str(path)!r} is truncated inside its header")
            dims = struct.unpack(f">{ndim}I", header)
            size = math.prod(dims)
            if min(dims) < 1 or (ndim == 3 and max(dims[1:]) > MAX_SIDE) or size > MAX_IDX_BYTES:
                raise DataError(
                    f"{str(path)!r} declares {dims}: every size must be at least 1, images at most "
                    f"{MAX_SIDE} pixels a side and {MAX_IDX_BYTES // 2**20} MiB in all (split larger sets)"
                )
            data = f.read(size)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DataError(f"{str(path)!r} is a damaged gzip file ({type(e).__name__}: {e}): download it again") from None
    if len(data) != size:
        raise DataError(f"{str(path)!r} is truncated: header says {dims}, found {len(data)} bytes of pixels")
    return np.frombuffer(data, np.uint8).reshape(dims)


def fit_grey(images: np.ndarray, image_size: int, channels: int) -> torch.Tensor:
    """(N, h, w) grey -> (N, C, size, size): pad when at most 4 px short (28 -> 32), else resize."""
    n, h, w = images.shape
    t = torch.from_numpy(images.copy()).unsqueeze(1)
    if 0 <= image_size - h <= 4 and 0 <= image_size - w <= 4:
        top, left = (image_size - h) // 2, (image_size - w) // 2
        t = torch.nn.functional.pad(t, (left, image_size - w - left, top, image_size - h - top))
    else:
        t = (
            torch.nn.functional.interpolate(
                t.float(), size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False
            )
            .round_()
            .clamp_(0, 255)
            .to(torch.uint8)
        )
    return t.expand(n, channels, image_size, image_size).contiguous()
