"""`dcgan push`: publish an export folder (with its model card) to the Hugging Face Hub."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from dcgan_runtime.cli import args

if TYPE_CHECKING:
    from dcgan_runtime.cli.commands import Load

HELP = "Publish an export folder (with its model card) to the Hugging Face Hub."
MODEL = "none"
EXAMPLES = """examples:
  dcgan push runs/faces/export acme/faces                  # then: dcgan generate hf://acme/faces ...
  dcgan push runs/faces/export acme/faces --private --revision v1
(needs the [hub] extra and a Hub token: hf auth login, or HF_TOKEN; the folder must be a complete
 export: model card, generator.onnx, passed parity.json)"""


def arguments(c: argparse.ArgumentParser) -> None:
    from dcgan_runtime.engine.fetch import check_repo_id, check_revision

    c.add_argument("model", metavar="EXPORT_DIR", help="a folder written by `python -m export`")
    c.add_argument("repo_id", metavar="ORG/NAME", type=args.parsed(check_repo_id), help="the Hub repository")
    c.add_argument("--private", action="store_true", help="create the repository private")
    c.add_argument("--revision", metavar="BRANCH", type=args.parsed(check_revision), help="a branch instead of main")


def run(a: argparse.Namespace, load: Load) -> None:
    from dcgan_runtime.publish import push

    folder = Path(a.model)
    push.check_export(folder)  # a model card, generator.onnx and a passed parity check
    load("fp32").close()  # and a generator.onnx this runtime loads: metadata, signature
    url = push.push(folder, a.repo_id, private=a.private, revision=a.revision)
    at = f"{a.repo_id}@{a.revision}" if a.revision else a.repo_id
    print(f"pushed {folder} to {at}: {url}\nuse it: dcgan generate hf://{at} --seeds 0-15 --out grid.png")
