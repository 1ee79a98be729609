"""The export formats, as one small validated table (after ultralytics' `export_formats()`).

>>> [f.name for f in parse_formats("onnx,torchscript")]
['onnx', 'torchscript']
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    name: str  # what --formats takes
    filename: str  # written inside --outdir
    description: str  # for --help and the summary table
    fp16_variant: str = ""  # file written with --fp16, if the format has one


FORMATS = (
    Format("onnx", "generator.onnx", "ONNX, BatchNorm folded, dynamic batch; run with dcgan_runtime",
           fp16_variant="generator.fp16.onnx"),
    Format("torchscript", "generator.torchscript", "TorchScript, frozen; torch.jit.load without this project"),
)
BY_NAME = {f.name: f for f in FORMATS}


def parse_formats(spec: str) -> list[Format]:
    """'onnx,torchscript' -> the Format rows, in table order; unknown or empty names are an error."""
    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown or not names:
        raise ValueError(f"--formats takes a comma-separated subset of {list(BY_NAME)}, got {spec!r}")
    return [f for f in FORMATS if f.name in names]
