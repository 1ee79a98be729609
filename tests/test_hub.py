"""Sharing a model: the export's model card, the Hub (offline cache and a loopback Hub), pinned URLs, dcgan push.

No test reaches a network: the Hub cache is laid out as huggingface_hub lays it out, the Hub itself
is a loopback server that answers as the Hub does (the real client downloads from it), and URLs are
served by a loopback http.server.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import huggingface_hub
import numpy as np
import pytest
from huggingface_hub import ModelCard
from PIL import Image

from dcgan_runtime import Generator, ModelError
from dcgan_runtime.cli import main as dcgan
from dcgan_runtime.engine import fetch
from dcgan_runtime.publish import push
from export.__main__ import main as export
from export.fold import fold_batchnorm
from train.checkpoint import load_generator

ROOT = Path(__file__).resolve().parents[1]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def reference(exported: Path, precision: str = "fp32") -> np.ndarray:
    return Generator.load(exported, device="cpu", precision=precision).generate(seeds=range(6))


# ---------------------------------------------------------------- the model card


def test_export_writes_a_model_card_with_the_models_real_figures(tiny_run, exported):
    card = ModelCard.load(exported / "README.md")
    data = card.data
    assert data.pipeline_tag == "unconditional-image-generation" and data.library_name == "onnx"
    assert {"dcgan", "gan", "onnx", "image-size-32"} <= set(data.tags)
    assert data.license == "other" and data.license_name == "license-not-stated"  # never a card without a license
    assert "no license was stated at export" in card.text
    rows = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    best = min((r for r in rows if "swd" in r), key=lambda r: r["swd"])
    (result,) = data.eval_results
    assert result.metric_type == "swd" and result.metric_value == round(best["swd"], 2)
    assert f"best {round(best['swd'], 2)} at step {best['step']}" in card.text
    _, _, g = load_generator(tiny_run)
    assert f"{sum(p.numel() for p in fold_batchnorm(g).parameters()):,} parameters in all" in card.text
    parity = json.loads((exported / "parity.json").read_text())
    for row in parity["formats"]:
        assert f"| `{row['format']}` | {row['precision']} |" in card.text
    for name in ("generator.onnx", "generator.int8.onnx", "generator.fp16.onnx"):
        assert hashlib.sha256((exported / name).read_bytes()).hexdigest() in card.text
    assert "numpy.random.RandomState(seed).standard_normal(latent_dim)" in card.text
    assert "Generator.from_pretrained(" in card.text and "## Training" in card.text and "`ngf` | `8`" in card.text
    sample = np.asarray(Image.open(exported / "sample.png"))
    assert sample.shape == (8 * 34 + 2, 8 * 34 + 2, 3)  # 64 seeds, 8 per row, 32 px + 2 px padding
    assert np.array_equal(sample[2:34, 2:34], reference(exported)[0])  # seed 0 from the exported weights


def test_card_license_and_repo_id_flags(tiny_run, tmp_path):
    out = tmp_path / "export"
    assert (
        export(
            [str(tiny_run), "--outdir", str(out), "--formats", "onnx", "--license", "MIT", "--repo-id", "acme/faces"]
        )
        == 0
    )
    card = ModelCard.load(out / "README.md")
    assert card.data.license == "mit" and 'Generator.from_pretrained("acme/faces")' in card.text
    assert "dcgan generate hf://acme/faces" in card.text and "ORG/NAME" not in card.text
    assert export([str(tiny_run), "--outdir", str(tmp_path / "x"), "--license", "MIT license"]) == 2
    assert export([str(tiny_run), "--outdir", str(tmp_path / "x"), "--repo-id", "no-slash"]) == 2
    assert export([str(tiny_run), "--outdir", str(out), "--formats", "onnx", "--force"]) == 0  # card files replaceable


# ---------------------------------------------------------------- the Hub cache, offline


def lay_out_cache(cache: Path, repo: str, folder: Path, revision: str = "main", commit: str = COMMIT) -> Path:
    """A Hub cache as huggingface_hub writes it: blobs by etag, snapshots/COMMIT/ linking to them, refs/REV."""
    root = cache / f"models--{repo.replace('/', '--')}"
    snapshot = root / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    (root / "blobs").mkdir(exist_ok=True)
    for f in folder.iterdir():
        blob = root / "blobs" / hashlib.sha256(f.read_bytes()).hexdigest()
        shutil.copyfile(f, blob)
        (snapshot / f.name).unlink(missing_ok=True)
        (snapshot / f.name).symlink_to(Path("..") / ".." / "blobs" / blob.name)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / revision).write_text(commit)
    return snapshot


def test_from_pretrained_offline_gives_the_local_files_pixels(exported, tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    lay_out_cache(tmp_path, "acme/faces", exported)
    for precision in ("fp32", "int8"):
        g = Generator.from_pretrained("acme/faces", precision=precision, cache_dir=tmp_path, device="cpu")
        assert g.metadata.precision == precision and "snapshots" in str(g.path)
        assert np.array_equal(g.generate(seeds=range(6)), reference(exported, precision))
    with pytest.raises(ModelError, match="generator.onnx of acme/other is not in the Hub cache .*offline"):
        Generator.from_pretrained("acme/other", cache_dir=tmp_path)
    with pytest.raises(ModelError, match="acme/faces@v2 is not in the Hub cache"):
        Generator.from_pretrained("acme/faces", revision="v2", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="not a Hub repository id"):
        Generator.from_pretrained("../etc", cache_dir=tmp_path)


def test_hf_urls_in_the_cli_offline_with_revisions(exported, tmp_path):
    lay_out_cache(tmp_path / "hub", "acme/faces", exported)
    lay_out_cache(tmp_path / "hub", "acme/faces", exported, revision="v1", commit="f" * 40)
    local = tmp_path / "local.png"
    assert dcgan(["generate", str(exported), "--seeds", "0-8", "--out", str(local), "--device", "cpu"]) == 0
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"), "PATH": "/usr/bin:/bin"}
    for i, spec in enumerate(["hf://acme/faces", "hf://acme/faces@v1"]):
        out = tmp_path / f"hub{i}.png"
        r = run_dcgan(["generate", spec, "--seeds", "0-8", "--out", str(out), "--device", "cpu"], env)
        assert r.returncode == 0, r.stderr
        assert out.read_bytes() == local.read_bytes()
    r = run_dcgan(["info", "hf://acme/faces", "--precision", "int8", "--json"], env)
    assert r.returncode == 0 and json.loads(r.stdout)["metadata"]["precision"] == "int8"
    r = run_dcgan(["info", "hf://acme/missing"], env)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "not in the Hub cache" in r.stderr


def run_dcgan(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = "import sys; from dcgan_runtime.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )


# ---------------------------------------------------------------- a loopback Hub


class FakeHub(BaseHTTPRequestHandler):
    """Answers /ORG/NAME/resolve/REV/FILE as the Hub does: 404s with its X-Error-Code, else the file.

    A hostile Hub sets `commit` or `etag` (the headers it names the file by) or `cut` (bytes it leaves
    off the body it sends)."""

    folder: Path
    requests: list[str]
    commit: str = COMMIT
    etag: str | None = None
    cut: int = 0

    def log_message(self, *args: object) -> None:
        pass

    def answer(self, body: bool) -> None:
        self.requests.append(f"{self.command} {self.path}")
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) != 5 or parts[2] != "resolve":
            self.refuse(404, "RepoNotFound")
            return
        org, name, _, revision, filename = parts
        if f"{org}/{name}" != "acme/faces":
            self.refuse(401, "RepoNotFound")
        elif revision not in ("main", COMMIT):
            self.refuse(404, "RevisionNotFound")
        elif not (self.folder / filename).is_file():
            self.refuse(404, "EntryNotFound")
        else:
            data = (self.folder / filename).read_bytes()
            self.send_response(200)
            self.send_header("X-Repo-Commit", self.commit)
            self.send_header("ETag", f'"{self.etag or hashlib.sha256(data).hexdigest()}"')
            self.send_header("Content-Length", str(len(data) - self.cut))
            self.end_headers()
            if body:
                self.wfile.write(data[: len(data) - self.cut])

    def refuse(self, status: int, code: str) -> None:
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:
        self.answer(False)

    def do_GET(self) -> None:
        self.answer(True)


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler] | partial) -> Iterator[tuple[str, ThreadingHTTPServer]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


HUB_CLIENT = """
import json, sys
import numpy as np
from dcgan_runtime import Generator, ModelError
g = Generator.from_pretrained("acme/faces", device="cpu")
report = {"path": str(g.path), "pixels": g.generate(seeds=range(6)).tobytes().hex(), "errors": []}
for kwargs in ({"repo_id": "acme/nothing"}, {"repo_id": "acme/faces", "revision": "v9"},
               {"repo_id": "acme/faces", "precision": "int8"}):
    try:
        Generator.from_pretrained(**kwargs)
    except ModelError as e:
        report["errors"].append(str(e))
print(json.dumps(report))
"""


def test_a_loopback_hub_downloads_and_names_each_error(exported, tmp_path):
    folder = tmp_path / "repo"
    shutil.copytree(exported, folder)
    (folder / "generator.int8.onnx").unlink()
    handler = type("Hub", (FakeHub,), {"folder": folder, "requests": []})
    with serving(handler) as (url, _):
        env = {"HF_ENDPOINT": url, "HF_HUB_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
        r = subprocess.run(
            [sys.executable, "-c", HUB_CLIENT], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
        )
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert bytes.fromhex(report["pixels"]) == reference(exported).tobytes()
    assert report["path"] == str(tmp_path / "cache" / "models--acme--faces" / "snapshots" / COMMIT / "generator.onnx")
    assert any(r.startswith("HEAD /acme/faces/resolve/main/generator.onnx") for r in handler.requests)
    assert any(r.startswith(f"GET /acme/faces/resolve/{COMMIT}/generator.onnx") for r in handler.requests)
    nothing, revision, precision = report["errors"]
    assert nothing.startswith("no model repository acme/nothing on the Hub")
    assert revision.startswith("acme/faces has no revision 'v9'")
    assert precision.startswith("acme/faces has no generator.int8.onnx: that repository holds no int8 export")
    assert all("\n" not in e for e in report["errors"])


HOSTILE_CLIENT = """
import sys
from dcgan_runtime import Generator, ModelError
try:
    Generator.from_pretrained("acme/faces", device="cpu")
except ModelError as e:
    print(e)
    sys.exit(1)
"""


@pytest.mark.parametrize(
    "answer, says",
    [
        ({"etag": "../../../../escaped"}, "not a content hash: refused"),
        ({"etag": "0" * 64}, "does not match the hash the Hub named for it"),
        ({"commit": "../../../../escaped"}, "not 40 hex digits: refused"),
        ({"commit": "/tmp/escaped"}, "not 40 hex digits: refused"),
    ],
    ids=["etag-path", "etag-wrong", "commit-path", "commit-absolute"],
)
def test_a_hostile_hub_never_names_a_path_and_a_wrong_file_is_not_kept(exported, tmp_path, answer, says):
    handler = type("Hub", (FakeHub,), {"folder": exported, "requests": [], **answer})
    cache = tmp_path / "deep" / "er" / "cache"
    with serving(handler) as (url, _):
        env = {"HF_ENDPOINT": url, "HF_HUB_CACHE": str(cache), "PATH": "/usr/bin:/bin"}
        r = subprocess.run(
            [sys.executable, "-c", HOSTILE_CLIENT], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
        )
    assert r.returncode == 1 and says in r.stdout and r.stdout.count("\n") == 1, r.stdout + r.stderr
    outside = [p for p in tmp_path.rglob("*") if not p.is_relative_to(cache) and p not in cache.parents]
    assert outside == []
    left = [p for p in cache.rglob("*") if p.is_file() and p.stat().st_size > 1000]
    assert left == []  # no model file kept: a later run asks again


def test_a_download_cut_short_is_not_kept_and_the_next_run_fetches_it_whole(exported, tmp_path):
    handler = type("Hub", (FakeHub,), {"folder": exported, "requests": [], "cut": 1000})
    env = {"HF_HUB_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    run = partial(subprocess.run, [sys.executable, "-c", HUB_CLIENT], capture_output=True, text=True, cwd=ROOT)
    with serving(handler) as (url, _):
        r = run(env={**env, "HF_ENDPOINT": url}, timeout=120)
    assert r.returncode != 0 and not list((tmp_path / "cache").rglob("generator.onnx"))
    handler.cut = 0
    with serving(handler) as (url, _):
        r = run(env={**env, "HF_ENDPOINT": url}, timeout=120)
    assert r.returncode == 0, r.stderr
    assert bytes.fromhex(json.loads(r.stdout)["pixels"]) == reference(exported).tobytes()


@pytest.mark.parametrize(
    "spec",
    [
        "hf://acme/faces@../../../../escaped",
        "hf://acme/faces@/tmp/escaped",
        "hf://acme/faces@v1\n",
        "hf://acme/faces\n",
        "hf://acme/faces@refs/../../escaped",
        "hf://acme/faces@.hidden",
        "hf://acme/faces@v1.lock",
    ],
)
def test_revisions_and_repo_ids_that_could_be_paths_are_refused_before_anything_is_written(tmp_path, spec):
    env = {"HF_HUB_CACHE": str(tmp_path / "a" / "b" / "cache"), "HF_ENDPOINT": "http://127.0.0.1:9", "PATH": "/usr/bin"}
    r = run_dcgan(["info", spec, "--device", "cpu"], env)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "is not a Hub model" in r.stderr, r.stderr
    assert list(tmp_path.rglob("*")) == []


def test_from_pretrained_and_push_check_the_revision_too(exported, tmp_path, fake_api):
    for revision in ("../../x", "/etc/x", "v1\n", "a//b", "", "x" * 300):
        with pytest.raises(ValueError, match="is not a branch, tag or commit name"):
            Generator.from_pretrained("acme/faces", revision=revision, cache_dir=tmp_path)
        with pytest.raises(ValueError, match="is not a branch, tag or commit name"):
            push.push(exported, "acme/faces", revision=revision)
    with pytest.raises(ValueError, match="not a Hub repository id"):
        Generator.from_pretrained("acme/faces\n", cache_dir=tmp_path)
    assert fetch.check_revision("refs/pr/12") == "refs/pr/12" and fetch.check_revision(COMMIT) == COMMIT
    assert list(tmp_path.rglob("*")) == []


# ---------------------------------------------------------------- URLs


def test_pinned_urls_download_once_and_a_wrong_pin_keeps_nothing(exported, tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "cache"))
    digest = hashlib.sha256((exported / "generator.onnx").read_bytes()).hexdigest()
    seen: list[str] = []

    class Files(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            seen.append(self.path)

    with serving(partial(Files, directory=str(exported))) as (url, _):
        model = f"{url}/generator.onnx"
        calls: list[tuple[int, int | None]] = []
        path = fetch.fetch_url(f"{model}#sha256={digest}", progress=lambda done, total: calls.append((done, total)))
        assert calls[-1] == (path.stat().st_size, path.stat().st_size)
        g = Generator.load(f"{model}#sha256={digest}", device="cpu")  # the cached copy, checked against the pin
        assert np.array_equal(g.generate(seeds=range(6)), reference(exported)) and len(seen) == 1
        assert Generator.load(model, device="cpu").path == path and len(seen) == 1  # unpinned: cached, no request
        wrong, int8 = "0" * 64, hashlib.sha256((exported / "generator.int8.onnx").read_bytes()).hexdigest()
        with pytest.raises(
            ModelError, match=f"does not match its pin: sha256 {int8}, pinned {wrong}; nothing was kept"
        ):
            fetch.fetch_url(f"{url}/generator.int8.onnx#sha256={wrong}")
        assert not fetch.url_cache_path(f"{url}/generator.int8.onnx").exists()
        assert not list(fetch.url_cache_path(f"{url}/generator.int8.onnx").parent.glob(".*"))  # no temp file left
        size = (exported / "generator.fp16.onnx").stat().st_size
        with pytest.raises(ModelError, match=f"is {size:,} bytes, more than the 1,000 a model may be"):
            fetch.fetch_url(f"{url}/generator.fp16.onnx", max_bytes=1000)  # refused from Content-Length
        with pytest.raises(ModelError, match="HTTP 404"):
            Generator.load(f"{url}/nothing.onnx")
        path.write_bytes(b"tampered")  # a cached copy that no longer matches its pin is fetched again
        assert fetch.fetch_url(f"{model}#sha256={digest}").read_bytes() == (exported / "generator.onnx").read_bytes()


def test_plain_http_is_refused_off_loopback_and_bad_pins_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    with pytest.raises(ValueError, match="plain http: .*--allow-http"):
        Generator.load("http://example.invalid/generator.onnx")  # refused before any connection
    for bad in ("https://h/g.onnx#md5=00", "https://h/g.onnx#sha256=abc", "ftp://h/g.onnx"):
        with pytest.raises(ValueError):
            fetch.fetch_url(bad)
    with pytest.raises(ModelError, match="cannot download https://127.0.0.1:9/g.onnx"):
        Generator.load("https://127.0.0.1:9/g.onnx")  # port 9 (discard): refused at once


def test_a_download_that_declares_no_size_is_capped_as_it_streams(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))

    class Endless(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()  # no Content-Length: the body ends when the connection closes
            for _ in range(64):
                self.wfile.write(b"x" * 4096)

    with serving(Endless) as (url, _):
        with pytest.raises(ModelError, match="sent more than the 100,000 bytes a model may be"):
            fetch.fetch_url(f"{url}/generator.onnx", max_bytes=100_000)
    assert not [p for p in (tmp_path / "url").rglob("*") if p.is_file()]  # nothing kept, no temp file


def test_redirects_to_plain_http_elsewhere_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))

    class Redirect(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", "http://example.invalid/generator.onnx")
            self.send_header("Content-Length", "0")
            self.end_headers()

    with serving(Redirect) as (url, _):
        with pytest.raises(ValueError, match="plain http"):
            fetch.fetch_url(f"{url}/generator.onnx")


def test_cli_names_url_and_hub_errors_in_one_line(capsys):
    for model, code, words in [
        ("http://example.invalid/g.onnx", 2, "plain http"),
        ("hf://acme/faces@", 2, "is not a Hub model"),
        ("https://127.0.0.1:9/generator.onnx", 1, "cannot download https://127.0.0.1:9/generator.onnx"),
    ]:
        assert dcgan(["info", model]) == code
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err and "does not exist" not in err


# ---------------------------------------------------------------- dcgan push


@pytest.fixture
def fake_api(monkeypatch):
    calls: list[tuple[str, dict]] = []

    class Api:
        def __init__(self, **kwargs: object) -> None:
            calls.append(("init", kwargs))

        def create_repo(self, repo_id: str, **kwargs: object) -> None:
            calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))

        def create_branch(self, repo_id: str, **kwargs: object) -> None:
            calls.append(("create_branch", {"repo_id": repo_id, **kwargs}))

        def upload_folder(self, **kwargs: object) -> str:
            calls.append(("upload_folder", kwargs))
            return f"https://hub.invalid/{kwargs['repo_id']}/commit/1"

    monkeypatch.setattr(huggingface_hub, "HfApi", Api)
    return calls


def test_push_uploads_a_complete_export(exported, fake_api, capsys):
    assert dcgan(["push", str(exported), "acme/faces", "--private", "--revision", "v1"]) == 0
    assert "pushed" in capsys.readouterr().out
    names = [name for name, _ in fake_api]
    assert names == ["init", "create_repo", "create_branch", "upload_folder"]
    assert fake_api[1][1]["private"] is True and fake_api[2][1]["branch"] == "v1"
    upload = fake_api[3][1]
    assert upload["folder_path"] == str(exported) and upload["repo_id"] == "acme/faces" and upload["revision"] == "v1"


def test_push_refuses_an_incomplete_or_failed_export(exported, tmp_path, fake_api, capsys):
    cases = []
    for damage in ("README.md", "parity.json", "generator.onnx", "failed", "bad card"):
        folder = tmp_path / damage.replace(" ", "_")
        shutil.copytree(exported, folder)
        if damage == "failed":
            report = json.loads((folder / "parity.json").read_text())
            (folder / "parity.json").write_text(json.dumps({**report, "passed": False}))
        elif damage == "bad card":
            (folder / "README.md").write_text("---\n: [unclosed\n---\nhello\n")
        else:
            (folder / damage).unlink()
        cases.append(folder)
    for folder in cases:
        assert dcgan(["push", str(folder), "acme/faces"]) == 2, folder
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "dcgan push: error:" in err
    assert dcgan(["push", str(exported), "not a repo"]) == 2
    foreign = tmp_path / "no_metadata"
    shutil.copytree(exported, foreign)
    import onnx

    model = onnx.load(str(foreign / "generator.onnx"))
    del model.metadata_props[:]  # an ONNX file without the dcgan metadata
    onnx.save(model, str(foreign / "generator.onnx"))
    assert dcgan(["push", str(foreign), "acme/faces"]) == 1
    assert "has no 'dcgan' metadata" in capsys.readouterr().err
    assert [name for name, _ in fake_api] == []  # nothing was uploaded


def test_download_progress_on_a_terminal(capsys):
    from dcgan_runtime.cli.console import download_progress as _progress

    _progress(7_000_000, 14_000_000)
    _progress(14_000_000, 14_000_000)
    err = capsys.readouterr().err
    assert "\rdownloading  50% 7.0 of 14.0 MB" in err and err.endswith("100% 14.0 of 14.0 MB\n")


class Refusing(BaseHTTPRequestHandler):
    """A Hub that answers 401 (no or a bad token) to everything."""

    def log_message(self, *args: object) -> None:
        pass

    def answer(self) -> None:
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_HEAD = answer


def test_push_without_network_or_token_is_one_line(exported, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HOME": str(tmp_path / "hf")}
    closed = run_dcgan(["push", str(exported), "acme/faces"], {**env, "HF_ENDPOINT": "http://127.0.0.1:9"})
    assert closed.returncode == 1 and closed.stderr.count("\n") == 1, closed.stderr
    assert "cannot push to acme/faces on the Hub" in closed.stderr and "check the network" in closed.stderr
    with serving(Refusing) as (url, _):
        refused = run_dcgan(["push", str(exported), "acme/faces"], {**env, "HF_ENDPOINT": url})
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert "hf auth login, or set HF_TOKEN" in refused.stderr
