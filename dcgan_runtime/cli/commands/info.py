"""`dcgan info`: the model's metadata, the providers requested and active, and the CPU plan."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from dcgan_runtime.cli.console import printable

if TYPE_CHECKING:
    from dcgan_runtime.cli.commands import Load

HELP = "Print the model's metadata and the requested vs active execution providers."
MODEL = "one"
EXAMPLES = """examples:
  dcgan info generator.onnx
  dcgan info generator.onnx --device cuda --json
  dcgan info hf://acme/faces@v1 --precision int8          # a model on the Hugging Face Hub
  dcgan info https://example.org/generator.onnx#sha256=9f2c...   # a pinned URL, downloaded once"""


def arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument("--json", action="store_true", help="machine-readable output")


def run(a: argparse.Namespace, load: Load) -> None:
    g = load(a.precision)
    if a.json:
        info = {
            "model": str(g.path),
            "requested_providers": g.requested_providers,
            "active_providers": g.providers,
            "cpu_plan": g.plan.describe() if g.plan else None,
            "metadata": json.loads(g.metadata.to_json()),
        }
        print(json.dumps(info, indent=2))
        return
    m = g.metadata
    text = (
        f"model      {g.path}\nimage      {m.image_size}x{m.image_size}x{m.channels}, latent_dim {m.latent_dim}, "
        f"{m.precision}\nproviders  requested {g.requested_providers}, active {g.providers}\n"
        + (f"cpu plan   {g.plan.describe()}\n" if g.plan else "")
        + f"trained    {m.training_steps} steps on {m.dataset or '?'}\nproducer   {m.producer}, {m.created}\n"
        f"BatchNorm  folded {m.bn_folded}, recalibrated {m.bn_recalibrated}\n"
        + "".join(f"{m.precision:<11}{k}: {v}\n" for k, v in m.quantization.items())
        + f"metadata   {m.to_json()}"
    )
    print("\n".join(printable(line) for line in text.split("\n")))
