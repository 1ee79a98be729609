"""`export.export`: a checkpoint -> a checked export folder (generator.onnx, generator.torchscript, optional
fp16/int8 ONNX files, parity.json and a model card), the library entry point `python -m export` is a thin
command over.

Everything is written into a temporary folder beside `outdir` and moved into place only when every file
passed its parity check: `outdir` always holds one complete, checked export.

>>> result = export("runs/faces/checkpoints/best.pt", "runs/faces/export", int8=True)   # doctest: +SKIP
>>> [p.name for p in result.files]                                                     # doctest: +SKIP
['generator.onnx', 'generator.torchscript', 'generator.int8.onnx']
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dcgan_runtime import __version__ as runtime_version
from dcgan_runtime.files import atomic_write, check_replaceable, install_dir, staging_dir
from dcgan_runtime.metadata import Metadata
from export import card
from export.fold import fold_batchnorm, recalibrate_batchnorm
from export.formats import FILES, Format, Job, select
from export.onnx_export import MIN_OPSET
from train.checkpoint import load_generator


@dataclass(frozen=True)
class Options:
    formats: str = "onnx,torchscript"  # comma-separated: onnx, torchscript (export/formats.py)
    fp16: bool = False  # also generator.fp16.onnx (fp16 weights, fp32 in/out; for GPUs)
    int8: bool = False  # also generator.int8.onnx (int8 weights and activations, for CPUs)
    bf16: bool = False  # also generator.bf16.onnx (fp32 weights as plain convolutions; bf16 on AMX/AVX512-BF16 CPUs)
    opset: int = MIN_OPSET  # the ONNX opset
    calibration: int = 256  # with int8: latents that calibrate the activation ranges
    int8_form: str = "2x2"  # with int8: how stride-2 layers become convolutions (export/rewrite.py FORMS)
    recalibrate_bn: int = 0  # recompute BatchNorm statistics from this many batches of 64 latents first
    license: str | None = None  # the model card's license id (mit, apache-2.0, ...); None: "other", not stated
    repo_id: str | None = None  # the Hub repository the card's examples name
    force: bool = False  # replace the export `outdir` already holds


@dataclass(frozen=True)
class ExportResult:
    outdir: Path
    files: list[Path]  # the model files written, in format order
    report: dict[str, Any]  # parity.json's content: every file's check against the PyTorch model
    sizes: dict[str, int]  # each model file's size in bytes


class ParityError(Exception):
    """The exported files do not reproduce the model: nothing was exported (`report` says why)."""

    def __init__(self, message: str, report: dict[str, Any], sizes: dict[str, int]) -> None:
        super().__init__(message)
        self.report, self.sizes = report, sizes


def export(checkpoint: str | Path, outdir: str | Path, **options: Any) -> ExportResult:
    """Export `checkpoint` (a checkpoint file, or a run directory: its last.pt) into `outdir`.

    `options` are `Options`' fields. A bad option is a ValueError and a bad checkpoint a CheckpointError,
    before anything is written; a failed parity check is a ParityError (its report is kept beside `outdir`,
    and `outdir` is unchanged); a full disk or read-only folder an OSError.
    """
    o, outdir = Options(**options), Path(outdir)
    rows = check_options(o, outdir)
    job, report, quality = build_job(Path(checkpoint), o)
    staging = staging_dir(outdir)
    try:
        for fmt in rows:
            facts = fmt.write(job, staging / fmt.filename)
            report["formats"].append(fmt.check(job, staging / fmt.filename, facts))
        report["passed"] = all(r["passed"] for r in report["formats"])
        sizes = {fmt.filename: (staging / fmt.filename).stat().st_size for fmt in rows}
        text = json.dumps(report, indent=2).encode()
        if not report["passed"]:
            _refuse(outdir, text, report, sizes)
        atomic_write(staging / "parity.json", text)
        license = o.license.lower() if o.license else None
        card.write_card(staging, job.folded, job.meta, report, quality, license=license, repo_id=o.repo_id)
        install_dir(staging, outdir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(outdir, [outdir / fmt.filename for fmt in rows], report, sizes)


def _refuse(outdir: Path, text: bytes, report: dict[str, Any], sizes: dict[str, int]) -> None:
    """A failed parity check: its report beside the export (or in an empty `outdir`), and a ParityError."""
    failed = (
        outdir / "parity.json"
        if not outdir.exists() or not any(outdir.iterdir())
        else outdir.parent / f"{outdir.name}.parity-failed.json"
    )
    atomic_write(failed, text)
    unchanged = f" and {outdir} is unchanged" if failed.parent != outdir else ""
    raise ParityError(
        f"parity failed (see {failed}): the exported files do not reproduce the model; nothing was exported{unchanged}",
        report,
        sizes,
    )


def weights_sha256(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()


def check_options(o: Options, outdir: Path) -> list[Format]:
    """Bad options (ValueError, named as the command's flags), found before anything is loaded; the formats."""
    rows = select(o.formats, ["fp32"] + ["fp16"] * o.fp16 + ["int8"] * o.int8 + ["bf16"] * o.bf16)
    if o.opset < MIN_OPSET:
        raise ValueError(f"--opset must be {MIN_OPSET} or later, got {o.opset}")
    if not 0 <= o.recalibrate_bn <= 10_000:
        raise ValueError(f"--recalibrate-bn must be in 0..10000, got {o.recalibrate_bn}")
    if not 1 <= o.calibration <= 100_000:
        raise ValueError(f"--calibration must be in 1..100000 latents, got {o.calibration}")
    if o.license is not None and not re.fullmatch(r"[a-z0-9][a-z0-9.+-]{0,63}", o.license.lower()):
        raise ValueError(f"--license must be a license id such as mit or apache-2.0, got {o.license!r}")
    if o.repo_id is not None:
        from dcgan_runtime.engine.fetch import check_repo_id

        try:
            check_repo_id(o.repo_id)
        except ValueError:
            raise ValueError(f"--repo-id must look like ORG/NAME, got {o.repo_id[:120]!r}") from None
    check_replaceable(outdir, FILES | {card.CARD, card.SAMPLE}, o.force, "--outdir", "export")
    return rows


def build_job(source: Path, o: Options) -> tuple[Job, dict, dict[str, Any]]:
    """Load the checkpoint, fold BatchNorm, and describe the export (CheckpointError on a bad checkpoint)."""
    state, cfg, g = load_generator(source)
    torch.manual_seed(0)
    g = recalibrate_batchnorm(g, o.recalibrate_bn) if o.recalibrate_bn else g.eval()
    folded = fold_batchnorm(g)
    meta = Metadata(
        latent_dim=cfg.nz,
        image_size=cfg.image_size,
        channels=cfg.channels,
        precision="fp32",
        bn_folded=True,
        bn_recalibrated=bool(o.recalibrate_bn),
        bn_recalibration_batches=o.recalibrate_bn,
        dataset=str(state.get("dataset", cfg.data)),
        training_steps=int(state["step"]),
        training_config=cfg.to_dict(),
        producer=f"dcgan-export {runtime_version} (torch {torch.__version__})",
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        weights_sha256=weights_sha256(folded),
    )
    report = {
        "checkpoint": str(source),
        "step": meta.training_steps,
        "reference": "unfolded PyTorch eval model",
        "bn_recalibrated": meta.bn_recalibrated,
        "formats": [],
    }
    job = Job(g, folded, meta, o.opset, o.calibration, o.int8_form)
    return job, report, card.quality(source, state)
