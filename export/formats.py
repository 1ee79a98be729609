"""The export formats, as one small validated table (after ultralytics' `export_formats()`).

One row per file: a format (what --formats names) in one precision (fp32 always; fp16 and int8 on request).

>>> [f.filename for f in select("onnx,torchscript", ["fp32", "int8"])]
['generator.onnx', 'generator.int8.onnx', 'generator.torchscript']
"""
from __future__ import annotations

from dataclasses import dataclass

from dcgan_runtime.metadata import FILENAMES


@dataclass(frozen=True)
class Format:
    name: str  # what --formats takes
    precision: str  # fp32, or the flag (--fp16, --int8) that adds this file
    filename: str  # written inside --outdir
    description: str  # for --help and the summary table


FORMATS = (
    Format("onnx", "fp32", FILENAMES["fp32"], "ONNX, BatchNorm folded, dynamic batch; run with dcgan_runtime"),
    Format("onnx", "fp16", FILENAMES["fp16"], "with --fp16: fp16 weights, fp32 in/out; for GPUs"),
    Format("onnx", "int8", FILENAMES["int8"], "with --int8: int8 static quantization; for CPUs with VNNI"),
    Format("torchscript", "fp32", "generator.torchscript", "TorchScript, frozen; torch.jit.load without this project"),
)
NAMES = tuple(dict.fromkeys(f.name for f in FORMATS))


def select(spec: str, precisions: list[str]) -> list[Format]:
    """'onnx,torchscript' and the precisions asked for -> the rows to write, in table order.

    Unknown or empty names are an error, and so is a precision that none of the named formats has.
    """
    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in NAMES]
    if unknown or not names:
        raise ValueError(f"--formats takes a comma-separated subset of {list(NAMES)}, got {spec!r}")
    rows = [f for f in FORMATS if f.name in names and f.precision in precisions]
    for p in precisions:
        if not any(f.precision == p for f in rows):
            owners = sorted({f.name for f in FORMATS if f.precision == p})
            raise ValueError(f"--{p} is a variant of the {'/'.join(owners)} format: include {owners[0]} in --formats")
    return rows
