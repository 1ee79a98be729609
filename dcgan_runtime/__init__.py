"""dcgan_runtime: run an exported DCGAN generator with numpy and onnxruntime (no torch).

>>> from dcgan_runtime import Generator, save_grid        # doctest: +SKIP
>>> g = Generator.load("generator.onnx")                  # doctest: +SKIP
>>> save_grid(g.generate(seeds=range(64)), "grid.png")    # doctest: +SKIP
"""
try:
    import onnxruntime  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised in a subprocess test
    raise ImportError("dcgan_runtime needs onnxruntime: pip install 'dcgan[cpu]' "
                      "(or 'dcgan[gpu]' for CUDA; never both)") from e

from dcgan_runtime import latent
from dcgan_runtime.errors import MetadataError, ModelError, ProviderError
from dcgan_runtime.generator import Generator
from dcgan_runtime.images import make_grid, save_gif, save_grid, save_image, to_uint8
from dcgan_runtime.metadata import Metadata

__version__ = "0.1.0"
__all__ = ["Generator", "Metadata", "ModelError", "MetadataError", "ProviderError", "latent",
           "make_grid", "save_grid", "save_gif", "save_image", "to_uint8", "__version__"]
