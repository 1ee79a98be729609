"""The shape of the code, held: no function over 100 lines outside the tests, no folder of the runtime with
more than 12 modules, and the one-way imports (docs/design.md)."""

from __future__ import annotations

import ast
import importlib
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("dcgan_runtime", "train", "export", "benchmarks")


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def test_no_function_is_over_100_lines():
    long = []
    for path in python_files(*PRODUCT):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno is not None:
                lines = node.end_lineno - node.lineno + 1
                if lines > 100:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []


def test_no_runtime_folder_holds_more_than_12_modules():
    folders = {p.parent for p in python_files("dcgan_runtime")}
    crowded = {str(f.relative_to(ROOT)): n for f in folders if (n := len(list(f.glob("*.py")))) > 12}
    assert crowded == {}


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_imports_flow_one_way():
    """dcgan_runtime imports neither train nor export nor torch; train never imports export; the wings of the
    runtime never import the command line."""
    wrong = []
    for path in python_files("dcgan_runtime", "train"):
        name = str(path.relative_to(ROOT))
        for module in imports(path):
            top = module.split(".")[0]
            if name.startswith("dcgan_runtime") and top in ("train", "export", "torch", "benchmarks"):
                wrong.append(f"{name} imports {module}")
            if name.startswith("train") and top == "export":
                wrong.append(f"{name} imports {module}")
            if re.match(r"dcgan_runtime/(engine|serving|publish|scale)/", name) and module.startswith(
                "dcgan_runtime.cli"
            ):
                wrong.append(f"{name} imports {module}")
    assert wrong == []


@pytest.mark.parametrize(
    "old, name, new",
    [
        ("dcgan_runtime.serve", "create_app", "dcgan_runtime.serving.app"),
        ("dcgan_runtime.server", "make_server", "dcgan_runtime.serving.server"),
        ("dcgan_runtime.ray_serve", "application", "dcgan_runtime.serving.ray_serve"),
    ],
)
def test_the_old_import_paths_still_work_and_warn(old, name, new):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}"):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)


def test_the_wings_public_names():
    from dcgan_runtime import Generator, engine, serving
    from dcgan_runtime.serving.app import create_app

    assert engine.Generator is Generator and serving.create_app is create_app
