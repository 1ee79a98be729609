"""Export a trained generator: `python -m export RUN_DIR_OR_CHECKPOINT --outdir DIR`.

Folds BatchNorm into the transposed convolutions, writes generator.onnx and generator.torchscript
(both carrying the same `dcgan` metadata JSON), optionally fp16 and int8 ONNX variants, and
parity.json; fails if parity fails.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import sys
from pathlib import Path

import torch

from dcgan_runtime import __version__ as runtime_version
from dcgan_runtime.images import atomic_save
from dcgan_runtime.metadata import Metadata
from export import parity
from export.fold import fold_batchnorm, recalibrate_batchnorm
from export.formats import FORMATS, select
from export.onnx_export import MIN_OPSET, HalfPrecision, save_onnx, to_onnx
from export.quantize import quantize_int8
from export.rewrite import FORMS, project_first_layer
from export.torchscript_export import save_torchscript
from train.checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint
from train.config import TrainConfig
from train.model import build_generator

EXAMPLES = """formats:
""" + "".join(f"  {f.name:<12} {f.filename:<22} {f.description}\n" for f in FORMATS) + """
examples:
  python -m export runs/faces --outdir runs/faces/export
  python -m export runs/faces/checkpoints/step004000.pt --outdir out --formats onnx --fp16
  python -m export runs/faces --outdir out --formats onnx --int8 --calibration 512
  python -m export runs/faces --outdir out --recalibrate-bn 32 --force
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m export", description=__doc__, epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="a run directory (uses checkpoints/last.pt) or a checkpoint file")
    p.add_argument("--outdir", required=True, help="folder for the exported files")
    p.add_argument("--formats", default="onnx,torchscript", help="comma-separated (default onnx,torchscript)")
    p.add_argument("--opset", type=int, default=MIN_OPSET, help=f"ONNX opset, {MIN_OPSET} or later (default {MIN_OPSET})")
    p.add_argument("--fp16", action="store_true", help="also write generator.fp16.onnx (fp16 weights, fp32 in/out; for GPUs)")
    p.add_argument("--int8", action="store_true",
                   help="also write generator.int8.onnx (int8 weights and activations; about 2x fp32 on CPUs with VNNI)")
    p.add_argument("--calibration", type=int, default=256, metavar="N",
                   help="with --int8: latents (seeds 1000000 on) that calibrate the activation ranges (default 256)")
    p.add_argument("--int8-form", choices=list(FORMS), default="2x2",
                   help="with --int8: how stride-2 layers become convolutions (default 2x2: 2.4x fp32 at batch 64 "
                        "for ngf 64, vs 1.9x for 3x3, which does 2.25x the arithmetic)")
    p.add_argument("--recalibrate-bn", type=int, default=0, metavar="N",
                   help="recompute BatchNorm statistics from N batches of 64 fresh latents before folding")
    p.add_argument("--force", action="store_true", help="write into an --outdir that already holds files")
    return p.parse_args(argv)


def weights_sha256(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    outdir = Path(args.outdir)
    try:
        rows = select(args.formats, ["fp32"] + ["fp16"] * args.fp16 + ["int8"] * args.int8)
        if args.opset < MIN_OPSET:
            raise ValueError(f"--opset must be {MIN_OPSET} or later, got {args.opset}")
        if args.recalibrate_bn < 0:
            raise ValueError(f"--recalibrate-bn must be 0 or more, got {args.recalibrate_bn}")
        if args.calibration < 1:
            raise ValueError(f"--calibration must be at least 1 latent, got {args.calibration}")
        if outdir.exists() and not outdir.is_dir():
            raise ValueError(f"--outdir {str(outdir)!r} is a file")
        if outdir.is_dir() and any(outdir.iterdir()) and not args.force:
            raise ValueError(f"--outdir {str(outdir)!r} already holds files: pass --force to overwrite, or pick another")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        ckpt_path = resolve_checkpoint(Path(args.source))
        state = load_checkpoint(ckpt_path)
        cfg = TrainConfig.from_dict(state["config"])
        g = build_generator(cfg)
        g.load_state_dict(state["generator"])
    except (CheckpointError, ValueError, KeyError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    torch.manual_seed(0)
    g = recalibrate_batchnorm(g, args.recalibrate_bn) if args.recalibrate_bn else g.eval()
    folded = fold_batchnorm(g)
    meta = Metadata(
        latent_dim=cfg.nz, image_size=cfg.image_size, channels=cfg.channels, precision="fp32",
        bn_folded=True, bn_recalibrated=bool(args.recalibrate_bn), bn_recalibration_batches=args.recalibrate_bn,
        dataset=str(state.get("dataset", cfg.data)), training_steps=int(state["step"]), training_config=cfg.to_dict(),
        producer=f"dcgan-export {runtime_version} (torch {torch.__version__})",
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        weights_sha256=weights_sha256(folded))

    outdir.mkdir(parents=True, exist_ok=True)
    report = {"checkpoint": str(ckpt_path), "step": meta.training_steps, "reference": "unfolded PyTorch eval model",
              "bn_recalibrated": meta.bn_recalibrated, "formats": []}
    written = []
    for fmt in rows:
        path = outdir / fmt.filename
        if fmt.name == "torchscript":
            save_torchscript(folded, meta, path)
            report["formats"].append(parity.parity_rows(fmt.filename, parity.torchscript_runner(path), g, cfg.nz))
        elif fmt.precision == "int8":
            proto, facts = quantize_int8(folded, meta, args.opset, args.calibration, args.int8_form)
            save_onnx(proto, path)
            report["formats"].append(parity.int8_rows(fmt.filename, parity.onnx_runner(path), g, cfg.nz, **facts))
        else:
            model = project_first_layer(folded)
            model = HalfPrecision(model) if fmt.precision == "fp16" else model
            save_onnx(to_onnx(model, Metadata(**{**meta.__dict__, "precision": fmt.precision}), args.opset), path)
            report["formats"].append(parity.parity_rows(fmt.filename, parity.onnx_runner(path), g, cfg.nz, fmt.precision))
        written.append(path)
    report["passed"] = all(r["passed"] for r in report["formats"])
    atomic_save(outdir / "parity.json", lambda f: f.write(json.dumps(report, indent=2).encode()))

    print(f"{'file':<24}{'size MB':>9}{'ms/64':>9}  {'check against the PyTorch model':<40}")
    for path, row in zip(written, report["formats"]):
        check = (f"PSNR {row['psnr_db']:.1f} dB, want >= {parity.MIN_PSNR_DB:g}" if row["precision"] == "int8" else
                 f"max |diff| {row['max_abs']:.1e}, want <= {row['tolerance']:.0e}")
        print(f"{path.name:<24}{path.stat().st_size / 1e6:>9.2f}{row['ms_per_batch64']:>9.1f}  {check:<40}"
              f"{'ok' if row['passed'] else 'FAILED'}")
    if not report["passed"]:
        print(f"error: parity failed (see {outdir / 'parity.json'}): the exported files do not reproduce the model",
              file=sys.stderr)
        return 1
    onnx_file = outdir / "generator.onnx"
    if onnx_file in written:
        print(f"next: dcgan generate {onnx_file} --seeds 0-63 --grid 8x8 --out grid.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
