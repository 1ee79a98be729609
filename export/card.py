"""The model card: README.md (and sample.png) in the export folder, so the folder is a ready Hub repository.

Written with huggingface_hub's `ModelCard` / `ModelCardData`: YAML front matter (pipeline tag, tags,
license, datasets, the measured SWD as an eval result) and a body with the sample grid, how to run
it, the seed rule, the architecture, the training config, the files and the parity table. Every
figure comes from the checkpoint, its run's metrics.jsonl and this export's parity check.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import EvalResult, ModelCard, ModelCardData
from torch import nn

from dcgan_runtime.images import make_grid, save_image, to_uint8
from dcgan_runtime.latent import latents_from_seeds
from dcgan_runtime.metadata import Metadata
from train.config import RECIPE_TITLES

CARD, SAMPLE = "README.md", "sample.png"
KNOWN_DATASETS = {"fashion-mnist": "zalando-datasets/fashion_mnist"}  # local folder name -> Hub dataset id
SAMPLE_SEEDS = range(64)


def quality(source: Path, state: dict[str, Any]) -> dict[str, Any]:
    """The best SWD training logged up to this checkpoint and its step (from the run's metrics.jsonl,
    else the checkpoint's own record), and this checkpoint's own SWD where it was scored."""
    step = int(state["step"])
    best = state.get("best_swd")
    found: dict[str, Any] = {"step": step, "best_swd": None, "best_step": None, "swd": None, "swd_floor": None}
    if isinstance(best, (int, float)) and math.isfinite(best):
        found["best_swd"] = round(float(best), 2)
    run = source if source.is_dir() else source.parent.parent
    try:
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        rows = []
    scored = [r for r in rows if isinstance(r, dict) and isinstance(r.get("swd"), (int, float)) and r["step"] <= step]
    if scored:
        top = min(scored, key=lambda r: r["swd"])
        found["best_swd"], found["best_step"] = round(float(top["swd"]), 2), int(top["step"])
        found["swd"] = next((round(float(r["swd"]), 2) for r in scored if r["step"] == step), None)
    floors = [r["swd_floor"] for r in scored if isinstance(r.get("swd_floor"), (int, float))]
    found["swd_floor"] = round(float(floors[-1]), 2) if floors else None
    return found


def recipe_line(meta: Metadata) -> str:
    """How it was trained, in one sentence: the paper's recipe, or a small-data one and its options."""
    cfg = meta.training_config
    recipe = cfg.get("recipe")
    if recipe not in RECIPE_TITLES:
        return ""
    adapts = f", adaptive to D(x)'s sign mean {cfg['augment_target']}" if cfg.get("augment_target") else ""
    options = [
        f"DiffAugment ({cfg['augment']}{adapts})" if cfg.get("augment") else "",
        "horizontal flips" if cfg.get("hflip") else "",
        f"one-sided label smoothing {cfg['label_smoothing']}" if cfg.get("label_smoothing") else "",
        f"instance noise {cfg['instance_noise']}" if cfg.get("instance_noise") else "",
        f"D's learning rate {cfg['lr_d']}" if cfg.get("lr_d") else "",
        f"G's learning rate up to {cfg['g_lr_max']:g}x while D stays ahead of full augmentation"
        if cfg.get("g_lr_max", 1) > 1
        else "",
        f"R1 penalty {cfg['r1']}" if cfg.get("r1") else "",
        f"G's moving average (half-life {cfg['ema_images']:,} images)" if cfg.get("ema_images") else "",
    ]
    shown = ", ".join(o for o in options if o)
    return f"Trained with {RECIPE_TITLES[recipe]}" + (f": {shown}." if shown else ".")


def dataset_id(meta: Metadata) -> str | None:
    """The Hub dataset behind a local data folder, where one is known."""
    name = Path(meta.dataset.rstrip("/")).name.lower()
    return KNOWN_DATASETS.get(name)


def write_card(
    folder: Path,
    folded: nn.Module,
    meta: Metadata,
    report: dict[str, Any],
    found: dict[str, Any],
    *,
    license: str | None,
    repo_id: str | None,
) -> Path:
    """Write sample.png and README.md into `folder` (the staged export, its model files already in it)."""
    z = torch.from_numpy(latents_from_seeds(SAMPLE_SEEDS, meta.latent_dim)).reshape(-1, meta.latent_dim, 1, 1)
    with torch.no_grad():
        images = to_uint8(folded(z).numpy())
    save_image(make_grid(images, nrow=8), folder / SAMPLE)
    dataset = dataset_id(meta)
    size = f"{meta.image_size}x{meta.image_size}"
    results = []
    if found["best_swd"] is not None:
        results.append(
            EvalResult(
                task_type="unconditional-image-generation",
                dataset_type=dataset or meta.dataset or "unknown",
                dataset_name=meta.dataset or "unknown",
                metric_type="swd",
                metric_name="SWD x1e3 (256 samples vs 256 training images, lower is better)",
                metric_value=found["best_swd"],
                verified=False,
            )
        )
    unstated = {"license_name": UNSTATED} if license is None else {}  # the Hub warns on a card without a license
    data = ModelCardData(
        license=license or "other",
        **unstated,
        library_name="onnx",
        pipeline_tag="unconditional-image-generation",
        tags=["dcgan", "gan", "onnx", "torchscript", f"image-size-{meta.image_size}", size],
        datasets=[dataset] if dataset else None,
        model_name=repo_id or f"dcgan-{Path(meta.dataset or 'model').name}-{size}",
        eval_results=results or None,
    )
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n{_body(folder, folded, meta, report, found, license, repo_id)}")
    card.save(folder / CARD)
    return folder / CARD


def _body(
    folder: Path,
    folded: nn.Module,
    meta: Metadata,
    report: dict[str, Any],
    found: dict[str, Any],
    license: str | None,
    repo_id: str | None,
) -> str:
    """The card's markdown, a section at a time."""
    lines = _introduction(meta, repo_id) + _quality(found) + _architecture(folded) + _training(meta)
    lines += _files(folder, report) + _parity(report) + _license(license)
    return "\n".join(lines) + "\n"


def _introduction(meta: Metadata, repo_id: str | None) -> list[str]:
    colour = "RGB" if meta.channels == 3 else "greyscale"
    repo = repo_id or "ORG/NAME"
    return [
        f"# DCGAN generator, {meta.image_size}x{meta.image_size} {colour}",
        "",
        f"A DCGAN generator (Radford, Metz and Chintala, ICLR 2016) that maps a {meta.latent_dim}-d standard-normal "
        f"latent to a {meta.image_size}x{meta.image_size} {colour} image, trained for {meta.training_steps:,} steps "
        f"on `{meta.dataset or 'unknown data'}` and exported to ONNX and TorchScript by `python -m export` "
        f"({meta.producer}). BatchNorm is folded into the transposed convolutions. {recipe_line(meta)}",
        "",
        f"![64 samples: seeds 0-63]({SAMPLE})",
        "",
        "*Seeds 0-63, 8 per row, from the exported weights.*",
        "",
        "## Use",
        "",
        "```python",
        '# pip install "dcgan[cpu,hub]"   (the runtime: numpy + onnxruntime, no torch)',
        "from dcgan_runtime import Generator, save_grid",
        "",
        f'g = Generator.from_pretrained("{repo}")  # or Generator.load("generator.onnx") in this folder',
        'save_grid(g.generate(seeds=range(64)), "grid.png")  # a seed names an image',
        "```",
        "",
        "```",
        f"dcgan generate hf://{repo} --seeds 0-63 --grid 8x8 --out grid.png",
        f"dcgan interpolate hf://{repo} --seeds 1,2,3,4 --steps 16 --out walk.gif",
        "```",
        "",
        "With onnxruntime alone:",
        "",
        "```python",
        "import numpy as np, onnxruntime as ort",
        "",
        'session = ort.InferenceSession("generator.onnx")',
        f"z = np.random.RandomState(42).standard_normal({meta.latent_dim}).astype(np.float32)",
        f'image = session.run(None, {{"{meta.input_name}": z.reshape(1, {meta.latent_dim}, 1, 1)}})[0]  '
        f"# (1, {meta.channels}, {meta.image_size}, {meta.image_size}) in [-1, 1]",
        "```",
        ""
        if repo_id
        else f"\n(`{repo}` stands for the repository this folder is pushed to: `dcgan push FOLDER {repo}`.)\n",
        "## Seeds",
        "",
        f"A seed names one image everywhere: its latent is `{meta.seed_rule}` (float32), one "
        "`RandomState` per image, so an image does not depend on the batch it is made in. The ONNX "
        f"input `{meta.input_name}` is float32 (N, {meta.latent_dim}, 1, 1) with a dynamic batch; the output "
        f"`{meta.output_name}` is float32 (N, {meta.channels}, {meta.image_size}, {meta.image_size}) in "
        "[-1, 1] (tanh); pixels are `round((x + 1) * 127.5)`. The same rule and the full metadata are "
        "stored in each file (ONNX `metadata_props` and TorchScript extra files, key `dcgan`).",
        "",
        "## Quality",
        "",
    ]


def _quality(found: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if found["best_swd"] is None:
        lines.append("Training logged no SWD for this checkpoint.")
    else:
        at = f" at step {found['best_step']:,}" if found["best_step"] is not None else ""
        own = (
            f"; this checkpoint (step {found['step']:,}) scored {found['swd']}"
            if found["swd"] is not None and found["best_step"] != found["step"]
            else ""
        )
        lines.append(
            "Sliced Wasserstein distance (x1e3, lower is better) between 256 samples and 256 training images, "
            f"as training logged it: best {found['best_swd']}{at}{own}."
        )
        if found["swd_floor"] is not None:
            lines.append(
                f"The same distance between those 256 training images and 256 others of the set, the floor a "
                f"generator that drew the data itself would reach: {found['swd_floor']} "
                f"(best / floor: {found['best_swd'] / max(found['swd_floor'], 1e-9):.1f}x)."
            )
    return lines


def _architecture(folded: nn.Module) -> list[str]:
    layers = [(n, m) for n, m in folded.named_modules() if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d))]
    total = sum(p.numel() for p in folded.parameters())
    lines = [
        "",
        "## Architecture",
        "",
        "| layer | kind | weight (in, out, kH, kW) | stride | parameters |",
        "|---|---|---|---|---|",
    ]
    for n, m in layers:
        params = sum(p.numel() for p in m.parameters())
        lines.append(f"| `{n}` | {type(m).__name__} | {tuple(m.weight.shape)} | {m.stride[0]} | {params:,} |")
    lines += [
        "",
        f"{total:,} parameters in all (BatchNorm folded in: each transposed convolution but the last has a bias); "
        "ReLU after each hidden layer, tanh after the last.",
        "",
    ]
    return lines


def _training(meta: Metadata) -> list[str]:
    lines = [
        "## Training",
        "",
        "| setting | value |",
        "|---|---|",
    ]
    lines += [f"| `{k}` | `{v}` |" for k, v in sorted(meta.training_config.items())]
    return lines


def _files(folder: Path, report: dict[str, Any]) -> list[str]:
    files = sorted(p for p in folder.iterdir() if p.suffix in (".onnx", ".torchscript"))
    precision_of = {row["format"]: row["precision"] for row in report["formats"]}
    lines = ["", "## Files", "", "| file | precision | size | sha256 |", "|---|---|---|---|"]
    for p in files:
        digest = hashlib.sha256(p.read_bytes()).hexdigest()
        lines.append(f"| `{p.name}` | {precision_of.get(p.name, '?')} | {p.stat().st_size / 1e6:.2f} MB | `{digest}` |")
    return lines


def _parity(report: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## Parity",
        "",
        "Each file against the unfolded PyTorch model in eval mode, at batch sizes "
        + ", ".join(str(b["batch_size"]) for b in report["formats"][0]["batches"])
        + " (`parity.json` has every figure):",
        "",
        "| file | precision | check | passed |",
        "|---|---|---|---|",
    ]
    for row in report["formats"]:
        check = (
            f"PSNR {row['psnr_db']:.1f} dB"
            if "psnr_db" in row
            else f"max abs diff {row['max_abs']:.1e} (<= {row['tolerance']:.0e})"
        )
        lines.append(f"| `{row['format']}` | {row['precision']} | {check} | {'yes' if row['passed'] else 'no'} |")
    return lines


UNSTATED = "license-not-stated"  # the card's license_name when --license is not given (license: other)


def _license(license: str | None) -> list[str]:
    return [
        "",
        "## License",
        "",
        f"`{license}` (stated at export)."
        if license
        else f"`other` ({UNSTATED}): no license was stated at export (`python -m export ... --license SPDX-ID`); "
        "the weights derive from the training data and its terms. Ask the author before reuse.",
    ]
