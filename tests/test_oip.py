"""The Open Inference Protocol in dcgan serve (driven by Triton's own client, tritonclient.http), dcgan triton's
model repository (parsed by Triton's ModelConfig protobuf), and the same app as Ray Serve replicas."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from dcgan_runtime import Generator
from dcgan_runtime.latent import latents_from_seeds
from dcgan_runtime.serving.server import make_server

httpclient = pytest.importorskip("tritonclient.http", reason="tritonclient[http] is not installed (the [test] extra)")
from tritonclient.utils import InferenceServerException  # noqa: E402


@pytest.fixture(scope="module")
def g(onnx_model):
    return Generator.load(onnx_model, device="cpu", threads=2)


@pytest.fixture(scope="module")
def server(g):
    s = make_server(g, port=0, quiet=True, model_name="faces")
    thread = s.start()
    yield f"127.0.0.1:{s.server_address[1]}"
    s.shutdown()
    thread.join(10)
    s.server_close()


@pytest.fixture
def client(server):
    c = httpclient.InferenceServerClient(url=server, network_timeout=60)
    yield c
    c.close()


def test_health_and_metadata_as_triton_reports_them(client, g):
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("faces")
    assert not client.is_model_ready("other")
    server = client.get_server_metadata()
    assert server["name"] == "dcgan_runtime" and "binary_tensor_data" in server["extensions"]
    meta = client.get_model_metadata("faces")
    assert meta["platform"] == "onnxruntime_onnx" and meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": "z", "datatype": "FP32", "shape": [-1, 100, 1, 1]}]
    assert meta["outputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 3, 32, 32]}]
    assert client.get_model_metadata("faces", model_version="1") == meta


@pytest.mark.parametrize("binary_in", [True, False])
@pytest.mark.parametrize("binary_out", [True, False])
def test_infer_is_bit_equal_to_decode(client, g, binary_in, binary_out):
    z = np.random.RandomState(5).standard_normal((5, 100, 1, 1)).astype(np.float32)
    x = httpclient.InferInput("z", list(z.shape), "FP32")
    x.set_data_from_numpy(z, binary_data=binary_in)
    result = client.infer("faces", [x], outputs=[httpclient.InferRequestedOutput("image", binary_data=binary_out)],
                          request_id="r1")  # fmt: skip
    image = result.as_numpy("image")
    assert image.dtype == np.float32 and image.shape == (5, 3, 32, 32)
    assert np.array_equal(image, g.decode(z, output="float"))
    assert result.get_response()["id"] == "r1" and result.get_response()["model_version"] == "1"


def test_seed_input_applies_the_seed_rule(client, g):
    seeds = np.array([0, 7, 2**32 - 1], np.int64)
    x = httpclient.InferInput("seed", [3], "INT64")
    x.set_data_from_numpy(seeds)
    image = client.infer("faces", [x]).as_numpy("image")
    assert np.array_equal(image, g.decode(latents_from_seeds(seeds.tolist(), 100), output="float"))


def test_concurrent_clients_are_batched_and_get_their_own_images(server, g):
    def one(i: int) -> bool:
        c = httpclient.InferenceServerClient(url=server, network_timeout=60)
        try:
            z = latents_from_seeds([i, i + 100], 100).reshape(2, 100, 1, 1)
            x = httpclient.InferInput("z", [2, 100, 1, 1], "FP32")
            x.set_data_from_numpy(z)
            return np.array_equal(c.infer("faces", [x]).as_numpy("image"), g.decode(z, output="float"))
        finally:
            c.close()

    with ThreadPoolExecutor(16) as pool:
        assert all(pool.map(one, range(32)))


def test_bad_tensors_are_400_with_a_json_error(client, server):
    cases = [
        (
            httpclient.InferInput("z", [2, 99, 1, 1], "FP32"),
            np.zeros((2, 99, 1, 1), np.float32),
            "expected [N, 100, 1, 1]",
        ),
        (httpclient.InferInput("z", [1, 100, 1, 1], "FP64"), np.zeros((1, 100, 1, 1), np.float64), "must be FP32"),
        (httpclient.InferInput("w", [1], "INT64"), np.zeros(1, np.int64), "unknown input 'w'"),
        (httpclient.InferInput("z", [300, 100, 1, 1], "FP32"), np.zeros((300, 100, 1, 1), np.float32), "1 <= N <= 256"),
        (httpclient.InferInput("z", [1, 100, 1, 1], "FP32"), np.full((1, 100, 1, 1), np.nan, np.float32), "NaN"),
        (httpclient.InferInput("seed", [1], "INT64"), np.array([-1], np.int64), "seeds must be in 0.."),
    ]
    for x, data, words in cases:
        x.set_data_from_numpy(data)
        with pytest.raises(InferenceServerException, match=words.replace("[", r"\[").replace("]", r"\]")) as e:
            client.infer("faces", [x])
        assert e.value.status() == "400"
    with pytest.raises(InferenceServerException, match="unknown model 'dcgan'"):
        x = httpclient.InferInput("seed", [1], "INT64")
        x.set_data_from_numpy(np.array([1], np.int64))
        client.infer("dcgan", [x])


def test_raw_protocol_edges(server):
    import http.client

    def post(body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
        conn = http.client.HTTPConnection(*server.split(":"), timeout=30)
        conn.request("POST", "/v2/models/faces/infer", body, {"Content-Type": "application/json", **headers})
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, json.loads(data)

    good = {"inputs": [{"name": "seed", "shape": [2], "datatype": "INT64", "data": [[3], [4]]}]}
    status, body = post(json.dumps(good).encode(), {})
    assert status == 200 and body["outputs"][0]["shape"] == [2, 3, 32, 32] and len(body["outputs"][0]["data"]) == 6144
    for raw, headers, words in [
        (b"{not json", {}, "not valid JSON"),
        (b'{"inputs": []}', {}, "non-empty"),
        (json.dumps({"inputs": good["inputs"] * 2}).encode(), {}, "given twice"),
        (json.dumps(good).encode(), {"Inference-Header-Content-Length": "99999"}, "but the body is"),
        (
            json.dumps(good).encode() + b"xx",
            {"Inference-Header-Content-Length": str(len(json.dumps(good)))},
            "no input claims",
        ),
        (json.dumps({**good, "outputs": [{"name": "logits"}]}).encode(), {}, "unknown output 'logits'"),
        (
            json.dumps(good).encode(),
            {"Inference-Header-Content-Length": "9" * 5000},
            "is '99999999999999999999', but the body is",
        ),
        (
            json.dumps(
                {"inputs": [{"name": "z", "shape": [1, 100, 1, 1], "datatype": "FP32", "data": [10**400] * 100}]}
            ).encode(),
            {},
            "too large for a float",
        ),
        (
            json.dumps({"inputs": [{"name": "seed", "shape": [2], "datatype": "INT64", "data": [1]}]}).encode(),
            {},
            "has 1 values",
        ),
    ]:
        status, body = post(raw, headers)
        assert status == 400 and words in body["error"], (words, body)
    conn = http.client.HTTPConnection(*server.split(":"), timeout=30)
    conn.request("POST", "/v2/models/faces/infer", json.dumps(good), {"Host": "rebind.example"})
    r = conn.getresponse()
    assert r.status == 403 and "not one this server answers to" in json.loads(r.read())["error"]  # the same guard
    conn.request("GET", "/v2/models/faces/versions/2")
    r = conn.getresponse()
    assert r.status == 404 and "version 1 only" in json.loads(r.read())["error"]
    conn.close()


def test_the_page_api_still_answers_beside_the_protocol(server, g):
    import http.client
    import io

    from PIL import Image

    conn = http.client.HTTPConnection(*server.split(":"), timeout=30)
    conn.request("GET", "/api/generate?seeds=3&grid=1x1")
    r = conn.getresponse()
    image = np.asarray(Image.open(io.BytesIO(r.read())))
    conn.close()
    assert r.status == 200 and np.array_equal(image[2:34, 2:34], g.generate(seeds=[3])[0])


def test_model_name_is_checked(g):
    from dcgan_runtime.serving.app import create_app

    for bad in ("", "a/b", "../x", "x" * 65):
        with pytest.raises(ValueError, match="model name"):
            create_app(g, model_name=bad)


# ---------------------------------------------------------------- dcgan triton


def parse_config(path):
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def test_triton_repository_parses_as_triton_model_config(exported, tmp_path, capsys):
    from dcgan_runtime.cli import main as dcgan
    from dcgan_runtime.metadata import Metadata

    repo = tmp_path / "models"
    (repo / "other").mkdir(parents=True)  # another model in the repository is left alone
    assert dcgan(["triton", str(exported), "--out", str(repo), "--device", "cpu", "--max-batch-size", "64"]) == 0
    assert "wrote" in capsys.readouterr().out
    config = parse_config(repo / "dcgan" / "config.pbtxt")
    assert (config.name, config.platform, config.max_batch_size) == ("dcgan", "onnxruntime_onnx", 64)
    (inp,), (out,) = config.input, config.output
    assert (inp.name, list(inp.dims), inp.data_type) == ("z", [100, 1, 1], 11)  # 11: TYPE_FP32
    assert (out.name, list(out.dims)) == ("image", [3, 32, 32])
    preferred = list(config.dynamic_batching.preferred_batch_size)
    assert preferred and all(1 <= b <= 64 for b in preferred) and preferred == sorted(preferred)
    assert 100 <= config.dynamic_batching.max_queue_delay_microseconds <= 100_000
    assert config.instance_group[0].kind == 2 and config.instance_group[0].count == 1  # KIND_CPU
    assert config.parameters["intra_op_thread_count"].string_value.isdigit()
    assert (repo / "dcgan" / "1" / "model.onnx").read_bytes() == (exported / "generator.onnx").read_bytes()
    assert Metadata.from_json((repo / "dcgan" / "metadata.json").read_text()).latent_dim == 100
    assert (repo / "other").is_dir()
    assert dcgan(["triton", str(exported), "--out", str(repo)]) == 2  # exists
    assert "--force" in capsys.readouterr().err
    args = ["triton", str(exported), "--out", str(repo), "--kind", "gpu", "--model-name", "faces", "--instances", "2"]
    assert dcgan(args) == 0
    gpu = parse_config(repo / "faces" / "config.pbtxt")
    assert gpu.instance_group[0].kind == 1 and gpu.instance_group[0].count == 2  # KIND_GPU
    assert list(gpu.dynamic_batching.preferred_batch_size) == [8, 32, 128]
    assert "intra_op_thread_count" not in gpu.parameters


def test_triton_batching_comes_from_the_tune_cache_when_there_is_one(exported, tmp_path, monkeypatch):
    from dcgan_runtime.engine import tune
    from dcgan_runtime.serving.triton import batch_curve, dynamic_batching

    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    g = Generator.load(exported, device="cpu", threads=2)
    rates, latency, source = batch_curve(g, 64)
    assert source.startswith("measured now") and set(rates) == {1, 2, 4, 8, 16, 32, 64}
    fake = {
        "1x2": {1: 100.0, 2: 180.0, 4: 300.0, 8: 600.0, 16: 900.0, 32: 950.0, 64: 960.0},
        "2x1": {1: 90.0, 64: 1000.0},
    }
    monkeypatch.setattr(tune, "load_measurements", lambda key: fake)
    rates, latency, source = batch_curve(g, 64)
    assert source == "this machine's dcgan tune measurements" and rates[64] == 1000.0 and latency == 10.0
    assert dynamic_batching(rates, latency) == ([16, 64], 10_000)


# ---------------------------------------------------------------- Ray Serve


@pytest.mark.slow
def test_ray_serve_replicas_answer_both_apis_with_the_same_pixels(onnx_model, g, tmp_path):
    import http.client
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    pytest.importorskip("ray.serve", reason="the [ray] extra is not installed")
    from benchmarks.load import free_port, wait_ready

    port = free_port()
    cmd = [sys.executable, "-m", "dcgan_runtime", "serve", str(onnx_model), "--engine", "ray", "--replicas", "2",
           "--port", str(port), "--device", "cpu", "-q"]  # fmt: skip
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - a pipe nobody reads could fill and block the server
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(cmd, cwd=root, stdout=log, stderr=log, start_new_session=True)
    try:
        try:
            wait_ready(port, proc, timeout=180)
        except RuntimeError as e:
            pytest.fail(f"{e}: {(tmp_path / 'serve.log').read_text()[-3000:]}")
        local = make_server(g, port=0, quiet=True)
        thread = local.start()

        def page(where: int, i: int) -> tuple[int, bytes]:
            conn = http.client.HTTPConnection("127.0.0.1", where, timeout=60)
            conn.request("GET", f"/api/generate?seeds={i}-{i + 3}&grid=2x2")
            r = conn.getresponse()
            return r.status, r.read()

        def infer(i: int) -> bool:
            c = httpclient.InferenceServerClient(url=f"127.0.0.1:{port}", network_timeout=60)
            try:
                x = httpclient.InferInput("seed", [2], "INT64")
                x.set_data_from_numpy(np.array([i, i + 1], np.int64))
                return np.array_equal(
                    c.infer("dcgan", [x]).as_numpy("image"), g.decode(g.latents(seeds=[i, i + 1]), output="float")
                )
            finally:
                c.close()

        with ThreadPoolExecutor(32) as pool:
            pages = list(pool.map(lambda i: page(port, i), range(16)))
            oip_ok = list(pool.map(infer, range(16)))
        assert all(status == 200 for status, _ in pages) and all(oip_ok)
        assert [body for _, body in pages] == [page(local.server_address[1], i)[1] for i in range(16)]
        root_dir = Path(__file__).resolve().parents[1]  # the documented client script and the load tool, as for local
        script = [sys.executable, str(root_dir / "docs" / "examples" / "oip_client.py"), f"127.0.0.1:{port}"]
        r = subprocess.run([*script, "--seeds", "0-9", "--out", str(tmp_path / "ray.png")], capture_output=True,
                           text=True, timeout=120)  # fmt: skip
        assert r.returncode == 0, r.stderr
        from dcgan_runtime.cli import main as dcgan

        load = ["bench", "--server", f"http://127.0.0.1:{port}", "--concurrency", "1,4", "--batch-sizes", "2"]
        assert dcgan([*load, "--seconds", "0.5"]) == 0
        assert httpclient.InferenceServerClient(f"127.0.0.1:{port}").get_model_config("dcgan")["max_batch_size"] == 256
        local.shutdown()
        thread.join(10)
        local.server_close()
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)  # Ctrl-C: the application and its local Ray stop
        code = proc.wait(120)
        log.close()
    assert code == 0, (tmp_path / "serve.log").read_text()[-3000:]
    time.sleep(1)
    left = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert left == [], f"processes of the server's session still running: {left}"


def test_the_documented_client_script_gets_what_dcgan_generate_draws(server, onnx_model, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from dcgan_runtime.cli import main as dcgan

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "oip.png"
    script = root / "docs" / "examples" / "oip_client.py"
    r = subprocess.run([sys.executable, str(script), server, "--model", "faces", "--seeds", "0-69", "--out", str(out)],
                       capture_output=True, text=True, cwd=root, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert dcgan(["generate", str(onnx_model), "--seeds", "0-69", "--out", str(tmp_path / "local.png")]) == 0
    assert out.read_bytes() == (tmp_path / "local.png").read_bytes()  # 70 seeds: two requests, one grid


def test_triton_force_replaces_only_what_it_wrote_and_never_follows_a_link(exported, tmp_path, capsys):
    from dcgan_runtime.cli import main as dcgan

    repo = tmp_path / "models"
    args = ["triton", str(exported), "--out", str(repo), "--device", "cpu", "--max-batch-size", "8"]
    assert dcgan(args) == 0
    (repo / "dcgan" / "2").mkdir()
    (repo / "dcgan" / "2" / "model.onnx").write_bytes(b"version two")
    (repo / "dcgan" / "labels.txt").write_text("a\nb\n")
    (repo / "dcgan" / "config.pbtxt").write_text("stale")
    assert dcgan([*args, "--force"]) == 0
    assert (repo / "dcgan" / "2" / "model.onnx").read_bytes() == b"version two"  # another version stays
    assert (repo / "dcgan" / "labels.txt").read_text() == "a\nb\n"
    assert parse_config(repo / "dcgan" / "config.pbtxt").max_batch_size == 8
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / "linked").symlink_to(elsewhere)
    capsys.readouterr()
    assert dcgan(["triton", str(exported), "--out", str(repo), "--model-name", "linked", "--force"]) == 2
    err = capsys.readouterr().err
    assert "is a symlink" in err and err.count("\n") == 1 and list(elsewhere.iterdir()) == []
