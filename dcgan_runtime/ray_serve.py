"""Moved to `dcgan_runtime.serving.ray_serve`: this name re-exports it, with a DeprecationWarning, until dcgan 0.4."""

import warnings

from dcgan_runtime.serving.ray_serve import *  # noqa: F403
from dcgan_runtime.serving.ray_serve import application  # noqa: F401

warnings.warn(
    "dcgan_runtime.ray_serve moved to dcgan_runtime.serving.ray_serve; the old name goes in dcgan 0.4",
    DeprecationWarning,
    stacklevel=2,
)
