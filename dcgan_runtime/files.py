"""The one way this project writes a file: atomic, durable, and never clobbering unless asked.

A temp file beside the target is written, flushed and fsynced, then renamed into place (or, with
`overwrite=False`, linked into place, which fails if the name exists: the no-overwrite promise
holds between processes too). The folder is fsynced after the rename. A crash at any moment
leaves the old file or the new one, never a torn one. The file gets the permissions a plain
`open(path, "w")` would give (0666 less the umask), not mkstemp's 0600.

>>> import tempfile
>>> p = atomic_write(Path(tempfile.mkdtemp()) / "a.txt", b"hello")
>>> p.read_bytes()
b'hello'
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

Content = bytes | Callable[[IO[bytes]], object]


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The file's sha256, read a megabyte at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def cache_dir() -> Path:
    """Where dcgan keeps what it can rebuild (tuning plans, onnxruntime-web): $DCGAN_CACHE or ~/.cache/dcgan."""
    return Path(os.environ.get("DCGAN_CACHE", Path.home() / ".cache" / "dcgan"))


def atomic_write(path: str | os.PathLike[str], content: Content, *, overwrite: bool = True) -> Path:
    """Write `content` (bytes, or a function that writes to a binary file) to `path` atomically.

    Raises FileExistsError when `overwrite` is False and `path` exists (checked atomically).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(content, bytes):
                f.write(content)
            else:
                content(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~umask())
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_exclusive(tmp, path)
        fsync_dir(path.parent)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def check_replaceable(target: Path, names: set[str], force: bool, flag: str, kind: str) -> None:
    """Refuse (ValueError) to write a folder over `target` unless it is absent or empty, or `force` is
    given and it holds nothing but `names` (what a folder of this `kind` holds): nothing else is lost."""
    if target.exists() and not target.is_dir():
        raise ValueError(f"{flag} {str(target)!r} is a file")
    held = sorted(p.name for p in target.iterdir()) if target.is_dir() else []
    if held and not force:
        raise ValueError(
            f"{flag} {str(target)!r} already holds files (it is not empty): pass --force to replace "
            f"the {kind} in it, or pick another"
        )
    foreign = [n for n in held if n not in names]
    if foreign:
        more = ", ..." if len(foreign) > 3 else ""
        raise ValueError(
            f"{flag} {str(target)!r} holds files that are not {'an' if kind[0] in 'aeiou' else 'a'} "
            f"{kind} ({', '.join(foreign[:3])}{more}): --force replaces {kind} folders only; pick "
            f"another {flag}"
        )


def staging_dir(target: Path) -> Path:
    """An empty hidden folder beside `target` (same file system), with the permissions mkdir gives."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
    os.chmod(staging, 0o777 & ~umask())
    return staging


def install_dir(staging: Path, target: Path) -> None:
    """Move the finished folder `staging` to `target`, replacing what `target` held as a whole.

    Two renames on one file system: `target` is the old folder or the new one at every moment but
    between them, and no file of the old folder survives in the new one.
    """
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, old / target.name)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, target)
    fsync_dir(target.parent)


def exists_error(path: str | os.PathLike[str]) -> FileExistsError:
    return FileExistsError(f"{str(path)!r} exists: pass --force (overwrite=True) to overwrite it")


def remove_stale_temp_files(folder: Path) -> int:
    """Delete the temp files an interrupted `atomic_write` left in `folder` (the real files are intact)."""
    stale = list(Path(folder).glob(".*.tmp"))
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def _link_exclusive(tmp: str, path: Path) -> None:
    """Give `tmp` the name `path` only if nothing has it (link(2) never replaces a name)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise exists_error(path) from None
    except OSError as e:  # a file system without hard links: claim the name exclusively, then fill it
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            raise exists_error(path) from None
        os.replace(tmp, path)


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not every platform opens folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def umask() -> int:
    """The process umask, read without changing it where /proc allows (changing it races other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
