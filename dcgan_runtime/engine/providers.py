"""Execution providers: what to request for a `device`, checked against what this onnxruntime build has.

Strictness is one rule: when the caller names a device other than "auto", or lists providers
themselves, the first provider requested must be the one that runs; anything else is a
ProviderError at load, never a quiet CPU run. Names onnxruntime does not know, or that this build
lacks, are refused before a session is built (onnxruntime would print a banner and use the CPU).

>>> resolve("cpu", [CUDA, CPU])
(['CPUExecutionProvider'], False)
>>> resolve("cuda:1", [CUDA, CPU])
([('CUDAExecutionProvider', {'device_id': 1}), 'CPUExecutionProvider'], True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dcgan_runtime import files
from dcgan_runtime.errors import ProviderError

CUDA, CPU, TENSORRT = "CUDAExecutionProvider", "CPUExecutionProvider", "TensorrtExecutionProvider"
Provider = str | tuple[str, dict[str, Any]]  # a name, or (name, options), as onnxruntime takes them


def name(p: Provider) -> str:
    return p if isinstance(p, str) else p[0]


def tensorrt_options(device_id: int) -> dict[str, Any]:
    """TensorRT with its engine and timing caches in $DCGAN_CACHE/tensorrt: the first load of a model
    builds engines (minutes); later loads of the same model on the same GPU read them back."""
    cache = str(files.cache_dir() / "tensorrt")
    return {
        "device_id": device_id,
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": cache,
        "trt_timing_cache_enable": "True",
        "trt_timing_cache_path": cache,
    }


def _cuda(index: str) -> Provider:
    return (CUDA, {"device_id": int(index)}) if index else CUDA


@dataclass(frozen=True)
class Device:
    """One kind of `device=`: what to request for it, and what to say when it does not load."""

    request: Callable[[str], list[Provider]]  # the device index as written ("" for none) -> providers, in order
    gpu: bool  # runs on a GPU (CPU plans and tuning do not apply)
    hint: str = ""  # added to the error when the first provider requested is not the one that runs


# Every device a caller may name (besides "auto"): a new execution provider is one entry here.
DEVICES: dict[str, Device] = {
    "cpu": Device(lambda index: [CPU], gpu=False),
    "cuda": Device(
        lambda index: [_cuda(index), CPU], gpu=True, hint="check the CUDA/cuDNN libraries that onnxruntime-gpu needs"
    ),
    "tensorrt": Device(
        lambda index: [(TENSORRT, tensorrt_options(int(index or 0))), _cuda(index), CPU],
        gpu=True,
        hint="check the TensorRT, CUDA and cuDNN libraries that onnxruntime-gpu needs",
    ),
}
DEVICE_NAMES = "'auto', " + ", ".join(f"'{k}'" + ("" if not d.gpu else f", '{k}:N'") for k, d in DEVICES.items())


def on_gpu(device: str) -> bool:
    """Whether `device` (as `resolve` takes it) runs on a GPU.

    >>> on_gpu("tensorrt:1"), on_gpu("cpu")
    (True, False)
    """
    entry = DEVICES.get(device.partition(":")[0])
    return entry is not None and entry.gpu


def hint(provider: str) -> str:
    """What to check when `provider` was requested first and did not load (empty when nothing is known)."""
    for kind in DEVICES.values():
        if name(kind.request("")[0]) == provider and kind.hint:
            return f" ({kind.hint})"
    return ""


def resolve(device: str, available: Sequence[str]) -> tuple[list[Provider], bool]:
    """Providers to request for `device` and whether the first of them must be the one that runs."""
    if device == "auto":
        return ([CUDA, CPU] if CUDA in available else [CPU]), False
    kind, colon, index = device.partition(":") if isinstance(device, str) else ("", "", "")
    entry = DEVICES.get(kind)
    if entry is None or (colon and not (entry.gpu and index.isascii() and index.isdigit())):
        raise ValueError(f"device must be one of {DEVICE_NAMES}, got {device!r}")
    wanted = entry.request(index)
    if not entry.gpu:
        return wanted, False
    missing = [name(p) for p in wanted if name(p) not in available]
    if missing:
        raise ProviderError(
            f"device={device!r}, but this onnxruntime has no {' or '.join(missing)} (available: "
            f"{list(available)}): pip install 'dcgan[gpu]' (onnxruntime-gpu, not together with onnxruntime), "
            "or use device='cpu'"
        )
    return wanted, True


def check(providers: object, available: Sequence[str], known: Sequence[str]) -> list[Provider]:
    """A caller's own `providers` list, each entry a name or (name, options) this build has."""
    if isinstance(providers, (str, bytes)) or not isinstance(providers, Sequence) or not providers:
        raise ValueError(
            f"providers must be a non-empty list of provider names or (name, options) pairs, got {providers!r}"
            + (f": did you mean [{providers!r}]?" if isinstance(providers, str) else "")
        )
    checked: list[Provider] = []
    for p in providers:
        if isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], dict):
            checked.append((p[0], dict(p[1])))
        elif isinstance(p, str):
            checked.append(p)
        else:
            raise ValueError(f"a provider must be a name or a (name, options dict) pair, got {p!r}")
        n = name(checked[-1])
        if n not in known:
            raise ProviderError(f"{n!r} is not an onnxruntime execution provider (this build has {list(available)})")
        if n not in available:
            raise ProviderError(
                f"this onnxruntime build has no {n} (it has {list(available)}): install the onnxruntime "
                "package built with it, or request one of those"
            )
    return checked
