"""Export a trained generator: `python -m export RUN_DIR_OR_CHECKPOINT --outdir DIR`.

Folds BatchNorm into the transposed convolutions, writes generator.onnx and generator.torchscript
(both carrying the same `dcgan` metadata JSON), optionally fp16 and int8 ONNX variants, parity.json,
and a model card (README.md with sample.png) that makes DIR a ready Hugging Face Hub repository
(`dcgan push DIR ORG/NAME`). Everything is written into a temporary folder beside DIR and moved
into place only when every file passed its parity check: DIR always holds one complete, checked export.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

from dcgan_runtime import __version__ as runtime_version
from dcgan_runtime.files import atomic_write, check_replaceable, install_dir, staging_dir
from dcgan_runtime.metadata import Metadata
from export import card, parity
from export.fold import fold_batchnorm, recalibrate_batchnorm
from export.formats import FILES, FORMATS, Format, Job, select
from export.onnx_export import MIN_OPSET
from export.rewrite import FORMS
from train.checkpoint import CheckpointError, load_generator

EXAMPLES = (
    """formats:
"""
    + "".join(f"  {f.name:<12} {f.filename:<22} {f.description}\n" for f in FORMATS)
    + """
examples:
  python -m export runs/faces/checkpoints/best.pt --outdir runs/faces/export   # the best model by SWD
  python -m export runs/faces --outdir runs/faces/export                        # a run directory: its last.pt
  python -m export runs/faces/checkpoints/step004000.pt --outdir out --formats onnx --fp16
  python -m export runs/faces --outdir out --formats onnx --int8 --calibration 512
  python -m export runs/faces --outdir out --recalibrate-bn 32 --force
  python -m export runs/faces/checkpoints/best.pt --outdir out --license mit --repo-id acme/faces
"""
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m export",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "source", help="a checkpoint file (e.g. RUN/checkpoints/best.pt) or a run directory (uses checkpoints/last.pt)"
    )
    p.add_argument("--outdir", required=True, help="folder for the exported files")
    p.add_argument("--formats", default="onnx,torchscript", help="comma-separated (default onnx,torchscript)")
    p.add_argument(
        "--opset", type=int, default=MIN_OPSET, help=f"ONNX opset, {MIN_OPSET} or later (default {MIN_OPSET})"
    )
    p.add_argument(
        "--fp16", action="store_true", help="also write generator.fp16.onnx (fp16 weights, fp32 in/out; for GPUs)"
    )
    p.add_argument(
        "--int8", action="store_true", help="also write generator.int8.onnx (int8 weights and activations, for CPUs)"
    )
    p.add_argument(
        "--calibration",
        type=int,
        default=256,
        metavar="N",
        help="with --int8: latents (seeds 1000000 on) that calibrate the activation ranges (default 256)",
    )
    p.add_argument(
        "--int8-form",
        choices=list(FORMS),
        default="2x2",
        help="with --int8: how stride-2 layers become convolutions (default 2x2; 3x3 does 2.25x the "
        "arithmetic in a plainer graph)",
    )
    p.add_argument(
        "--recalibrate-bn",
        type=int,
        default=0,
        metavar="N",
        help="recompute BatchNorm statistics from N batches of 64 fresh latents before folding",
    )
    p.add_argument(
        "--license",
        metavar="ID",
        help="the model card's license, a Hub license id such as mit, apache-2.0, cc-by-4.0 (default: none stated)",
    )
    p.add_argument("--repo-id", metavar="ORG/NAME", help="the Hub repository the card's examples name (dcgan push)")
    p.add_argument("--force", action="store_true", help="replace the export an --outdir already holds")
    return p.parse_args(argv)


def weights_sha256(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()


def check_args(args: argparse.Namespace) -> list[Format]:
    """Usage errors (exit 2), found before anything is loaded; the format rows to write."""
    rows = select(args.formats, ["fp32"] + ["fp16"] * args.fp16 + ["int8"] * args.int8)
    if args.opset < MIN_OPSET:
        raise ValueError(f"--opset must be {MIN_OPSET} or later, got {args.opset}")
    if not 0 <= args.recalibrate_bn <= 10_000:
        raise ValueError(f"--recalibrate-bn must be in 0..10000, got {args.recalibrate_bn}")
    if not 1 <= args.calibration <= 100_000:
        raise ValueError(f"--calibration must be in 1..100000 latents, got {args.calibration}")
    if args.license is not None and not re.fullmatch(r"[a-z0-9][a-z0-9.+-]{0,63}", args.license.lower()):
        raise ValueError(f"--license must be a license id such as mit or apache-2.0, got {args.license!r}")
    if args.repo_id is not None:
        from dcgan_runtime.hub import check_repo_id

        try:
            check_repo_id(args.repo_id)
        except ValueError:
            raise ValueError(f"--repo-id must look like ORG/NAME, got {args.repo_id[:120]!r}") from None
    check_replaceable(Path(args.outdir), FILES | {card.CARD, card.SAMPLE}, args.force, "--outdir", "export")
    return rows


def build_job(args: argparse.Namespace) -> tuple[Job, dict, dict[str, Any]]:
    """Load the checkpoint, fold BatchNorm, and describe the export (exit 1 on a bad checkpoint)."""
    state, cfg, g = load_generator(Path(args.source))
    torch.manual_seed(0)
    g = recalibrate_batchnorm(g, args.recalibrate_bn) if args.recalibrate_bn else g.eval()
    folded = fold_batchnorm(g)
    meta = Metadata(
        latent_dim=cfg.nz,
        image_size=cfg.image_size,
        channels=cfg.channels,
        precision="fp32",
        bn_folded=True,
        bn_recalibrated=bool(args.recalibrate_bn),
        bn_recalibration_batches=args.recalibrate_bn,
        dataset=str(state.get("dataset", cfg.data)),
        training_steps=int(state["step"]),
        training_config=cfg.to_dict(),
        producer=f"dcgan-export {runtime_version} (torch {torch.__version__})",
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        weights_sha256=weights_sha256(folded),
    )
    report = {
        "checkpoint": str(args.source),
        "step": meta.training_steps,
        "reference": "unfolded PyTorch eval model",
        "bn_recalibrated": meta.bn_recalibrated,
        "formats": [],
    }
    job = Job(g, folded, meta, args.opset, args.calibration, args.int8_form)
    return job, report, card.quality(Path(args.source), state)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    outdir = Path(args.outdir)
    try:
        rows = check_args(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        job, report, quality = build_job(args)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    staging = None
    try:
        staging = staging_dir(outdir)
        for fmt in rows:
            facts = fmt.write(job, staging / fmt.filename)
            report["formats"].append(fmt.check(job, staging / fmt.filename, facts))
        report["passed"] = all(r["passed"] for r in report["formats"])
        text = json.dumps(report, indent=2).encode()
        summary(rows, report, staging)
        if not report["passed"]:
            failed = (
                outdir / "parity.json"
                if not outdir.exists() or not any(outdir.iterdir())
                else outdir.parent / f"{outdir.name}.parity-failed.json"
            )
            atomic_write(failed, text)
            print(
                f"error: parity failed (see {failed}): the exported files do not reproduce the model; "
                f"nothing was exported{' and ' + str(outdir) + ' is unchanged' if failed.parent != outdir else ''}",
                file=sys.stderr,
            )
            return 1
        atomic_write(staging / "parity.json", text)
        license = args.license.lower() if args.license else None
        card.write_card(staging, job.folded, job.meta, report, quality, license=license, repo_id=args.repo_id)
        install_dir(staging, outdir)
    except OSError as e:  # a full disk, a read-only folder: the previous export (if any) is untouched
        print(f"error: cannot write the export to {outdir}: {e}", file=sys.stderr)
        return 1
    finally:
        if staging is not None and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    if any(f.filename == "generator.onnx" for f in rows):
        print(f"next: dcgan generate {outdir / 'generator.onnx'} --seeds 0-63 --grid 8x8 --out grid.png")
        print(f"share: dcgan push {outdir} {args.repo_id or 'ORG/NAME'}   (model card: {outdir / card.CARD})")
    return 0


def summary(rows: list, report: dict, folder: Path) -> None:
    print(f"{'file':<24}{'size MB':>9}{'ms/64':>9}  {'check against the PyTorch model':<40}")
    for fmt, row in zip(rows, report["formats"]):
        check = (
            f"PSNR {row['psnr_db']:.1f} dB, want >= {parity.MIN_PSNR_DB:g}"
            if row["precision"] == "int8"
            else f"max |diff| {row['max_abs']:.1e}, want <= {row['tolerance']:.0e}"
        )
        print(
            f"{fmt.filename:<24}{(folder / fmt.filename).stat().st_size / 1e6:>9.2f}{row['ms_per_batch64']:>9.1f}  "
            f"{check:<40}{'ok' if row['passed'] else 'FAILED'}"
        )


if __name__ == "__main__":
    sys.exit(main())
