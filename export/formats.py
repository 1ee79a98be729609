"""The export formats, as one small validated table (after ultralytics' `export_formats()`).

One row per file: a format (what --formats names) in one precision (fp32 always; fp16 and int8 on
request), with the function that writes it and the one that checks it against the PyTorch model.

>>> [f.filename for f in select("onnx,torchscript", ["fp32", "int8"])]
['generator.onnx', 'generator.int8.onnx', 'generator.torchscript']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from dcgan_runtime.metadata import FILENAMES, Metadata
from export import parity
from export.onnx_export import HalfPrecision, save_onnx, to_onnx
from export.quantize import quantize_int8
from export.rewrite import project_first_layer
from export.torchscript_export import save_torchscript


@dataclass(frozen=True)
class Job:
    """What every writer and checker needs."""

    reference: nn.Module  # the unfolded PyTorch eval model: what parity compares against
    folded: nn.Module  # BatchNorm folded into the transposed convolutions
    meta: Metadata  # fp32 metadata; writers set their own precision
    opset: int  # ONNX opset
    calibration: int = 256  # int8: calibration latents
    int8_form: str = "2x2"  # int8: how stride-2 layers become convolutions

    @property
    def nz(self) -> int:
        return self.meta.latent_dim


Facts = dict[str, Any]  # what a writer learnt that its checker reports (int8: calibration, rewrite error)


def _write_onnx(job: Job, path: Path, precision: str) -> Facts:
    model = project_first_layer(job.folded)  # a copy: .half() below leaves job.folded alone
    model = HalfPrecision(model) if precision == "fp16" else model
    save_onnx(to_onnx(model, dataclasses.replace(job.meta, precision=precision), job.opset), path)
    return {}


def _check_onnx(job: Job, path: Path, precision: str, facts: Facts) -> dict:
    return parity.parity_rows(path.name, parity.onnx_runner(path), job.reference, job.nz, precision)


def _write_int8(job: Job, path: Path) -> Facts:
    proto, facts = quantize_int8(job.folded, job.meta, job.opset, job.calibration, job.int8_form)
    save_onnx(proto, path)
    return facts


def _check_int8(job: Job, path: Path, facts: Facts) -> dict:
    return parity.int8_rows(path.name, parity.onnx_runner(path), job.reference, job.nz, **facts)


def _write_torchscript(job: Job, path: Path) -> Facts:
    save_torchscript(job.folded, job.meta, path)
    return {}


def _check_torchscript(job: Job, path: Path, facts: Facts) -> dict:
    return parity.parity_rows(path.name, parity.torchscript_runner(path), job.reference, job.nz)


@dataclass(frozen=True)
class Format:
    name: str  # what --formats takes
    precision: str  # fp32, or the flag (--fp16, --int8) that adds this file
    filename: str  # written inside --outdir
    description: str  # for --help and the summary table
    write: Callable[[Job, Path], Facts]  # writes the file
    check: Callable[[Job, Path, Facts], dict]  # its parity row for parity.json ("passed": bool)


FORMATS = (
    Format(
        "onnx",
        "fp32",
        FILENAMES["fp32"],
        "ONNX, BatchNorm folded, dynamic batch; run with dcgan_runtime",
        lambda job, p: _write_onnx(job, p, "fp32"),
        lambda job, p, f: _check_onnx(job, p, "fp32", f),
    ),
    Format(
        "onnx",
        "fp16",
        FILENAMES["fp16"],
        "with --fp16: fp16 weights, fp32 in/out; for GPUs",
        lambda job, p: _write_onnx(job, p, "fp16"),
        lambda job, p, f: _check_onnx(job, p, "fp16", f),
    ),
    Format(
        "onnx", "int8", FILENAMES["int8"], "with --int8: int8 static quantization; for CPUs", _write_int8, _check_int8
    ),
    Format(
        "torchscript",
        "fp32",
        "generator.torchscript",
        "TorchScript, frozen; torch.jit.load without this project",
        _write_torchscript,
        _check_torchscript,
    ),
)
NAMES = tuple(dict.fromkeys(f.name for f in FORMATS))
FILES = frozenset(f.filename for f in FORMATS) | {"parity.json"}  # everything an export folder may hold


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
