"""Images by the million: seeds in shards, each shard written atomically, a run that resumes.

A run writes `count` images (one per seed) into DIR as shards of `shard_size` seeds, in seed order:

    png      DIR/00000/seed0000.png ...   one folder per shard (renamed into place when complete)
    tar      DIR/shard-00000.tar          WebDataset shards: seedNNNN.png members, fixed headers
    npy      DIR/shard-00000.npy          uint8 (n, H, W, C) in seed order
    parquet  DIR/shard-00000.parquet      columns seed (int64), png (binary): for Ray Data, HF datasets

plus DIR/manifest.json (model sha256, seeds, format, shard size), written first. Equal runs give
equal bytes: a shard depends only on its seeds (batching never changes an image) and every
encoder here is deterministic. Rerunning a command after a crash (SIGKILL included) finds the
manifest, keeps the shards already in place and writes the missing ones. `share=(i, n)` writes
only shard k with k % n == i - 1, so n invocations (`--shard I/N`) into one DIR make the whole.

>>> plan = Plan(SeedSet.parse("0-2499"), "png", 1000)       # doctest: +SKIP
>>> write(Generator.load("generator.onnx"), plan, "out/")    # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dcgan_runtime import __version__
from dcgan_runtime.engine.protocol import Decoder
from dcgan_runtime.files import atomic_write, read_json, umask
from dcgan_runtime.scale.formats import FORMATS
from dcgan_runtime.scale.seeds import SeedSet

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
KIND = "dcgan-images"
MAX_SHARD = 100_000  # seeds per shard (a 64x64 RGB shard of 100,000 is 1.2 GB of pixels for npy)
MAX_SHARDS = 1_000_000  # shards per run: every 2**32 seeds fit with a shard size of 4,295
DEFAULT_SHARD = 1000
Progress = Callable[[int, int], None]  # (images done, images this invocation writes)
SHARD_NAME = re.compile(r"(?:shard-)?(\d{5,})(?:\.(?:tar|npy|parquet))?")
TEMP_NAME = re.compile(r"\.(?:shard-)?(\d{5,})(?:\.(?:tar|npy|parquet))?\..*\.tmp|\.(\d{5,})\.tmp-.*")
LOCK_NAME = re.compile(r"\.lock-share-\d+-of-\d+|\.manifest\.lock")  # the runs' locks (see ShareClaim)
MANIFEST_TEMP = re.compile(r"\.manifest\.json\..*\.tmp")  # a crash while the manifest was written


@dataclass(frozen=True)
class Plan:
    seeds: SeedSet  # every seed of the run, in order
    format: str  # png, tar, npy or parquet
    shard_size: int = DEFAULT_SHARD  # seeds per shard (the last may hold fewer)
    share: tuple[int, int] = (1, 1)  # (i, n): this invocation writes shards k with k % n == i - 1

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if isinstance(self.shard_size, bool) or not isinstance(self.shard_size, int):
            raise ValueError(f"shard size must be an integer, got {self.shard_size!r}")
        if not 1 <= self.shard_size <= MAX_SHARD:
            raise ValueError(f"shard size must be in 1..{MAX_SHARD:,}, got {self.shard_size}")
        i, n = self.share
        if not (1 <= n <= 1_000_000 and 1 <= i <= n):
            raise ValueError(f"a share is I/N with 1 <= I <= N, got {i}/{n}")
        if self.shards > MAX_SHARDS:
            least = -(-len(self.seeds) // MAX_SHARDS)
            raise ValueError(
                f"{len(self.seeds):,} seeds in shards of {self.shard_size:,} make {self.shards:,} shards, more than "
                f"{MAX_SHARDS:,} a run may have: use --shard-size {least} or more"
            )
        FORMATS[self.format].check_installed()  # refused before anything is written, not at the first shard

    @property
    def shards(self) -> int:
        return -(-len(self.seeds) // self.shard_size)

    def mine(self) -> range:
        """The shards this invocation writes."""
        i, n = self.share
        return range(i - 1, self.shards, n)

    def images_of(self, shards: range) -> int:
        """How many images `shards` (a range of this plan's) hold, without listing them."""
        last, tail = self.shards - 1, len(self.seeds) - (self.shards - 1) * self.shard_size
        return len(shards) * self.shard_size - (self.shard_size - tail if last in shards else 0)

    def seeds_of(self, shard: int) -> list[int]:
        start = shard * self.shard_size
        return self.seeds.take(start, min(start + self.shard_size, len(self.seeds)))

    def name(self, shard: int) -> str:
        return FORMATS[self.format].shard_name(shard)

    def manifest(self, model_sha256: str, meta: Any) -> dict[str, Any]:
        """What makes two runs the same run (no share, no time: every --shard invocation writes equal bytes)."""
        return {
            "kind": KIND,
            "version": 1,
            "model_sha256": model_sha256,
            "image_shape": list(meta.image_shape),
            "precision": meta.precision,
            "seed_rule": meta.seed_rule,
            "seeds": str(self.seeds),
            "count": len(self.seeds),
            "format": self.format,
            "shard_size": self.shard_size,
            "shards": self.shards,
            "layout": FORMATS[self.format].layout,
            "writer": f"dcgan_runtime {__version__}",
        }


@dataclass(frozen=True)
class Summary:
    written: int  # shards written by this invocation
    kept: int  # shards of this invocation's share that were already in place (a resumed run)
    images: int  # images written
    seconds: float

    def line(self, outdir: Path, plan: Plan) -> str:
        rate = self.images / self.seconds if self.seconds > 0 else 0.0
        share = "" if plan.share == (1, 1) else f" (share {plan.share[0]}/{plan.share[1]})"
        kept = f", {self.kept} already there" if self.kept else ""
        return (
            f"wrote {self.images:,} images in {self.written} {plan.format} shard{'s' * (self.written != 1)} to "
            f"{outdir}/{share}{kept}, {self.seconds:.1f} s, {rate:,.0f} images/s"
        )


def prepare(outdir: Path, plan: Plan, manifest: dict[str, Any], force: bool) -> ShareClaim:
    """Make `outdir` this run's folder: new, or the same run (resumed), or (with `force`) another run's,
    cleared. Anything else is refused (ValueError) before an image is made. Returns this invocation's claim on
    its share, held until it is closed (`with prepare(...):`): a second run of the same share is refused while
    it is held, and runs of other shares (`--shard I/N`) go on beside it."""
    if outdir.exists() and not outdir.is_dir():
        raise ValueError(f"--outdir {str(outdir)!r} is a file")
    outdir.mkdir(parents=True, exist_ok=True)
    with _flock(outdir / ".manifest.lock"):  # whoever comes first writes the manifest; the rest check it
        _settle_manifest(outdir, manifest, force)
    claim = ShareClaim(outdir, plan)
    remove_leftovers(outdir, plan)  # safe: no other writer of this share can be running now
    return claim


def _settle_manifest(outdir: Path, manifest: dict[str, Any], force: bool) -> None:
    held = sorted(p.name for p in outdir.iterdir())
    path = outdir / MANIFEST
    if MANIFEST not in held:
        ours = (SHARD_NAME, TEMP_NAME, MANIFEST_TEMP, LOCK_NAME)
        foreign = [n for n in held if not any(pattern.fullmatch(n) for pattern in ours)]
        if foreign or any(SHARD_NAME.fullmatch(n) for n in held):
            shown = foreign or held
            raise ValueError(
                f"--outdir {str(outdir)!r} holds files that are not a dcgan generate run "
                f"({', '.join(shown[:3])}{', ...' if len(shown) > 3 else ''}): pick an empty folder"
            )
    else:
        try:
            old = read_json(path)
        except (OSError, ValueError):
            old = None
        if old == manifest:
            return
        what = _difference(old, manifest)
        if not force:
            raise ValueError(
                f"--outdir {str(outdir)!r} holds another run ({what}): pass --force to replace it, or pick another"
            )
        for name in held:
            if name == MANIFEST or SHARD_NAME.fullmatch(name) or TEMP_NAME.fullmatch(name):
                _remove(outdir / name)
    for name in held:  # a manifest write cut short: every writer holds the manifest lock, so none is running
        if MANIFEST_TEMP.fullmatch(name):
            (outdir / name).unlink(missing_ok=True)
    atomic_write(path, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[int]:
    """An exclusive lock on `path` (created if absent) while the block runs, waited for."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~umask())
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


class ShareClaim:
    """This process's hold on one share of a folder (a flock on .lock-share-I-of-N, released when closed or when
    the process ends, however it ends). Another process asking for the same share is told who holds it."""

    def __init__(self, outdir: Path, plan: Plan) -> None:
        i, n = plan.share
        self.path = outdir / f".lock-share-{i}-of-{n}"
        self.fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666 & ~umask())
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(self.fd, 32).decode(errors="replace").strip() or "another process"
            self.close()
            raise ValueError(
                f"share {i}/{n} of {str(outdir)!r} is being written by process {holder}: wait for it to finish "
                "(or stop it), then run again to resume"
            ) from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, str(os.getpid()).encode())

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> ShareClaim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def remove_leftovers(outdir: Path, plan: Plan) -> int:
    """Delete what a killed writer of this share left half-written (temp files and folders); never another
    share's, which may be running now. Returns how many were removed."""
    removed = 0
    for entry in os.scandir(outdir) if outdir.is_dir() else ():
        m = TEMP_NAME.fullmatch(entry.name)
        if m and int(m.group(1) or m.group(2)) % plan.share[1] == plan.share[0] - 1:
            target = outdir / entry.name
            shutil.rmtree(target, ignore_errors=True) if entry.is_dir(follow_symlinks=False) else target.unlink(
                missing_ok=True
            )
            removed += 1
    return removed


def _difference(old: Any, new: dict[str, Any]) -> str:
    if not isinstance(old, dict) or old.get("kind") != KIND:
        return "an unreadable manifest"
    for key, words in (("model_sha256", "another model"), ("format", "another format"), ("seeds", "other seeds")):
        if old.get(key) != new[key]:
            return f"{words}: {str(old.get(key))[:20]}, not {str(new[key])[:20]}"
    return "other settings: " + ", ".join(k for k in new if old.get(k) != new[k])


def write(
    g: Decoder,
    plan: Plan,
    outdir: str | os.PathLike[str],
    *,
    force: bool = False,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> Summary:
    """Write this invocation's shards of `plan` into `outdir` with Generator `g` (see the module doc).

    >>> write(g, Plan(SeedSet.parse("0-99999"), "tar"), "data/")   # doctest: +SKIP
    Summary(written=100, kept=0, images=100000, seconds=...)
    """
    outdir = Path(outdir)
    with prepare(outdir, plan, plan.manifest(g.sha256, g.metadata), force):
        return write_shards(g, plan, outdir, plan.mine(), batch_size=batch_size, progress=progress)


def write_shards(
    g: Decoder,
    plan: Plan,
    outdir: Path,
    shards: range,
    *,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> Summary:
    """Write those of `shards` not already in place (the folder is prepared: `prepare`), checking each
    as it comes: a run of a million shards starts at once, and a resumed one skips what is done."""
    start = time.perf_counter()
    total, done, written, kept, images = plan.images_of(shards), 0, 0, 0, 0
    for k in shards:
        if in_place(outdir, plan, k, g.metadata.image_shape):
            kept += 1
            done += len(plan.seeds_of(k)) if progress is not None else 0
            continue
        count = write_shard(g, plan, outdir, k, batch_size)
        written, images, done = written + 1, images + count, done + count
        if progress is not None:
            progress(done, total)
    return Summary(written, kept, images, time.perf_counter() - start)


def in_place(outdir: Path, plan: Plan, shard: int, image_shape: tuple[int, ...]) -> bool:
    """Whether shard `shard` is in `outdir`, whole (its format's own check); a damaged one is removed, with a
    logged line, so that it is written again."""
    target = outdir / plan.name(shard)
    if not target.exists():
        return False
    problem = FORMATS[plan.format].check(target, plan.seeds_of(shard), image_shape)
    if problem is None:
        return True
    log.warning("%s %s: writing it again", target, problem)
    _remove(target)
    return False


def _remove(target: Path) -> None:
    """A shard (a folder of PNGs, or one file; a link is removed, never followed) or the manifest."""
    shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()


def write_shard(g: Decoder, plan: Plan, outdir: Path, shard: int, batch_size: int = 64) -> int:
    """Write one shard atomically (a temp name beside it, renamed when complete); returns its images."""
    seeds = plan.seeds_of(shard)
    FORMATS[plan.format].write(g, seeds, outdir / plan.name(shard), batch_size)
    return len(seeds)
