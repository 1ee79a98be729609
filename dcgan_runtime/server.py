"""Moved to `dcgan_runtime.serving.server`: this name re-exports it, with a DeprecationWarning, until dcgan 0.4."""

import warnings

from dcgan_runtime.serving.server import *  # noqa: F403
from dcgan_runtime.serving.server import make_server  # noqa: F401

warnings.warn(
    "dcgan_runtime.server moved to dcgan_runtime.serving.server; the old name goes in dcgan 0.4",
    DeprecationWarning,
    stacklevel=2,
)
