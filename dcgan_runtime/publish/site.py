"""`dcgan site`: a self-contained static site that runs the exported generator in the visitor's browser.

The folder holds index.html, the page's JS and CSS, `model.onnx` and `model.json` (its metadata and
parity figures), and onnxruntime-web's runtime files under `ort/`; every URL is relative, so it works
from any static host and sub-path (GitHub Pages, a CDN, `python -m http.server`).

onnxruntime-web is pinned (ORT_WEB_VERSION) and every file taken from it is checked against its
sha256 below, wherever it came from: `--ort-web PATH` (the package's folder, its dist/ folder, or its
.tgz), or else `npm pack` run once, its tarball kept in the cache ($DCGAN_CACHE or ~/.cache/dcgan).

>>> write_site("runs/demo/export", "site/")          # doctest: +SKIP
PosixPath('site')
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from importlib import resources
from pathlib import Path

from dcgan_runtime.errors import UsageError, first_line
from dcgan_runtime.files import atomic_write, cache_dir, check_replaceable, install_dir, read_json, staging_dir

log = logging.getLogger(__name__)

ORT_WEB_VERSION = "1.30.0"
ORT_WEB_FILES = {  # dist/ file -> sha256: the WASM build (SIMD, threads) and the WebGPU one
    "ort.wasm.min.mjs": "219e6a1fc8a9938268d18efca3c91d310bd2f4a59bbd13744df5b2b7fc6cee3b",
    "ort-wasm-simd-threaded.mjs": "e13f7f94fc51b4ca72b12faeb1ee95f4ace6dfbc8939bc718aabdc0a27c4299b",
    "ort-wasm-simd-threaded.wasm": "3398c10d07d229bd91b364548e130e0e51a8e5704b88c7c083ebbeb78842dee2",
    "ort.webgpu.min.mjs": "3dffff71811bc13a3a3d9591c57ca5ee5735b8f5f3eaf789510b02bb040ae3a0",
    "ort-wasm-simd-threaded.jsep.mjs": "709853412fd1ffc34247af1e73569227b5b79629c5ca3f59cc39cf7e500e4947",
    "ort-wasm-simd-threaded.jsep.wasm": "3ad23231b5bd6d9dda55a7f84606315e0bf35b6750c28ee993c987c54cacab0f",
}
WEBGPU_FILES = {"ort.webgpu.min.mjs", "ort-wasm-simd-threaded.jsep.mjs", "ort-wasm-simd-threaded.jsep.wasm"}
PAGE_FILES = ("index.html", "site.js", "seed.js")
SITE_FILES = {*PAGE_FILES, "style.css", "model.onnx", "model.json", "ort"}  # what a site folder holds


def ort_web_files(source: str | os.PathLike[str] | None = None, webgpu: bool = True) -> dict[str, bytes]:
    """The pinned onnxruntime-web files, each checked against its sha256.

    Raises UsageError saying what to do when they cannot be found or do not match.
    """
    names = [n for n in ORT_WEB_FILES if webgpu or n not in WEBGPU_FILES]
    if source is None:
        files = _from_tarball(_cached_tarball(), names)
    else:
        path = Path(source)
        if path.is_file():
            files = _from_tarball(path, names)
        elif path.is_dir():
            dist = path / "dist" if (path / "dist").is_dir() else path
            missing = [n for n in names if not (dist / n).is_file()]
            if missing:
                raise UsageError(
                    f"--ort-web {str(path)!r} lacks {missing}: give onnxruntime-web "
                    f"{ORT_WEB_VERSION}'s package folder, its dist/ folder or its .tgz"
                )
            files = {n: (dist / n).read_bytes() for n in names}
        else:
            raise UsageError(f"--ort-web {str(path)!r} does not exist")
    wrong = [n for n, data in files.items() if hashlib.sha256(data).hexdigest() != ORT_WEB_FILES[n]]
    if wrong:
        raise UsageError(
            f"onnxruntime-web files {wrong} are not those of the pinned version {ORT_WEB_VERSION} "
            "(checked by sha256): use onnxruntime-web@" + ORT_WEB_VERSION
        )
    return files


def _cached_tarball() -> Path:
    """onnxruntime-web's npm tarball from the cache, fetched with `npm pack` the first time."""
    tarball = cache_dir() / f"onnxruntime-web-{ORT_WEB_VERSION}.tgz"
    if tarball.is_file():
        return tarball
    npm = shutil.which("npm")
    if npm is None:
        raise UsageError(
            f"dcgan site needs onnxruntime-web {ORT_WEB_VERSION}: install npm (it fetches the package "
            f"once), or pass --ort-web PATH to its folder or .tgz"
        )
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tarball.parent) as tmp:
        r = subprocess.run(
            [npm, "pack", f"onnxruntime-web@{ORT_WEB_VERSION}", "--pack-destination", tmp],
            capture_output=True,
            text=True,
            timeout=600,
        )
        fetched = Path(tmp) / tarball.name
        if r.returncode != 0 or not fetched.is_file():
            raise UsageError(
                f"npm could not fetch onnxruntime-web@{ORT_WEB_VERSION} ({(r.stderr or '').strip()[-300:]}):"
                " pass --ort-web PATH to a copy of the package"
            )
        os.replace(fetched, tarball)
    return tarball


def _from_tarball(path: Path, names: list[str]) -> dict[str, bytes]:
    try:
        with tarfile.open(path, "r:gz") as tar:
            files = {}
            for name in names:
                member = tar.extractfile(f"package/dist/{name}")
                if member is None:
                    raise KeyError(name)
                files[name] = member.read()
            return files
    except (tarfile.TarError, KeyError, OSError, EOFError) as e:
        raise UsageError(f"{str(path)!r} is not onnxruntime-web {ORT_WEB_VERSION}'s npm tarball ({e})") from None


def write_site(
    model: str | os.PathLike[str],
    out: str | os.PathLike[str],
    precision: str = "fp32",
    ort_web: str | os.PathLike[str] | None = None,
    webgpu: bool = True,
    force: bool = False,
) -> Path:
    """Write the static site for `model` (an export folder or a generator .onnx) into `out`, atomically."""
    from dcgan_runtime.engine.generator import Generator  # validates the file, its metadata and its signature

    out = Path(out)
    try:
        check_replaceable(out, SITE_FILES, force, "--out", "dcgan site")
    except ValueError as e:
        raise UsageError(str(e)) from None
    with Generator.load(model, device="cpu", precision=precision, threads=1) as g:
        meta, path = g.metadata, g.path
    parity = _parity_row(path)
    runtime = ort_web_files(ort_web, webgpu)
    page = resources.files("dcgan_runtime.publish").joinpath("site_page")
    static = resources.files("dcgan_runtime.serving").joinpath("explorer_page")
    staging = staging_dir(out)
    try:
        for name in PAGE_FILES:
            atomic_write(staging / name, page.joinpath(name).read_bytes())
        atomic_write(
            staging / "style.css",
            static.joinpath("style.css").read_bytes() + b"\n" + page.joinpath("site.css").read_bytes(),
        )
        atomic_write(staging / "model.onnx", path.read_bytes())
        info = {
            **json.loads(meta.to_json()),
            "file": path.name,
            "parity": parity,
            "onnxruntime_web": ORT_WEB_VERSION,
            "webgpu": webgpu,
        }
        atomic_write(staging / "model.json", json.dumps(info, indent=2).encode())
        for name, data in runtime.items():
            atomic_write(staging / "ort" / name, data)
        install_dir(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _parity_row(path: Path) -> dict[str, object]:
    """The file's row of parity.json beside it, when there is one (the int8 PSNR the page reports)."""
    report = path.parent / "parity.json"
    try:
        rows = read_json(report)["formats"]
        return next((r for r in rows if isinstance(r, dict) and r.get("format") == path.name), {})
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        if not isinstance(e, FileNotFoundError):
            log.warning("ignoring %s: %s", report, first_line(e))
        return {}
