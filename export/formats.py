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
from export.rewrite import phase_rewrite, project_first_layer
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
    return parity.psnr_rows(path.name, parity.onnx_runner(path), job.reference, job.nz, "int8", **facts)


# The bf16 file's graph: "3x3" phase convolutions ran faster than "2x2" under OpenVINO bf16 on an AMX Xeon
# (2,449 against 2,205 images/s at batch 64, 1,334 against 1,079 at batch 1; docs/benchmarks.md).
BF16_FORM = "3x3"


def _write_bf16(job: Job, path: Path) -> Facts:
    model, diff = phase_rewrite(job.folded, BF16_FORM, job.nz)
    facts = {
        "scheme": "OpenVINO CPU, inference precision bf16 (AMX or AVX512-BF16); weights stored fp32",
        "graph": f"stride-2 ConvTranspose as {BF16_FORM} Conv + depth-to-space; first layer Gemm",
        "rewrite": BF16_FORM,
        "rewrite_max_abs": diff,
    }
    meta = dataclasses.replace(job.meta, precision="bf16", quantization={k: facts[k] for k in ("scheme", "graph")})
    save_onnx(to_onnx(model, meta, job.opset), path)
    return facts


def _check_bf16(job: Job, path: Path, facts: Facts) -> dict:
    """bf16 through dcgan_runtime where this CPU computes it (PSNR against the PyTorch model); elsewhere the
    graph in fp32 through onnxruntime (the rewrite is exact), and the row says bf16 was not run."""
    from dcgan_runtime.engine.openvino_cpu import unavailable

    why = unavailable()
    if why is None:
        return parity.psnr_rows(path.name, parity.onnx_runner(path), job.reference, job.nz, "bf16", **facts)
    row = parity.parity_rows(path.name, parity.plain_onnx_runner(path), job.reference, job.nz)
    return {**row, "precision": "bf16", "bf16_run": False, "why": why, **facts}


def _write_torchscript(job: Job, path: Path) -> Facts:
    save_torchscript(job.folded, job.meta, path)
    return {}


def _check_torchscript(job: Job, path: Path, facts: Facts) -> dict:
    return parity.parity_rows(path.name, parity.torchscript_runner(path), job.reference, job.nz)


@dataclass(frozen=True)
class Format:
    name: str  # what --formats takes
    precision: str  # fp32, or the flag (--fp16, --int8, --bf16) that adds this file
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
        "onnx",
        "bf16",
        FILENAMES["bf16"],
        "with --bf16: plain convolutions that OpenVINO runs in bf16; for CPUs with AMX or AVX512-BF16",
        _write_bf16,
        _check_bf16,
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
