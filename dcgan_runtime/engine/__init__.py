"""The engine: load a generator once and run it (`Generator`), on the providers this onnxruntime has.

| module | owns |
|---|---|
| `generator` | `Generator`: load, generate, decode, interpolate, arithmetic, close |
| `session` | building onnxruntime sessions for a device, precision and thread count |
| `providers` | the provider table: a device -> the providers to request, and the check that they run |
| `fetch` | a MODEL that is not a path (`hf://`, https URLs) -> a file in a local cache |
| `tune`, `lanes` | the CPU plan: how each batch size runs fastest on this CPU, and running by it |
| `bench` | `dcgan bench`: latency and throughput per batch size, with the machine named |
| `protocol` | `Decoder`: what shards and servers need of a generator |

>>> from dcgan_runtime.engine import Generator   # doctest: +SKIP
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dcgan_runtime.engine.generator import Generator as Generator


def __getattr__(name: str) -> Any:
    """`Generator` needs onnxruntime: imported on first use, as `dcgan_runtime.Generator` is."""
    if name == "Generator":
        from dcgan_runtime.engine.generator import Generator

        return Generator
    raise AttributeError(f"module 'dcgan_runtime.engine' has no attribute {name!r}")
