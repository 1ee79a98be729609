"""Build the API reference from the docstrings with pdoc: `python docs/build_api.py [OUTDIR]` (`make docs`).

Every public module of dcgan_runtime gets a page; pdoc's warnings (a docstring it cannot read, a
name in __all__ that does not resolve) are errors, so a broken reference fails `make test`.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pdoc

import dcgan_runtime

MODULES = [
    "dcgan_runtime",
    "dcgan_runtime.images",
    "dcgan_runtime.metadata",
    "dcgan_runtime.errors",
    "dcgan_runtime.engine",  # a package: pdoc documents each of its modules
    "dcgan_runtime.scale",
    "dcgan_runtime.serving",
    "dcgan_runtime.publish",
]


def build(out: Path) -> Path:
    dcgan_runtime.Generator  # noqa: B018 - imported on first use; pdoc documents what the package holds
    pdoc.render.configure(docformat="google", footer_text=f"dcgan_runtime {dcgan_runtime.__version__}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pdoc.pdoc(*MODULES, output_directory=out)
    return out / "index.html"


if __name__ == "__main__":
    print(f"wrote {build(Path(sys.argv[1] if len(sys.argv) > 1 else 'build/api'))}")
