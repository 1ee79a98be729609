"""dcgan serve as Triton's and KServe's tools see it: the inference protocol over gRPC (tritonclient.grpc, sync
and asyncio), model configuration, repository index, statistics, Prometheus /metrics, and `dcgan bench
--server` driving HTTP and gRPC at concurrency 1-8. All on loopback, each server stopped."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from dcgan_runtime import Generator
from dcgan_runtime.cli import main
from dcgan_runtime.latent import latents_from_seeds
from dcgan_runtime.serving.server import make_server

grpcclient = pytest.importorskip("tritonclient.grpc", reason="tritonclient[grpc] is not installed (the [grpc] extra)")
import grpc  # noqa: E402
import tritonclient.http as httpclient  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from tritonclient.grpc import service_pb2, service_pb2_grpc  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402


@pytest.fixture(scope="module")
def g(onnx_model):
    return Generator.load(onnx_model, device="cpu", threads=2)


@pytest.fixture(scope="module")
def server(g):
    s = make_server(g, port=0, quiet=True, grpc_port=0, max_inflight=64)  # above any test's concurrency
    thread = s.start()
    yield s
    s.shutdown()
    thread.join(10)
    s.server_close()


@pytest.fixture
def grpc_url(server):
    return f"127.0.0.1:{server.grpc_address[1]}"


@pytest.fixture
def http_url(server):
    return f"127.0.0.1:{server.server_address[1]}"


@contextlib.contextmanager
def busy(server):
    """The in-flight cap reached, as by that many requests at once (once the server's own count of the
    requests just answered is back to 0: it drops after the answer is sent)."""
    deadline = time.monotonic() + 10
    while server.app.inflight and time.monotonic() < deadline:
        time.sleep(0.01)
    server.app.inflight = server.app.limits.max_inflight
    try:
        yield
    finally:
        server.app.inflight = 0


def z_input(z: np.ndarray):
    inp = grpcclient.InferInput("z", list(z.shape), "FP32")
    inp.set_data_from_numpy(z)
    return inp


def test_grpc_answers_what_triton_answers(grpc_url, g):
    c = grpcclient.InferenceServerClient(grpc_url)
    assert c.is_server_live() and c.is_server_ready() and c.is_model_ready("dcgan") and c.is_model_ready("dcgan", "1")
    assert "statistics" in c.get_server_metadata().extensions
    meta = c.get_model_metadata("dcgan", as_json=True)
    assert meta["inputs"][0] == {"name": "z", "datatype": "FP32", "shape": ["-1", "100", "1", "1"]}
    assert meta["outputs"][0]["shape"] == ["-1", "3", "32", "32"]
    z = latents_from_seeds(range(5), 100).reshape(5, 100, 1, 1)
    result = c.infer("dcgan", [z_input(z)], request_id="r1")
    assert result.get_response().id == "r1"
    assert np.array_equal(result.as_numpy("image"), g.decode(z.reshape(5, 100), output="float"))  # bit-equal
    seeds = grpcclient.InferInput("seed", [2], "INT64")
    seeds.set_data_from_numpy(np.array([3, 7], np.int64))
    by_seed = c.infer("dcgan", [seeds]).as_numpy("image")
    assert np.array_equal(by_seed, g.generate(seeds=[3, 7], output="float"))


def test_typed_contents_are_read_as_raw_ones(grpc_url, g):
    """A client that sends contents.fp32_contents instead of raw bytes (KServe's does) gets the same images."""
    z = latents_from_seeds([4], 100)
    request = service_pb2.ModelInferRequest(model_name="dcgan")
    t = request.inputs.add(name="z", datatype="FP32", shape=[1, 100, 1, 1])
    t.contents.fp32_contents.extend(z.reshape(-1).tolist())
    with grpc.insecure_channel(grpc_url) as channel:
        answer = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=30)
    got = np.frombuffer(answer.raw_output_contents[0], "<f4").reshape(list(answer.outputs[0].shape))
    assert np.array_equal(got, g.decode(z, output="float"))


@pytest.mark.parametrize(
    "shape,data,model,code",
    [
        ([3, 99, 1, 1], np.zeros((3, 99, 1, 1), np.float32), "dcgan", grpc.StatusCode.INVALID_ARGUMENT),
        ([1, 100, 1, 1], np.full((1, 100, 1, 1), np.nan, np.float32), "dcgan", grpc.StatusCode.INVALID_ARGUMENT),
        ([257, 100, 1, 1], np.zeros((257, 100, 1, 1), np.float32), "dcgan", grpc.StatusCode.INVALID_ARGUMENT),
        ([1, 100, 1, 1], np.zeros((1, 100, 1, 1), np.float32), "other", grpc.StatusCode.NOT_FOUND),
    ],
)
def test_bad_requests_get_the_status_a_triton_client_expects(grpc_url, shape, data, model, code):
    c = grpcclient.InferenceServerClient(grpc_url)
    inp = grpcclient.InferInput("z", shape, "FP32")
    inp.set_data_from_numpy(data)
    with pytest.raises(InferenceServerException) as e:
        c.infer(model, [inp])
    assert e.value.status() == str(code) and e.value.message()


def test_unknown_version_busy_and_oversized_are_not_internal(server, grpc_url):
    c = grpcclient.InferenceServerClient(grpc_url)
    z = np.zeros((1, 100, 1, 1), np.float32)
    with pytest.raises(InferenceServerException) as e:
        c.infer("dcgan", [z_input(z)], model_version="2")
    assert e.value.status() == str(grpc.StatusCode.NOT_FOUND)
    with busy(server), pytest.raises(InferenceServerException) as e:
        c.infer("dcgan", [z_input(z)])
    assert e.value.status() == str(grpc.StatusCode.RESOURCE_EXHAUSTED) and "busy" in e.value.message()
    big = np.zeros((2000, 100, 1, 1), np.float32)  # 800 kB is fine, 2 MB + is past the body limit
    with pytest.raises(InferenceServerException) as e:
        c.infer("dcgan", [z_input(np.concatenate([big] * 4))])
    assert e.value.status() == str(grpc.StatusCode.RESOURCE_EXHAUSTED)


def test_asyncio_client_and_http_together_are_bit_equal(grpc_url, http_url, g):
    import tritonclient.grpc.aio as aioclient

    zs = [latents_from_seeds(range(s, s + 3), 100).reshape(3, 100, 1, 1) for s in range(0, 48, 3)]

    async def many() -> list[np.ndarray]:
        c = aioclient.InferenceServerClient(grpc_url)
        try:
            results = await asyncio.gather(*(c.infer("dcgan", [z_input(z)]) for z in zs))
            return [r.as_numpy("image") for r in results]
        finally:
            await c.close()

    def over_http(z: np.ndarray) -> np.ndarray:
        c = httpclient.InferenceServerClient(http_url)
        inp = httpclient.InferInput("z", list(z.shape), "FP32")
        inp.set_data_from_numpy(z)
        return c.infer("dcgan", [inp]).as_numpy("image")

    with ThreadPoolExecutor(4) as pool:  # HTTP requests in flight while the asyncio ones run: one batcher
        http_futures = [pool.submit(over_http, z) for z in zs]
        grpc_images = asyncio.run(many())
    want = [g.decode(z.reshape(3, 100), output="float") for z in zs]
    assert all(np.array_equal(a, b) for a, b in zip(grpc_images, want))
    assert all(np.array_equal(f.result(), b) for f, b in zip(http_futures, want))


def test_config_index_and_stats_over_both_protocols(exported, server, grpc_url, http_url, tmp_path):
    from google.protobuf import json_format, text_format
    from tritonclient.grpc import model_config_pb2

    h, c = httpclient.InferenceServerClient(http_url), grpcclient.InferenceServerClient(grpc_url)
    served = json_format.ParseDict(h.get_model_config("dcgan"), model_config_pb2.ModelConfig())
    assert served == c.get_model_config("dcgan").config  # one document over HTTP and gRPC
    assert main(["triton", str(exported), "--out", str(tmp_path), "--device", "cpu", "--threads", "2"]) == 0
    written = text_format.Parse((tmp_path / "dcgan" / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    for field in ("name", "platform", "max_batch_size", "input", "output", "instance_group", "parameters"):
        assert getattr(served, field) == getattr(written, field), field  # what dcgan triton writes
    assert served.HasField("dynamic_batching") and written.HasField("dynamic_batching")
    assert h.get_model_repository_index() == [{"name": "dcgan", "version": "1", "state": "READY", "reason": ""}]
    assert c.get_model_repository_index(as_json=True)["models"][0]["state"] == "READY"
    before = h.get_inference_statistics("dcgan")["model_stats"][0]
    z = latents_from_seeds(range(4), 100).reshape(4, 100, 1, 1)
    for _ in range(3):
        c.infer("dcgan", [z_input(z)])
    after = c.get_inference_statistics("dcgan", as_json=True)["model_stats"][0]
    success = int(after["inference_stats"]["success"]["count"]) - before["inference_stats"]["success"]["count"]
    assert success == 3 and int(after["inference_count"]) - before["inference_count"] == 12
    assert sum(int(b["compute_infer"]["count"]) for b in after["batch_stats"]) == int(after["execution_count"])
    assert (
        int(after["inference_stats"]["queue"]["count"]) >= 3
        and int(after["inference_stats"]["compute_infer"]["ns"]) > 0
    )
    with pytest.raises(InferenceServerException):
        h.get_inference_statistics("other")


def test_prometheus_metrics_parse_and_count(server, grpc_url, http_url):
    def scrape() -> dict[str, dict]:
        text = urllib.request.urlopen(f"http://{http_url}/metrics", timeout=10).read().decode()
        return {f.name: {(s.name, tuple(sorted(s.labels.items()))): s.value for s in f.samples}
                for f in text_string_to_metric_families(text)}  # fmt: skip

    before = scrape()
    c = grpcclient.InferenceServerClient(grpc_url)
    c.infer("dcgan", [z_input(latents_from_seeds(range(6), 100).reshape(6, 100, 1, 1))])
    with pytest.raises(InferenceServerException):
        c.infer("dcgan", [z_input(np.zeros((1, 99, 1, 1), np.float32))])
    with busy(server):  # inference refused, the scrape still answered
        after = scrape()
    images = ("dcgan_images_generated_total", ())
    assert after["dcgan_images_generated"][images] - before["dcgan_images_generated"].get(images, 0) == 6
    ok = ("dcgan_requests_total", (("outcome", "success"), ("protocol", "grpc")))
    bad = ("dcgan_requests_total", (("outcome", "invalid"), ("protocol", "grpc")))
    assert after["dcgan_requests"][ok] - before["dcgan_requests"].get(ok, 0) == 1
    assert after["dcgan_requests"][bad] - before["dcgan_requests"].get(bad, 0) == 1
    for name in ("dcgan_queue_seconds", "dcgan_compute_seconds", "dcgan_batch_size", "dcgan_request_seconds"):
        assert any(k[0] == f"{name}_bucket" for k in after[name]), name
    assert ("dcgan_inflight_requests", ()) in after["dcgan_inflight_requests"]


@pytest.mark.parametrize("scheme", ["http", "grpc"])
def test_load_tool_drives_the_server_at_concurrency_1_to_8(server, scheme, capsys):
    port = server.server_address[1] if scheme == "http" else server.grpc_address[1]
    url = f"{scheme}://127.0.0.1:{port}"
    args = ["bench", "--server", url, "--concurrency", "1,8", "--batch-sizes", "1,4", "--seconds", "0.5", "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    rows = report["results"]
    assert [(r["batch_size"], r["concurrency"]) for r in rows] == [(1, 1), (1, 8), (4, 1), (4, 8)]
    for r in rows:
        assert r["protocol"] == scheme and r["errors"] == 0 and r["requests"] >= 1 and r["images_per_s"] > 0
        assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"]
    assert main(["bench", "--server", url, "--model-name", "nope", "--seconds", "0.2"]) == 1
    assert "nope" in capsys.readouterr().err
    assert main(["bench", "--server", "ftp://x:1"]) == 2 and main(["bench"]) == 2


@pytest.mark.slow
def test_memory_stays_flat_over_thousands_of_grpc_requests(server, grpc_url):
    import resource

    c = grpcclient.InferenceServerClient(grpc_url)
    good = z_input(latents_from_seeds(range(2), 100).reshape(2, 100, 1, 1))
    bad = z_input(np.zeros((1, 99, 1, 1), np.float32))

    def burst(n: int) -> None:
        for i in range(n):
            if i % 2:
                c.infer("dcgan", [good])
            else:
                with pytest.raises(InferenceServerException):
                    c.infer("dcgan", [bad])

    burst(500)  # warm: allocator pools, gRPC buffers
    start = rss_mb()
    burst(3000)
    grown = rss_mb() - start
    assert grown < 40, f"resident memory grew {grown:.1f} MB over 3,000 requests"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0


def rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


KSERVE_CLIENT = """
import asyncio, sys, numpy as np
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig
http_port, grpc_port, z_file, want_file = sys.argv[1:]
z, want = np.load(z_file), np.load(want_file)

async def main():
    rest = InferenceRESTClient(RESTConfig(protocol="v2", timeout=60))
    inp = InferInput("z", list(z.shape), "FP32")
    inp.set_data_from_numpy(z, binary_data=True)
    got = await rest.infer(f"http://127.0.0.1:{http_port}", InferRequest(model_name="dcgan", infer_inputs=[inp]),
                           model_name="dcgan")
    await rest.close()
    typed = InferInput("z", list(z.shape), "FP32")
    typed.set_data_from_numpy(z, binary_data=False)  # contents.fp32_contents over gRPC
    client = InferenceGRPCClient(f"127.0.0.1:{grpc_port}")
    by_grpc = await client.infer(InferRequest(model_name="dcgan", infer_inputs=[typed]))
    await client.close()
    same = [np.array_equal(r.outputs[0].as_numpy(), want) for r in (got, by_grpc)]
    print("rest", same[0], "grpc", same[1])

asyncio.run(main())
"""


@pytest.mark.slow
def test_kserve_sdk_clients_get_the_same_images(onnx_model, g, tmp_path):
    """KServe's v2 REST and gRPC clients, in their own process (KServe's and Triton's gRPC definitions share
    protobuf names, so one process cannot import both), against `dcgan serve --grpc-port` in another."""
    import importlib.util
    import socket
    import subprocess
    import sys
    import time

    if importlib.util.find_spec("kserve") is None:  # found, not imported: its definitions would clash here
        pytest.skip("the KServe SDK is not installed (the [test] extra installs it)")
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    z = latents_from_seeds(range(3), 100).reshape(3, 100, 1, 1)
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "want.npy", g.decode(z.reshape(3, 100), output="float"))
    cmd = [sys.executable, "-m", "dcgan_runtime", "serve", str(onnx_model), "--device", "cpu", "--threads", "1",
           "--port", str(ports[0]), "--grpc-port", str(ports[1]), "-q"]  # fmt: skip
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/v2/health/ready", timeout=2)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, server.stderr.read().decode()[-2000:]
                time.sleep(0.2)
        client = [
            sys.executable,
            "-c",
            KSERVE_CLIENT,
            *map(str, ports),
            str(tmp_path / "z.npy"),
            str(tmp_path / "want.npy"),
        ]
        out = subprocess.run(client, capture_output=True, text=True, timeout=120)
        assert out.stdout.split() == ["rest", "True", "grpc", "True"], out.stderr[-2000:]
    finally:
        server.terminate()
        server.wait(20)
