"""`dcgan triton`: a Triton/KServe model repository (config.pbtxt, 1/model.onnx) for the model."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from dcgan_runtime.cli import args
from dcgan_runtime.limits import MAX_BATCH

if TYPE_CHECKING:
    from dcgan_runtime.cli.commands import Load

HELP = "Write a Triton/KServe model repository for the model (config.pbtxt, model.onnx)."
MODEL = "one"
EXAMPLES = """examples:
  dcgan triton runs/faces/export --out models/               # models/dcgan/config.pbtxt, 1/model.onnx
  dcgan triton runs/faces/export --out models/ --kind gpu --model-name faces
  tritonserver --model-repository models/                    # then any OIP client: docs/serving.md"""


def arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument("--out", required=True, help="the model repository folder (other models in it are left alone)")
    c.add_argument("--kind", choices=("cpu", "gpu"), default="cpu", help="instance_group kind (default cpu)")
    c.add_argument("--model-name", default="dcgan", help="the model's folder and name (default dcgan)")
    c.add_argument("--max-batch-size", type=args.int_in(1, MAX_BATCH), default=256, help="Triton's max_batch_size")
    c.add_argument("--instances", type=args.int_in(1, 64), default=1, help="model instances, 1-64 (default 1)")
    c.add_argument("--force", action="store_true", help="replace that model's folder in the repository")


def run(a: argparse.Namespace, load: Load) -> None:
    from dcgan_runtime.serving.triton import write_repository

    g = load(a.precision)
    target = write_repository(
        g, a.out, name=a.model_name, kind=a.kind, max_batch_size=a.max_batch_size, instances=a.instances, force=a.force
    )
    print(
        f"wrote {target}/ (config.pbtxt, 1/model.onnx, metadata.json); serve: tritonserver --model-repository {a.out}"
    )
