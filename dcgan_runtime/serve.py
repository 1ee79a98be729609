"""Moved to `dcgan_runtime.serving.app`: this name re-exports it, with a DeprecationWarning, until dcgan 0.4."""

import warnings

from dcgan_runtime.serving.app import *  # noqa: F403
from dcgan_runtime.serving.app import create_app  # noqa: F401

warnings.warn(
    "dcgan_runtime.serve moved to dcgan_runtime.serving.app; the old name goes in dcgan 0.4",
    DeprecationWarning,
    stacklevel=2,
)
