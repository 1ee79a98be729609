"""The runtime's exceptions: one family for model problems; bad arguments are plain ValueError."""


class ModelError(Exception):
    """The model file cannot be used: missing, not ONNX, truncated, or not a DCGAN generator we can read."""


class MetadataError(ModelError):
    """The model's `dcgan` metadata is missing, malformed, or from an incompatible format version."""


class ProviderError(ModelError):
    """The requested execution provider (CUDA) is not what actually runs."""
