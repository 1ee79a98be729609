"""Fetching models from where models live: the Hugging Face Hub and plain URLs, fetched into local caches.

A MODEL, as `Generator.load` and every `dcgan` command take it, is one of:
- a path (a file, or an export folder), used as it is;
- `hf://ORG/NAME` or `hf://ORG/NAME@REVISION`: that Hub repository's file for the precision asked
  for (`generator.onnx`, `generator.fp16.onnx`, `generator.int8.onnx`), through `hf_hub_download`,
  so the Hub cache, revisions, tokens and `HF_HUB_OFFLINE` / `HF_HUB_CACHE` / `HF_HOME` work as
  huggingface_hub documents them;
- `https://host/path/generator.onnx`, optionally pinned with `#sha256=HEX`: downloaded once into
  $DCGAN_CACHE/url/ (atomically, size-capped, checked against the pin before it is kept). Plain
  `http://` only for loopback hosts unless `allow_http=True` (`--allow-http`).

The Hub needs the `[hub]` extra (huggingface_hub); URLs need nothing. Publishing is
`dcgan_runtime.publish.push`.

>>> parse_hf("hf://acme/faces@v1")
('acme/faces', 'v1')
>>> is_remote("runs/faces/export"), is_remote("hf://acme/faces"), is_remote("https://h/g.onnx")
(False, True, True)
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import ipaddress
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from dcgan_runtime import __version__, files
from dcgan_runtime.errors import ModelError, first_line
from dcgan_runtime.metadata import FILENAMES, PRECISIONS

log = logging.getLogger(__name__)
T = TypeVar("T")
HF = "hf://"
MAX_DOWNLOAD = 1 << 30  # bytes one URL may bring (a classic 64x64 generator is 14 MB)
TIMEOUT_SECONDS = 30.0  # to connect, and between two reads of a download
DEADLINE_SECONDS = 600.0  # one fetch in all (a server that drips bytes is cut off): $DCGAN_FETCH_DEADLINE overrides
REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")  # fullmatch only
REF_PART = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,127}")  # one part of a branch or tag name
COMMIT = re.compile(r"[0-9a-f]{40}")
CONTENT_HASH = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # git's blob sha1, or an LFS file's sha256
Progress = Callable[[int, int | None], None]  # (bytes so far, total bytes or None)


def deadline_seconds() -> float:
    """How long one fetch may take in all: $DCGAN_FETCH_DEADLINE (seconds), else DEADLINE_SECONDS."""
    text = os.environ.get("DCGAN_FETCH_DEADLINE", "").strip()
    try:
        value = float(text) if text else DEADLINE_SECONDS
    except ValueError:
        value = -1.0
    if not 0 < value <= 86_400:
        raise ValueError(f"DCGAN_FETCH_DEADLINE must be a number of seconds in (0, 86400], got {text[:40]!r}")
    return value


def is_remote(spec: object) -> bool:
    """Whether `spec` names a model on the Hub or at a URL rather than a path."""
    return isinstance(spec, str) and (spec.startswith(HF) or spec.lower().startswith(("http://", "https://")))


def parse_hf(spec: str) -> tuple[str, str | None]:
    """`hf://ORG/NAME[@REVISION]` -> (repo id, revision or None)."""
    rest = spec[len(HF) :] if spec.startswith(HF) else spec
    repo_id, _, revision = rest.partition("@")
    try:
        check_repo_id(repo_id)
        if revision or "@" in rest:
            check_revision(revision)
    except ValueError as e:
        raise ValueError(
            f"{spec[:120]!r} is not a Hub model ({e}): write hf://ORG/NAME or hf://ORG/NAME@REVISION"
        ) from None
    return repo_id, revision or None


def locate(
    spec: str | os.PathLike[str],
    precision: str | None = None,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    allow_http: bool = False,
    progress: Progress | None = None,
) -> Path:
    """A MODEL as users write it -> a local path (downloading into a cache where it is remote)."""
    if not is_remote(spec):
        return Path(spec)
    text = str(spec)
    if text.startswith(HF):
        repo_id, pinned = parse_hf(text)
        if pinned is not None and revision is not None and pinned != revision:
            raise ValueError(f"{text!r} names revision {pinned!r} but revision={revision!r} was also given")
        return download(
            repo_id,
            revision=pinned or revision,
            precision=precision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            token=token,
        )
    return fetch_url(text, allow_http=allow_http, progress=progress)


# ---------------------------------------------------------------- the Hub


def hub_module() -> Any:
    try:
        import huggingface_hub
        import huggingface_hub.constants  # submodules this module reads as hf.constants, hf.errors
        import huggingface_hub.errors  # noqa: F401
    except ImportError:
        raise ModelError(
            "Hub models need huggingface_hub: pip install 'dcgan[hub]' (or download the file and pass its path)"
        ) from None
    return huggingface_hub


def check_revision(revision: str) -> str:
    """A Hub revision as git names them (a branch, a tag, `refs/pr/N`, or a 40-hex commit), else ValueError.

    It becomes a file name in the cache (`refs/<revision>`), so nothing that could leave that folder passes:
    no `..` or `.`-led part, no absolute or empty part, no backslash, no control character, no newline.

    >>> check_revision("v1.0"), check_revision("refs/pr/3")
    ('v1.0', 'refs/pr/3')
    >>> check_revision("../../x")
    Traceback (most recent call last):
    ...
    ValueError: revision '../../x' is not a branch, tag or commit name: ...
    """
    parts = revision.split("/") if isinstance(revision, str) and len(revision) <= 255 else [""]
    if not all(REF_PART.fullmatch(part) and not part.endswith(".lock") for part in parts):
        raise ValueError(
            f"revision {str(revision)[:80]!r} is not a branch, tag or commit name: use letters, digits and . _ - "
            "(parts joined by /, none starting with a dot)"
        )
    return revision


def check_repo_id(repo_id: object) -> str:
    """`ORG/NAME` as the Hub spells repository ids (full match: no trailing newline, no `..`), else ValueError."""
    if not isinstance(repo_id, str) or not REPO_ID.fullmatch(repo_id) or ".." in repo_id:
        raise ValueError(f"{str(repo_id)[:120]!r} is not a Hub repository id: write ORG/NAME")
    return repo_id


@contextlib.contextmanager
def _hub_errors(hf: Any, where: str, filename: str, precision: str | None, offline: bool) -> Iterator[None]:
    """huggingface_hub's exceptions as one-line ModelErrors that say what to do."""
    errors = hf.errors
    try:
        yield
    except errors.GatedRepoError:
        raise ModelError(f"{where} is gated: accept its terms on the Hub and log in (hf auth login)") from None
    except errors.RepositoryNotFoundError:
        raise ModelError(
            f"no model repository {where.split('@')[0]} on the Hub (or it is private: log in with hf auth login, "
            "or pass token=)"
        ) from None
    except errors.RevisionNotFoundError:
        repo, _, revision = where.partition("@")
        raise ModelError(f"{repo} has no revision {revision!r}: name a branch, tag or commit it has") from None
    except errors.LocalEntryNotFoundError:
        raise ModelError(
            f"{filename} of {where} is not in the Hub cache"
            + (
                " and the Hub is not consulted (offline: HF_HUB_OFFLINE or local_files_only): fetch it once online"
                if offline or hf.constants.HF_HUB_OFFLINE
                else " and the Hub cannot be reached: check the network, or set HF_HUB_OFFLINE=1 to use the cache only"
            )
        ) from None
    except errors.EntryNotFoundError:
        raise ModelError(
            f"{where} has no {filename}: that repository holds no {precision or 'fp32'} export"
            + ("" if precision in (None, "fp32") else f" (export with --{precision} and push it)")
        ) from None
    except (ModelError, ValueError):
        raise
    except Exception as e:  # huggingface_hub's HTTP client raises its own types (cut-off bodies, bad headers)
        raise ModelError(f"cannot fetch {filename} of {where} from the Hub: {first_line(e)}") from None


@contextlib.contextmanager
def quiet_hub() -> Iterator[None]:
    """huggingface_hub's own warnings and log lines held back for one call: what a fetch ends in is one line."""
    logger = logging.getLogger("huggingface_hub")
    level = logger.level
    logger.setLevel(logging.ERROR + 10)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def download(
    repo_id: str,
    *,
    revision: str | None = None,
    precision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> Path:
    """The repository's file for `precision` (default fp32), from the Hub cache or the Hub.

    The cache is huggingface_hub's (`HF_HUB_CACHE`, `HF_HOME`, `HF_HUB_OFFLINE` as it reads them), laid
    out as it lays it out. What the Hub answers never becomes a path unchecked: its commit must be 40 hex
    digits and its ETag a content hash, and the file must hash to that ETag before it is kept.

    >>> download("acme/faces", precision="int8")   # doctest: +SKIP
    PosixPath('~/.cache/huggingface/hub/models--acme--faces/snapshots/3f1.../generator.int8.onnx')
    """
    check_repo_id(repo_id)
    if revision is not None:
        check_revision(revision)
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS} or None, got {precision!r}")
    hf = hub_module()
    filename = FILENAMES[precision or "fp32"]
    where = f"{repo_id}@{revision}" if revision else repo_id
    cache = Path(cache_dir if cache_dir is not None else hf.constants.HF_HUB_CACHE).absolute()
    storage = cache / ("models--" + repo_id.replace("/", "--"))
    offline = local_files_only or bool(hf.constants.HF_HUB_OFFLINE)
    with quiet_hub(), _hub_errors(hf, where, filename, precision, offline):
        if offline:
            found = hf.hf_hub_download(repo_id, filename, revision=revision, cache_dir=cache, local_files_only=True)
            path = Path(found)
        else:
            path = _fetch_into_cache(hf, storage, repo_id, filename, revision, token)
    _check_inside(path, storage)
    log.info("%s: %s", where, path)
    return path


def _fetch_into_cache(hf: Any, storage: Path, repo_id: str, filename: str, revision: str | None, token: Any) -> Path:
    """Ask the Hub which commit and content `filename` is at `revision`, check both, and lay the file into the
    cache as huggingface_hub does (blobs/ETAG, snapshots/COMMIT/FILE, refs/REVISION), downloading it only when
    that snapshot lacks it. The download goes to a staging folder under names of our own (`local_dir`)."""
    url = hf.hf_hub_url(repo_id, filename, revision=revision)
    try:
        meta = hf.get_hf_file_metadata(url, token=token, library_name="dcgan", library_version=__version__)
    except Exception as e:  # huggingface_hub's HTTP client raises its own types for a network that fails
        if isinstance(e, hf.errors.HfHubHTTPError) and getattr(e.response, "status_code", 500) < 500:
            raise  # the Hub answered: no such repository, revision or file
        log.info("the Hub cannot be reached (%s): using the cache", first_line(e))
        return Path(hf.hf_hub_download(repo_id, filename, revision=revision, cache_dir=storage.parent,
                                       local_files_only=True))  # fmt: skip
    commit, etag = meta.commit_hash, meta.etag
    if not isinstance(commit, str) or not COMMIT.fullmatch(commit):
        raise ModelError(f"the Hub named commit {str(commit)[:80]!r} for {repo_id}, not 40 hex digits: refused")
    if not isinstance(etag, str) or not CONTENT_HASH.fullmatch(etag):
        raise ModelError(f"the Hub named {filename} of {repo_id} {str(etag)[:80]!r}, not a content hash: refused")
    if meta.size is not None and meta.size > MAX_DOWNLOAD:
        raise ModelError(f"{filename} of {repo_id} is {meta.size:,} bytes, over the {MAX_DOWNLOAD:,} a model may be")
    blob, pointer = storage / "blobs" / etag, storage / "snapshots" / commit / filename
    if not (blob.is_file() and _content_hash(blob, etag) == etag):
        _download_blob(hf, storage, repo_id, filename, commit, etag, token)
    if not pointer.is_file() or pointer.resolve() != blob.resolve():
        pointer.parent.mkdir(parents=True, exist_ok=True)
        tmp = pointer.with_name(f".{filename}.{os.getpid()}.link")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(Path("..", "..", "blobs", etag))
        os.replace(tmp, pointer)
    name = revision or "main"
    ref = storage / "refs" / name
    if name != commit and not (ref.is_file() and ref.read_bytes() == commit.encode()):
        files.atomic_write(ref, commit.encode())  # only when it changed: a load need not write
    return pointer


def _download_blob(hf: Any, storage: Path, repo_id: str, filename: str, commit: str, etag: str, token: Any) -> None:
    """`filename` at `commit` into blobs/ETAG, through a staging folder, kept only if it hashes to ETAG."""
    (storage / "blobs").mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".dcgan-", dir=storage))
    try:
        got = Path(within_deadline(
            lambda: hf.hf_hub_download(repo_id, filename, revision=commit, local_dir=staging, token=token,
                                       library_name="dcgan", library_version=__version__),
            f"{filename} of {repo_id}",
        ))  # fmt: skip
        _check_inside(got, staging)
        actual = _content_hash(got, etag)
        if actual != etag:
            raise ModelError(
                f"{filename} of {repo_id}@{commit[:12]} does not match the hash the Hub named for it "
                f"({actual[:16]}... against {etag[:16]}...): a cut-off or altered download; nothing was kept"
            )
        os.replace(got, storage / "blobs" / etag)
        files.fsync_dir(storage / "blobs")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def within_deadline(call: Callable[[], T], what: str) -> T:
    """`call()` on a worker thread, given up (ModelError) once the fetch deadline has passed: a server that drips
    bytes cannot hold a load forever. The abandoned call ends at its own next timeout; nothing it writes is kept."""
    done: list[T] = []
    failed: list[BaseException] = []

    def work() -> None:
        try:
            done.append(call())
        except BaseException as e:  # handed to the caller's thread
            failed.append(e)

    worker = threading.Thread(target=work, name="dcgan-fetch", daemon=True)
    worker.start()
    worker.join(deadline_seconds())
    if worker.is_alive():
        raise ModelError(
            f"fetching {what} took longer than {deadline_seconds():g} s: check the network, or allow more "
            "with DCGAN_FETCH_DEADLINE=SECONDS"
        )
    if failed:
        raise failed[0]
    return done[0]


def _content_hash(path: Path, etag: str) -> str:
    """The hash an ETag of that length names: sha256 of the bytes (LFS files), or git's blob sha1."""
    if len(etag) == 64:
        return files.sha256_file(path)
    return files.hash_file(path, hashlib.sha1(b"blob %d\0" % path.stat().st_size))


def _check_inside(path: Path, folder: Path) -> None:
    """A file a fetch returned must lie (links followed) inside the folder it was fetched into."""
    if not path.resolve().is_relative_to(folder.resolve()):
        raise ModelError(f"the Hub fetch left {str(path)[:200]!r} outside its cache {str(folder)!r}: refused")


# ---------------------------------------------------------------- URLs


def split_pin(url: str) -> tuple[str, str | None]:
    """'https://h/g.onnx#sha256=ab..' -> ('https://h/g.onnx', 'ab..'); a fragment that is not a pin is an error."""
    base, _, fragment = url.partition("#")
    if not fragment:
        return base, None
    key, _, value = fragment.partition("=")
    if key != "sha256" or not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise ValueError(f"{url[:120]!r}: a URL's #fragment must be a pin, #sha256= and 64 hex digits")
    return base, value.lower()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_scheme(url: str, allow_http: bool) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url[:120]!r} is not an http(s) URL with a host")
    if parts.scheme == "http" and not allow_http and not _loopback(parts.hostname):
        raise ValueError(
            f"{url[:120]!r} is plain http: anyone on the way could change the model. Use https, pin it with "
            "#sha256=..., and opt in with --allow-http (allow_http=True) if you must"
        )


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects, but never from https (or a loopback http) to a plain http URL elsewhere."""

    def __init__(self, allow_http: bool) -> None:
        self.allow_http = allow_http

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        _check_scheme(newurl, self.allow_http)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def forget(spec: str) -> bool:
    """Remove a URL model's downloaded copy from the cache (one that does not load must not be reused): whether
    there was one. Hub models are left alone: their files were checked against the hash the Hub named."""
    if not is_remote(spec) or spec.startswith(HF):
        return False
    try:
        url_cache_path(spec).unlink()
    except (OSError, ValueError):
        return False
    return True


def url_cache_path(url: str) -> Path:
    """Where a URL's file is kept: $DCGAN_CACHE/url/<sha256 of the URL>/<its file name>."""
    base, _ = split_pin(url)
    name = Path(urllib.parse.urlsplit(base).path).name or "model.onnx"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100].lstrip(".") or "model.onnx"
    return files.cache_dir() / "url" / hashlib.sha256(base.encode()).hexdigest()[:32] / name


def fetch_url(
    url: str,
    *,
    allow_http: bool = False,
    max_bytes: int = MAX_DOWNLOAD,
    progress: Progress | None = None,
) -> Path:
    """Download `url` once into the cache (atomically) and return the file.

    With a `#sha256=HEX` pin the file must hash to it: a cached copy that does not is fetched again,
    and a download that does not is deleted and refused. Without a pin the first download is kept.
    """
    base, pin = split_pin(url)
    _check_scheme(base, allow_http)
    target = url_cache_path(url)
    if target.is_file():
        if pin is None or files.sha256_file(target) == pin:
            log.info("%s: cached at %s", base, target)
            return target
        log.warning("the cached copy of %s does not match its pin: fetching it again", base)
    opener = urllib.request.build_opener(_CheckedRedirects(allow_http))
    request = urllib.request.Request(base, headers={"User-Agent": f"dcgan/{__version__}"})

    def download(out: IO[bytes]) -> None:  # into atomic_write's temp file: a failure here keeps nothing
        try:
            with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
                digest = _stream(response, out, base, max_bytes, time.monotonic() + deadline_seconds(), progress)
        except urllib.error.HTTPError as e:
            raise ModelError(f"cannot download {base}: HTTP {e.code} {' '.join(str(e.reason).split())[:100]}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:  # refused, timed out, garbled
            reason = e.reason if isinstance(e, urllib.error.URLError) and isinstance(e.reason, BaseException) else e
            raise ModelError(f"cannot download {base}: {type(reason).__name__}: {first_line(reason)}") from None
        if pin is not None and digest != pin:
            raise ModelError(f"{base} does not match its pin: sha256 {digest}, pinned {pin}; nothing was kept")

    files.atomic_write(target, download)
    log.info("%s: downloaded to %s", base, target)
    return target


def _stream(
    response: Any, out: IO[bytes], base: str, max_bytes: int, deadline: float, progress: Progress | None
) -> str:
    """The body into `out`, checked as it comes (size cap, deadline, not a web page) and at the end (every byte
    the server announced arrived); returns its sha256."""
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isascii() and length.isdigit() and len(length) < 19 else None
    if total is not None and total > max_bytes:
        raise ModelError(f"{base} is {total:,} bytes, more than the {max_bytes:,} a model may be")
    digest, done = hashlib.sha256(), 0
    while chunk := response.read1(1 << 20):  # what one read brings: a slow server cannot hold a read past the deadline
        if done == 0 and chunk.lstrip()[:1] in (b"<", b"{"):
            raise ModelError(f"{base} sent a web page or JSON, not an ONNX model: check the URL; nothing was kept")
        done += len(chunk)
        if done > max_bytes:
            raise ModelError(f"{base} sent more than the {max_bytes:,} bytes a model may be")
        if time.monotonic() > deadline:
            raise ModelError(
                f"{base} took longer than {deadline_seconds():g} s ({done:,} bytes so far): check the network, or "
                "allow more with DCGAN_FETCH_DEADLINE=SECONDS; nothing was kept"
            )
        digest.update(chunk)
        out.write(chunk)
        if progress is not None:
            progress(done, total)
    if total is not None and done != total:
        raise ModelError(f"{base} was cut off: {done:,} of the {total:,} bytes it announced arrived; nothing was kept")
    return digest.hexdigest()
