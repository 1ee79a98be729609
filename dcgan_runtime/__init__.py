"""dcgan_runtime: run an exported DCGAN generator with numpy and onnxruntime (no torch).

The pure modules (latent math and seeds, images, files, metadata, parsing) import without
onnxruntime, so training and export share them; `Generator` needs onnxruntime and says so.

>>> from dcgan_runtime import Generator, save_grid        # doctest: +SKIP
>>> g = Generator.load("generator.onnx")                  # doctest: +SKIP
>>> save_grid(g.generate(seeds=range(64)), "grid.png")    # doctest: +SKIP
"""

from typing import TYPE_CHECKING, Any

from dcgan_runtime import latent
from dcgan_runtime.errors import ClosedError, MetadataError, ModelError, ProviderError
from dcgan_runtime.images import make_grid, save_gif, save_grid, save_image, to_pil, to_uint8
from dcgan_runtime.metadata import Metadata

__version__ = "0.2.0"
__all__ = [
    "ClosedError",
    "Generator",
    "Metadata",
    "ModelError",
    "MetadataError",
    "ProviderError",
    "latent",
    "make_grid",
    "save_grid",
    "save_gif",
    "save_image",
    "to_pil",
    "to_uint8",
    "__version__",
]

if TYPE_CHECKING:
    from dcgan_runtime.engine.generator import Generator


def __getattr__(name: str) -> Any:
    """`Generator` is imported on first use: it is the one piece that needs onnxruntime."""
    if name == "Generator":
        from dcgan_runtime.engine.generator import Generator

        globals()["Generator"] = Generator  # later lookups (and pdoc) find it in the module
        return Generator
    raise AttributeError(f"module 'dcgan_runtime' has no attribute {name!r}")
