"""`dcgan site`: a static site that runs the model in the visitor's browser (onnxruntime-web)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dcgan_runtime.cli.commands import Load

HELP = "Write a static site that runs the model in the visitor's browser (onnxruntime-web)."
MODEL = "one"
EXAMPLES = """examples:
  dcgan site runs/demo/export --out site/              # then publish site/ on any static host
  dcgan site runs/demo/export --precision int8 --out site-int8/ --ort-web node_modules/onnxruntime-web
  python -m http.server -d site/ 8000                  # try it: http://127.0.0.1:8000/
(onnxruntime-web is pinned and checked by sha256; without --ort-web, npm fetches it once into the cache)"""


def arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument("--out", required=True, help="folder for the site")
    c.add_argument("--ort-web", metavar="PATH", help="onnxruntime-web's package folder, dist/ folder or .tgz")
    c.add_argument("--no-webgpu", action="store_true", help="leave out the WebGPU build (28 MB): WebAssembly only")
    c.add_argument("--force", action="store_true", help="replace the site an --out folder holds")


def run(a: argparse.Namespace, load: Load) -> None:
    from dcgan_runtime.publish.site import ORT_WEB_VERSION, write_site

    g = load(a.precision)
    out = write_site(g.path, a.out, g.metadata.precision, a.ort_web, webgpu=not a.no_webgpu, force=a.force)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(
        f"wrote {out}/ ({size / 1e6:.1f} MB: the page, {g.path.name} as model.onnx, onnxruntime-web "
        f"{ORT_WEB_VERSION}); publish the folder, or try it: python -m http.server -d {out} 8000"
    )
