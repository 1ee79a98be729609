"""Export a trained DCGAN generator to ONNX and TorchScript: `export.export(checkpoint, outdir, ...)`
(export/pipeline.py), or `python -m export --help`.

>>> from export import export                                      # doctest: +SKIP
>>> export("runs/faces/checkpoints/best.pt", "runs/faces/export")  # doctest: +SKIP
"""

from typing import Any


def __getattr__(name: str) -> Any:
    """`export` (and its result types) are imported on first use: the pipeline loads torch."""
    if name in ("export", "ExportResult", "Options", "ParityError"):
        from export import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'export' has no attribute {name!r}")
