"""`precision="bf16"`: an export's generator.bf16.onnx computed in bf16 by OpenVINO's CPU plugin.

The bf16 file holds the fp32 weights in a graph of plain convolutions: `python -m export --bf16`
rewrites each stride-2 transposed convolution exactly as a convolution and a depth-to-space, because
OpenVINO runs transposed convolutions in fp32 whatever precision it is asked for, and convolutions in
bf16 on the AMX or AVX512-BF16 units. On a CPU without those units bf16 would be emulated (slower than
fp32), so it is refused with one ProviderError that says so; it is never a silent fp32 run either:
the compiled model's inference precision is read back and must be bf16.

One compiled model with every thread runs each batch (two single-threaded models side by side ran
at half its rate: OpenVINO pins its threads). Infer requests are pooled, one per concurrent caller,
and write straight into the caller's buffer. Within one CPU and OpenVINO version the same latent
gives the same image whatever the batch (tests/test_bf16.py); against fp32 the images differ by
bf16 rounding (PSNR >= 40 dB, checked at export).

>>> unavailable() is None or unavailable().startswith("precision='bf16'")
True
"""

from __future__ import annotations

import importlib.util
import queue
from pathlib import Path
from typing import Any

import numpy as np

from dcgan_runtime.engine.tune import cpu_info
from dcgan_runtime.errors import MetadataError, ModelError, ProviderError, first_line
from dcgan_runtime.metadata import KEY, Metadata

NAME = "OpenVINO CPU"  # what `Generator.providers` reports for this engine
BF16_UNITS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of CPUs that compute bf16 natively


def bf16_units() -> list[str]:
    """This CPU's bf16 units, by their /proc/cpuinfo flags (empty on CPUs without any).

    >>> set(bf16_units()) <= set(BF16_UNITS)
    True
    """
    flags = cpu_info()[1]
    return [u for u in BF16_UNITS if u in flags]


def unavailable() -> str | None:
    """Why precision='bf16' cannot run on this machine, in one line; None when it can."""
    if not bf16_units():
        name, flags = cpu_info()
        simd = " ".join(sorted(f for f in flags if f.startswith(("avx", "amx")))) or "none"
        return (
            f"precision='bf16' needs a CPU with AMX or AVX512-BF16 units; this one ({name}; avx/amx flags: "
            f"{simd}) would emulate bf16, slower than fp32: use precision='fp32' (or 'int8')"
        )
    if importlib.util.find_spec("openvino") is None:
        return "precision='bf16' runs on OpenVINO, which is not installed: pip install 'dcgan[openvino]'"
    return None


class Compiled:
    """One OpenVINO model compiled for bf16 on `threads` CPU threads; `run_into` is thread-safe."""

    def __init__(self, model: Any, threads: int, path: Path) -> None:
        import openvino as ov

        self._ov, self.path = ov, path
        config = {
            "INFERENCE_PRECISION_HINT": "bf16",
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": 1,
            "INFERENCE_NUM_THREADS": threads,
        }
        try:
            self.compiled = ov.Core().compile_model(model, "CPU", config)
        except Exception as e:  # OpenVINO raises RuntimeError for graphs it cannot compile
            raise ModelError(f"OpenVINO could not compile {str(path)!r}: {first_line(e, 300)}") from None
        runs = self.compiled.get_property("INFERENCE_PRECISION_HINT")
        if runs != ov.Type.bf16:
            raise ProviderError(f"OpenVINO compiled {path.name} for {runs}, not bf16: it does not run bf16 on this CPU")
        self._requests: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def get_providers(self) -> list[str]:
        return [NAME]

    def run_into(self, z: np.ndarray, out: np.ndarray) -> None:
        """Latents (N, latent_dim, 1, 1) float32 -> `out` (N, C, H, W) float32, written in place."""
        ov = self._ov
        try:
            request = self._requests.get_nowait()
        except queue.Empty:
            request = self.compiled.create_infer_request()
        try:
            request.set_input_tensor(ov.Tensor(np.ascontiguousarray(z), shared_memory=True))
            request.set_output_tensor(ov.Tensor(out, shared_memory=True))
            request.infer()
        except Exception as e:  # OpenVINO's own failures are the model's problem, as onnxruntime's are
            raise ModelError(f"OpenVINO could not run {str(self.path)!r}: {first_line(e, 300)}") from None
        self._requests.put(request)


def read(path: Path) -> tuple[Any, Metadata]:
    """The OpenVINO model for `path` and its checked metadata and signature (as onnxruntime's path checks)."""
    import openvino as ov

    try:
        model = ov.Core().read_model(str(path))
    except Exception as e:  # unreadable, truncated or not ONNX
        raise ModelError(
            f"cannot load {str(path)!r} as an ONNX model (truncated, corrupt, or not ONNX): {first_line(e, 300)}"
        ) from None
    if not model.has_rt_info(["framework", KEY]):
        raise MetadataError(
            f"{str(path)!r} has no '{KEY}' metadata: it was not written by `python -m export` "
            "(re-export the checkpoint)"
        )
    meta = Metadata.from_json(model.get_rt_info(["framework", KEY]).astype(str))
    if meta.precision != "bf16":
        raise MetadataError(
            f"{str(path)!r} holds {meta.precision} weights, not bf16: export with --bf16 and load "
            "generator.bf16.onnx, or ask for its precision"
        )
    _check_signature(model, meta, path)
    return model, meta


def _check_signature(model: Any, meta: Metadata, path: Path) -> None:
    import openvino as ov

    want = {
        "input": (meta.input_name, [meta.latent_dim, 1, 1]),
        "output": (meta.output_name, [meta.channels, meta.image_size, meta.image_size]),
    }
    for kind, ports in (("input", model.inputs), ("output", model.outputs)):
        name, dims = want[kind]
        shape = ports[0].get_partial_shape() if len(ports) == 1 else None
        ok = (
            shape is not None
            and name in ports[0].get_names()
            and shape.rank.get_length() == 4
            and shape[0].is_dynamic
            and [d.get_length() if d.is_static else None for d in list(shape)[1:]] == dims
            and ports[0].get_element_type() == ov.Type.f32
        )
        if not ok:
            raise ModelError(
                f"{str(path)!r} does not match its metadata: expected one float32 {kind} {name!r} "
                f"(N, {dims}) with a dynamic batch, got {[(p.get_names(), str(p.get_partial_shape())) for p in ports]}"
            )
