"""Export a trained generator: `python -m export RUN_DIR_OR_CHECKPOINT --outdir DIR`.

Folds BatchNorm into the transposed convolutions, writes generator.onnx and generator.torchscript
(both carrying the same `dcgan` metadata JSON), optionally fp16 and int8 ONNX variants, parity.json,
and a model card (README.md with sample.png) that makes DIR a ready Hugging Face Hub repository
(`dcgan push DIR ORG/NAME`). Everything is written into a temporary folder beside DIR and moved
into place only when every file passed its parity check: DIR always holds one complete, checked export.
The command turns argv into the arguments of `export.export` (export/pipeline.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dcgan_runtime.cli.args import Parser
from export import card, parity
from export.formats import FORMATS
from export.onnx_export import MIN_OPSET
from export.pipeline import ParityError, export
from export.rewrite import FORMS
from train.checkpoint import CheckpointError

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
    p = Parser(  # one line per error, naming the flag: never argparse's usage block
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
        "--bf16",
        action="store_true",
        help="also write generator.bf16.onnx (fp32 weights as plain convolutions, which OpenVINO computes in bf16 "
        "on CPUs with AMX or AVX512-BF16: dcgan generate --precision bf16)",
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
        help="the model card's license, a Hub license id such as mit, apache-2.0, cc-by-4.0 (default: other, "
        "with license_name license-not-stated and a line saying so)",
    )
    p.add_argument("--repo-id", metavar="ORG/NAME", help="the Hub repository the card's examples name (dcgan push)")
    p.add_argument("--force", action="store_true", help="replace the export an --outdir already holds")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = vars(parse_args(argv))
    source, outdir = Path(args.pop("source")), Path(args.pop("outdir"))
    try:
        result = export(source, outdir, **args)
    except ParityError as e:
        summary(e.report, e.sizes)
        print(f"error: {e}", file=sys.stderr)
        return 1
    except CheckpointError as e:  # before ValueError: a CheckpointError is one
        print(f"error: {e}", file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a full disk, a read-only folder: the previous export (if any) is untouched
        print(f"error: cannot write the export to {outdir}: {e}", file=sys.stderr)
        return 1
    summary(result.report, result.sizes)
    if any(f.name == "generator.onnx" for f in result.files):
        print(f"next: dcgan generate {outdir / 'generator.onnx'} --seeds 0-63 --grid 8x8 --out grid.png")
        print(f"share: dcgan push {outdir} {args['repo_id'] or 'ORG/NAME'}   (model card: {outdir / card.CARD})")
    return 0


def summary(report: dict, sizes: dict[str, int]) -> None:
    print(f"{'file':<24}{'size MB':>9}{'ms/64':>9}  {'check against the PyTorch model':<40}")
    for row in report["formats"]:
        check = (
            f"PSNR {row['psnr_db']:.1f} dB, want >= {parity.MIN_PSNR[row['precision']]:g}"
            if "psnr_db" in row
            else f"max |diff| {row['max_abs']:.1e}, want <= {row['tolerance']:.0e}"
            + (" (fp32: no bf16 here)" if row["precision"] == "bf16" else "")
        )
        print(
            f"{row['format']:<24}{sizes[row['format']] / 1e6:>9.2f}{row['ms_per_batch64']:>9.1f}  "
            f"{check:<40}{'ok' if row['passed'] else 'FAILED'}"
        )


if __name__ == "__main__":
    sys.exit(main())
