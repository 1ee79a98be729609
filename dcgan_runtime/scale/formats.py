"""Shard formats, one entry each in FORMATS: a new format is a writer and one entry (its name, its layout in
the manifest, whether a shard is one file or a folder, and the extra it needs, checked before anything
is written). Every writer is deterministic: equal seeds give equal bytes.

>>> sorted(FORMATS), FORMATS["tar"].shard_name(7)
(['npy', 'parquet', 'png', 'tar'], 'shard-00007.tar')
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from dcgan_runtime.engine.protocol import Decoder
from dcgan_runtime.errors import first_line
from dcgan_runtime.files import atomic_write, fsync_dir, umask
from dcgan_runtime.images import encode_image

ENCODERS = min(4, os.cpu_count() or 1)  # threads encoding PNGs while the model decodes
Writer = Callable[[IO[bytes], Decoder, list[int], int], None]  # (file, generator, seeds, batch size)


def seed_name(seed: int) -> str:
    """seed0042.png: at least four digits, as StyleGAN's gen_images.py names them."""
    return f"seed{seed:04d}.png"


@dataclass(frozen=True)
class Format:
    name: str
    layout: str  # how a shard is laid out, as the manifest states it
    write_file: Writer | None  # a shard is one file written by this (None: a folder of seedSSSS.png)
    check_file: Callable[[Path, list[int], tuple[int, ...]], str | None]  # a shard's own check: what is wrong, or None
    needs: Callable[[], object] | None = None  # raises ValueError saying what to install when its extra is missing

    def shard_name(self, shard: int) -> str:
        return f"{shard:05d}" if self.write_file is None else f"shard-{shard:05d}.{self.name}"

    def check_installed(self) -> None:
        if self.needs is not None:
            self.needs()

    def check(self, target: Path, seeds: list[int], image_shape: tuple[int, ...]) -> str | None:
        """Whether the shard at `target` is whole: what is wrong with it (truncated, garbage, other seeds), or None.
        Cheap: headers, names and sizes, never a decode of every image."""
        try:
            return self.check_file(target, seeds, image_shape)
        except Exception as e:  # tarfile, numpy and pyarrow each raise their own types for a damaged file
            return f"unreadable ({type(e).__name__}: {str(e).strip()[:80]})"

    def write(self, g: Decoder, seeds: list[int], target: Path, batch_size: int) -> None:
        """The shard for `seeds` at `target`, atomically: complete under its name, or not there."""
        try:
            if self.write_file is not None:
                writer = self.write_file
                atomic_write(target, lambda f: writer(f, g, seeds, batch_size))
            else:
                _write_folder(g, seeds, target, batch_size)
        except OSError as e:  # numpy says "N requested and M written" for a full disk; say what it means
            full = e.errno == errno.ENOSPC or shutil.disk_usage(target.parent).free < (1 << 20)
            why = "the disk is full" if full else first_line(e)
            raise OSError(f"cannot write {target}: {why}; the shards before it are whole, rerun to resume") from None


def _chunks(g: Decoder, seeds: list[int], batch_size: int) -> Iterator[tuple[list[int], np.ndarray]]:
    for i in range(0, len(seeds), batch_size):
        chunk = seeds[i : i + batch_size]
        yield chunk, g.generate(seeds=chunk, batch_size=batch_size)


def _encoded(g: Decoder, seeds: list[int], batch_size: int) -> Iterator[tuple[int, bytes]]:
    """(seed, PNG bytes) in seed order. The next chunk decodes while this one is encoded, on a few
    threads (Pillow encodes without the GIL); order, and so every byte, is kept."""
    starts = range(0, len(seeds), batch_size)
    with (
        ThreadPoolExecutor(1, thread_name_prefix="dcgan-decode") as decoder,
        ThreadPoolExecutor(ENCODERS, thread_name_prefix="dcgan-png") as encoders,
    ):
        ahead = decoder.submit(g.generate, seeds=seeds[:batch_size], batch_size=batch_size)
        for i in starts:
            images = ahead.result()
            if i + batch_size < len(seeds):
                ahead = decoder.submit(
                    g.generate, seeds=seeds[i + batch_size : i + 2 * batch_size], batch_size=batch_size
                )
            yield from zip(seeds[i : i + batch_size], encoders.map(encode_image, images))


def _write_tar(f: IO[bytes], g: Decoder, seeds: list[int], batch_size: int) -> None:
    with tarfile.open(fileobj=f, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for s, data in _encoded(g, seeds, batch_size):
            info = tarfile.TarInfo(seed_name(s))  # fixed headers: equal runs give equal bytes
            info.size, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = (
                len(data), 0, 0o644, 0, 0, "", ""
            )  # fmt: skip
            tar.addfile(info, io.BytesIO(data))


def _write_npy(f: IO[bytes], g: Decoder, seeds: list[int], batch_size: int) -> None:
    images = np.empty((len(seeds), *g.metadata.image_shape), np.uint8)
    for i, (chunk, batch) in enumerate(_chunks(g, seeds, batch_size)):
        images[i * batch_size : i * batch_size + len(chunk)] = batch
    np.save(f, images, allow_pickle=False)


def _write_parquet(f: IO[bytes], g: Decoder, seeds: list[int], batch_size: int) -> None:
    pa, pq = parquet_modules()
    pngs = [png for _, png in _encoded(g, seeds, batch_size)]
    table = pa.table({"seed": pa.array(seeds, pa.int64()), "png": pa.array(pngs, pa.binary())})
    pq.write_table(table, f, compression="none")  # the PNGs are compressed already


def parquet_modules() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError("--format parquet needs pyarrow: pip install 'dcgan[parquet]'") from None
    return pa, pq


def _write_folder(g: Decoder, seeds: list[int], target: Path, batch_size: int) -> None:
    """A folder of seedSSSS.png: its files written plainly, then synced, then the folder renamed into place."""
    outdir = target.parent
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=outdir))
    try:
        for s, png in _encoded(g, seeds, batch_size):
            with open(staging / seed_name(s), "xb") as f:
                f.write(png)
        for name in os.listdir(staging):  # durable before the rename makes the shard count as done
            fd = os.open(staging / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.chmod(staging, 0o777 & ~umask())
        os.replace(staging, target)
        fsync_dir(outdir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_folder(target: Path, seeds: list[int], image_shape: tuple[int, ...]) -> str | None:
    names = sorted(os.listdir(target))
    if names != sorted(seed_name(s) for s in seeds):
        return f"holds {len(names)} files, not the {len(seeds)} seedSSSS.png of its seeds"
    for name in names:
        with open(target / name, "rb") as f:
            if f.read(8) != PNG_SIGNATURE:
                return f"{name} is not a PNG"
    return None


def _check_tar(target: Path, seeds: list[int], image_shape: tuple[int, ...]) -> str | None:
    with tarfile.open(target) as tar:
        members = tar.getmembers()
    if [m.name for m in members] != [seed_name(s) for s in seeds] or any(m.size < 8 for m in members):
        return f"holds {len(members)} members, not the {len(seeds)} seedSSSS.png of its seeds"
    return None


def _check_npy(target: Path, seeds: list[int], image_shape: tuple[int, ...]) -> str | None:
    images = np.load(target, mmap_mode="r", allow_pickle=False)  # a short file cannot be mapped: ValueError
    if images.shape != (len(seeds), *image_shape) or images.dtype != np.uint8:
        return f"holds {images.dtype} {images.shape}, not uint8 {(len(seeds), *image_shape)}"
    return None


def _check_parquet(target: Path, seeds: list[int], image_shape: tuple[int, ...]) -> str | None:
    _, pq = parquet_modules()
    meta = pq.read_metadata(target)
    if meta.num_rows != len(seeds) or meta.schema.names != ["seed", "png"]:
        return f"holds {meta.num_rows} rows of {meta.schema.names}, not {len(seeds)} of ['seed', 'png']"
    return None


# Every format `dcgan generate --format` takes: one entry each.
FORMATS: dict[str, Format] = {
    "png": Format("png", "NNNNN/seedSSSS.png, one folder per shard", None, _check_folder),
    "tar": Format("tar", "shard-NNNNN.tar of seedSSSS.png (WebDataset)", _write_tar, _check_tar),
    "npy": Format("npy", "shard-NNNNN.npy, uint8 (n, H, W, C) in seed order", _write_npy, _check_npy),
    "parquet": Format(
        "parquet",
        "shard-NNNNN.parquet, columns seed (int64) and png (binary)",
        _write_parquet,
        _check_parquet,
        parquet_modules,
    ),
}
