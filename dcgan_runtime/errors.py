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


def first_line(e: BaseException, limit: int = 200) -> str:
    """An exception told in one line for a message of ours: its first non-blank line, cut to limit
    characters, or its type's name when it says nothing (`OSError()`).

    >>> first_line(ValueError("bad header\\n  at byte 12"))
    'bad header'
    >>> first_line(OSError())
    'OSError'
    """
    lines = str(e).strip().splitlines()
    return (lines[0].strip() if lines else type(e).__name__)[:limit]
