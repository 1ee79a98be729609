import subprocess
import sys
import threading

import numpy as np
import onnx
import pytest
import torch

import dcgan_runtime
from dcgan_runtime import Generator, ProviderError
from dcgan_runtime.engine.providers import CPU, CUDA
from dcgan_runtime.engine.providers import resolve as resolve_providers
from support import sessions_end_up_on_cpu
from train.checkpoint import load_checkpoint
from train.model import Generator as TorchGenerator


@pytest.fixture(scope="module")
def g(onnx_model):
    return Generator.load(onnx_model, device="cpu", threads=2)  # 2 workers: batches of 4+ run split


def test_import_never_loads_torch():
    code = "import sys, dcgan_runtime; sys.exit(1 if any(m.split('.')[0] == 'torch' for m in sys.modules) else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_import_without_onnxruntime_says_what_to_install():
    # the pure modules import without onnxruntime (training uses them); the Generator says what to install
    code = (
        "import sys; sys.modules['onnxruntime'] = None\n"
        "import dcgan_runtime, dcgan_runtime.latent, dcgan_runtime.images, dcgan_runtime.files, dcgan_runtime.parse\n"
        "try:\n    from dcgan_runtime import Generator\nexcept ImportError as e:\n    print(e)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert "[cpu]" in out and "[gpu]" in out


def test_load_reports_what_runs(g):
    assert g.providers == [CPU] and g.requested_providers == [CPU]
    assert (g.metadata.latent_dim, g.metadata.image_size, g.metadata.channels) == (100, 32, 3)


def test_seed_rule_and_determinism(g):
    z = g.latents(seeds=[3, 7])
    assert np.array_equal(z[0], np.random.RandomState(3).standard_normal(100).astype(np.float32))
    assert np.array_equal(g.latents(1, seed=7), z[1:])  # row 0 of a seed's draw is that seed's latent
    assert g.latents(16, seed=0).shape == (16, 100)
    assert np.array_equal(g.generate(seeds=[3, 7]), g.generate(seeds=[3, 7]))


def test_batching_never_changes_results(g):
    together = g.generate(seeds=[3, 5])
    assert np.array_equal(together[0], g.generate(seeds=[3])[0])
    assert np.array_equal(together[1], g.generate(seeds=[5])[0])
    many = g.generate(seeds=range(9))  # split across the two single-threaded workers
    assert all(np.array_equal(many[i], g.generate(seeds=[i])[0]) for i in range(9))  # one image: the wide session
    z = g.latents(37, seed=1)
    a, b = g.decode(z, output="float", batch_size=64), g.decode(z, output="float", batch_size=5)
    assert np.array_equal(a, b)


def test_decode_matches_the_pytorch_twin(g, tiny_run):
    state = load_checkpoint(tiny_run / "checkpoints" / "last.pt")
    twin = TorchGenerator(100, 8, 3, 32)
    twin.load_state_dict(state["generator_ema"])  # what export ships: the run's average of G
    z = g.latents(64, seed=9)
    with torch.no_grad():
        want = twin.eval()(torch.from_numpy(z).view(64, 100, 1, 1)).numpy()
    got = g.decode(z, output="float")
    assert got.shape == (64, 3, 32, 32) and np.abs(got - want).max() <= 1e-5
    imgs = g.decode(z)
    assert imgs.dtype == np.uint8 and imgs.shape == (64, 32, 32, 3)
    assert np.abs(imgs.astype(int) - dcgan_runtime.to_uint8(want).astype(int)).max() <= 1


def test_interpolate_and_arithmetic(g):
    z0, z1 = g.latents(seeds=[1, 2])
    frames = g.interpolate(z0, z1, steps=6)
    assert frames.shape == (6, 32, 32, 3)
    assert np.array_equal(frames[0], g.decode(z0[None])[0]) and np.array_equal(frames[-1], g.decode(z1[None])[0])
    a, b, c = (g.latents(seeds=s) for s in ([1, 2, 3], [4, 5, 6], [7, 8, 9]))
    out = g.arithmetic(plus=[a, c], minus=[b], neighbours=8)
    assert out.shape == (9, 32, 32, 3)
    assert np.array_equal(out[0], g.decode((a.mean(0) - b.mean(0) + c.mean(0))[None])[0])


def test_threads_give_serial_results(g):
    seeds = [[i, i + 1, i + 2][: 1 + i % 3] for i in range(8)]
    serial = [g.generate(seeds=s) for s in seeds]
    results, errors = [None] * 8, []

    def work(i):
        try:
            for _ in range(5):
                results[i] = g.generate(seeds=seeds[i])
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and all(np.array_equal(r, s) for r, s in zip(results, serial))


def test_huge_n_runs_in_bounded_batches(g, monkeypatch):
    seen = []
    real = g._run
    monkeypatch.setattr(g, "_run", lambda z, out: (seen.append(len(z)), real(z, out))[1])
    g.generate(300, seed=0, batch_size=128)
    assert seen == [128, 128, 44]


def set_metadata(src, dst, value):
    model = onnx.load(str(src))
    for p in model.metadata_props:
        if p.key == "dcgan":
            if value is None:
                model.metadata_props.remove(p)
            else:
                p.value = value
    onnx.save(model, str(dst))


def test_provider_selection_logic():
    assert resolve_providers("auto", [CPU]) == ([CPU], False)
    assert resolve_providers("auto", [CUDA, CPU]) == ([CUDA, CPU], False)
    assert resolve_providers("cuda", [CUDA, CPU]) == ([CUDA, CPU], True)
    with pytest.raises(ProviderError, match=r"dcgan\[gpu\]"):
        resolve_providers("cuda", [CPU])
    with pytest.raises(ValueError, match="device"):
        resolve_providers("tpu", [CPU])


def test_cuda_that_falls_back_to_cpu_raises(onnx_model, monkeypatch, caplog):
    # onnxruntime-gpu without a usable GPU runs on CPU quietly: we must not.
    import onnxruntime as ort

    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    sessions_end_up_on_cpu(monkeypatch)
    with pytest.raises(ProviderError, match="runs on"):
        Generator.load(onnx_model, device="cuda")
    with caplog.at_level("WARNING", logger="dcgan_runtime"):
        g = Generator.load(onnx_model, device="auto")  # auto may fall back, but never silently
    assert [r.levelname for r in caplog.records] == ["WARNING"] and "running on CPUExecutionProvider" in caplog.text
    assert g.providers == [CPU] and g.requested_providers == [CUDA, CPU]


@pytest.mark.slow
def test_under_load_16_threads_match_serial_and_memory_is_flat(onnx_model):
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", str(onnx_model), "--threads", "16", "--calls", "40"],
        capture_output=True,
        text=True,
        check=True,
    )
    import json

    r = json.loads(out.stdout)
    assert r["calls"] == 640 and r["errors"] == 0 and r["mismatches"] == 0, r
    assert r["rss_growth"] <= 0.10, r  # resident memory after the run within 10% of after the first 50 calls
