"""The exceptions: one family for model problems; bad arguments are plain ValueError (UsageError on a command line)."""


class ModelError(Exception):
    """The model file cannot be used: missing, not ONNX, truncated, or not a DCGAN generator we can read."""


class MetadataError(ModelError):
    """The model's `dcgan` metadata is missing, malformed, or from an incompatible format version."""


class ProviderError(ModelError):
    """The requested execution provider (CUDA) is not what actually runs."""


class ClosedError(RuntimeError):
    """The Generator was closed: it takes no new work (calls running when it closed still finish)."""


class UsageError(ValueError):
    """A command line asks for something impossible: the CLIs exit with code 2."""
