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
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from dcgan_runtime.errors import first_line

Content = bytes | Callable[[IO[bytes]], object]


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The file's sha256, read a megabyte at a time."""
    return hash_file(path, hashlib.sha256())


def hash_file(path: str | os.PathLike[str], digest: Any) -> str:
    """`digest` (a hashlib object, perhaps already fed a prefix) updated with the file, a megabyte at a time."""
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return str(digest.hexdigest())


def cache_dir() -> Path:
    """Where dcgan keeps what it can rebuild (tuning plans, onnxruntime-web): $DCGAN_CACHE or ~/.cache/dcgan.

    An empty DCGAN_CACHE counts as unset (not "the current folder"); a relative one is made absolute.
    """
    value = os.environ.get("DCGAN_CACHE", "").strip()
    return Path(value).absolute() if value else Path.home() / ".cache" / "dcgan"


SMALL_FILE = 1 << 20  # caches and reports this project writes are kilobytes: read at most this much


def read_small(path: str | os.PathLike[str], limit: int = SMALL_FILE) -> bytes:
    """A regular file's bytes, at most `limit` of them. Anything else is a ValueError saying what it is:
    a FIFO (opened without blocking, never waited on), a device (never read: /dev/zero has no end),
    a folder, or a larger file (never read past `limit`). A missing file is FileNotFoundError.

    >>> read_small("/dev/null")
    Traceback (most recent call last):
    ...
    ValueError: '/dev/null' is a character device, not a regular file
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ValueError(f"{str(path)!r} is {describe_mode(mode)}, not a regular file")
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(fd, min(1 << 16, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise ValueError(f"{str(path)!r} is larger than the {limit:,} bytes expected of it")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_json(path: str | os.PathLike[str], limit: int = SMALL_FILE) -> Any:
    """`read_small` parsed as JSON: ValueError for text that is not JSON, or nested past Python's limit."""
    data = read_small(path, limit)
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError(f"{str(path)!r} nests too deeply to be one of this project's files") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{str(path)!r} is not JSON ({first_line(e, 120)})") from None


def not_a_file(path: str | os.PathLike[str]) -> str | None:
    """None for a regular file (or a link to one); else what `path` is, in words: 'does not exist',
    'is a symlink loop', 'is a FIFO (named pipe)', 'is a folder', ...

    >>> not_a_file("/dev/null")
    'is a character device'
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "is a broken symlink" if os.path.islink(path) else "does not exist"
    except OSError as e:
        return "is a symlink loop" if e.errno == errno.ELOOP else f"cannot be read ({e.strerror})"
    return None if stat.S_ISREG(mode) else f"is {describe_mode(mode)}"


def describe_mode(mode: int) -> str:
    """'a FIFO', 'a character device', ... for an st_mode."""
    kinds = [
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISREG, "a regular file"),
    ]
    return next((name for test, name in kinds if test(mode)), "not a regular file")


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


def folder_target(target: Path, flag: str = "the output folder") -> Path:
    """Where a folder written as a whole really goes: a symlink's target (the link stays), never the
    current folder or one that holds it (replacing it would pull the folder out from under the shell
    that is in it). Raises ValueError for those."""
    real = Path(os.path.realpath(target))
    here = Path.cwd().resolve()
    if real == here or real in here.parents:
        raise ValueError(
            f"{flag} {str(target)!r} is the current folder or holds it, and it is replaced as a whole: "
            f"pick a folder inside it (e.g. {flag} out)"
        )
    return real


def check_replaceable(target: Path, names: set[str], force: bool, flag: str, kind: str) -> None:
    """Refuse (ValueError) to write a folder over `target` unless it is absent or empty, or `force` is
    given and it holds nothing but `names` (what a folder of this `kind` holds): nothing else is lost."""
    target = folder_target(target, flag)
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
    target = folder_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
    os.chmod(staging, 0o777 & ~umask())
    return staging


def install_dir(staging: Path, target: Path) -> None:
    """Move the finished folder `staging` to `target`, replacing what `target` held as a whole.

    Two renames on one file system: `target` is the old folder or the new one at every moment but
    between them, and no file of the old folder survives in the new one. A `target` that is a symlink
    keeps it: the folder it points to is the one replaced.
    """
    target = folder_target(target)
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
