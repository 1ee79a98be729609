"""Inference latency and throughput of one exported 64x64 generator, per backend and batch size."""

from __future__ import annotations

import time

import pytest
import torch

from benchmarks.conftest import THREADS, latents, measure, record


def test_onnxruntime_cpu(benchmark, model_dir, batch_size, rounds):
    from dcgan_runtime import Generator

    g = Generator.load(model_dir / "export" / "generator.onnx", device="cpu", threads=THREADS, tune=False)
    z = latents(batch_size)
    record(benchmark, "dcgan_runtime, built-in plan", batch_size, g.providers[0])
    measure(benchmark, g.decode, z, output="float", batch_size=batch_size, rounds=rounds)


def test_onnxruntime_tuned_cpu(benchmark, tuned, batch_size, rounds):
    """The same file with the plan `dcgan tune` measured on this machine at the start of the run."""
    z = latents(batch_size)
    record(benchmark, "dcgan_runtime, tuned", batch_size, tuned.providers[0], plan=tuned.plan.describe())
    measure(benchmark, tuned.decode, z, output="float", batch_size=batch_size, rounds=rounds)


def test_onnxruntime_plain_cpu(benchmark, model_dir, batch_size, rounds):
    """What a user gets from onnxruntime alone: one session with default options, session.run."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = THREADS
    session = ort.InferenceSession(str(model_dir / "export" / "generator.onnx"), so, ["CPUExecutionProvider"])
    z = latents(batch_size)
    record(benchmark, "onnxruntime, plain session", batch_size, "CPUExecutionProvider")
    measure(benchmark, session.run, None, {"z": z}, rounds=rounds)


@pytest.mark.parametrize("hint", ["f32", "default"])
def test_openvino_cpu(benchmark, model_dir, batch_size, rounds, hint):
    """OpenVINO on the same .onnx with the latency hint, in fp32 ("OpenVINO CPU") and with its own default
    precision (bf16 on CPUs with AMX or AVX512-BF16), named with what it ran."""
    ov = pytest.importorskip("openvino", reason="OpenVINO is not installed (pip install 'dcgan[bench]')")
    core = ov.Core()
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": THREADS}
    if hint == "f32":
        config["INFERENCE_PRECISION_HINT"] = "f32"
    compiled = core.compile_model(core.read_model(str(model_dir / "export" / "generator.onnx")), "CPU", config)
    runs = str(compiled.get_property("INFERENCE_PRECISION_HINT")).split("'")[1]
    request = compiled.create_infer_request()
    z = latents(batch_size)
    name = "OpenVINO CPU" if hint == "f32" else f"OpenVINO CPU, its default ({runs})"
    record(benchmark, name, batch_size, f"openvino {ov.__version__.split('-')[0]}")
    measure(benchmark, request.infer, {0: z}, rounds=rounds)


def test_bf16_cpu(benchmark, model_dir, batch_size, rounds):
    """The runtime's bf16 file on OpenVINO (precision="bf16"), where the CPU has AMX or AVX512-BF16."""
    from dcgan_runtime import Generator
    from dcgan_runtime.engine.openvino_cpu import unavailable

    if (why := unavailable()) is not None:
        pytest.skip(why)
    g = Generator.load(model_dir / "export", precision="bf16", device="cpu", threads=THREADS)
    z = latents(batch_size)
    record(benchmark, "dcgan_runtime bf16 (OpenVINO CPU)", batch_size, g.providers[0])
    measure(benchmark, g.decode, z, output="float", batch_size=batch_size, rounds=rounds)


def test_onnxruntime_int8_cpu(benchmark, model_dir, batch_size, rounds):
    from dcgan_runtime import Generator

    g = Generator.load(model_dir / "export", precision="int8", device="cpu", threads=THREADS, tune=False)
    z = latents(batch_size)
    record(benchmark, "dcgan_runtime int8 (onnxruntime CPU)", batch_size, g.providers[0])
    measure(benchmark, g.decode, z, output="float", batch_size=batch_size, rounds=rounds)


def test_torchscript_cpu(benchmark, model_dir, batch_size, rounds):
    from export.torchscript_export import load_torchscript

    module, _ = load_torchscript(model_dir / "export" / "generator.torchscript")
    z = torch.from_numpy(latents(batch_size))
    record(benchmark, "TorchScript CPU", batch_size, "torch cpu")
    with torch.inference_mode():
        measure(benchmark, module, z, rounds=rounds)


def test_eager_cpu(benchmark, eager_model, batch_size, rounds):
    z = torch.from_numpy(latents(batch_size))
    record(benchmark, "PyTorch eager CPU", batch_size, "torch cpu")
    with torch.inference_mode():
        measure(benchmark, eager_model, z, rounds=rounds)


def test_torch_compile_cpu(benchmark, eager_model, batch_size, rounds):
    compiled = torch.compile(eager_model, dynamic=False)
    z = torch.from_numpy(latents(batch_size))
    with torch.inference_mode():
        t = time.perf_counter()
        compiled(z)  # compiles for this batch size
        compile_s = time.perf_counter() - t
        record(benchmark, "torch.compile CPU", batch_size, "torch cpu (inductor)", compile_s=round(compile_s, 2))
        measure(benchmark, compiled, z, rounds=rounds)


# ---------------------------------------------------------------- CUDA variants (GPU machines only)


def _needs_cuda():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine: the CUDA variants run where one is")


def _cuda_timer(fn):
    def run(*args):
        out = fn(*args)
        torch.cuda.synchronize()
        return out

    return run


def test_eager_cuda(benchmark, eager_model, batch_size, rounds):
    _needs_cuda()
    import copy

    model = copy.deepcopy(eager_model).cuda()
    z = torch.from_numpy(latents(batch_size)).cuda()
    record(benchmark, "PyTorch eager CUDA", batch_size, "torch cuda")
    with torch.inference_mode():
        measure(benchmark, _cuda_timer(model), z, rounds=rounds)


def test_torchscript_cuda(benchmark, model_dir, batch_size, rounds):
    _needs_cuda()
    from export.torchscript_export import load_torchscript

    module, _ = load_torchscript(model_dir / "export" / "generator.torchscript", map_location="cuda")
    z = torch.from_numpy(latents(batch_size)).cuda()
    record(benchmark, "TorchScript CUDA", batch_size, "torch cuda")
    with torch.inference_mode():
        measure(benchmark, _cuda_timer(module), z, rounds=rounds)


@pytest.mark.parametrize("io_binding", [True, False], ids=["iobinding", "run"])
@pytest.mark.parametrize("variant", ["generator.onnx", "generator.fp16.onnx"])
def test_onnxruntime_cuda(benchmark, model_dir, batch_size, rounds, variant, io_binding):
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime has no CUDA provider here: install onnxruntime-gpu ([gpu]) on a GPU machine")
    from dcgan_runtime import Generator

    g = Generator.load(model_dir / "export" / variant, device="cuda")  # raises rather than fall back to CPU
    z = latents(batch_size)
    how = "IO binding" if io_binding else "session.run"
    record(benchmark, f"onnxruntime CUDA ({variant}, {how})", batch_size, g.providers[0])
    if io_binding:
        measure(benchmark, g.decode, z, output="float", batch_size=batch_size, rounds=rounds)
    else:
        measure(benchmark, g.session.run, None, {"z": z}, rounds=rounds)
