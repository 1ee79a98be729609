"""Packaging: the wheel is the SDK alone (no train/export/benchmarks/tests), typed, versioned once."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import dcgan_runtime

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_only_the_runtime(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("dcgan-*.whl")
    assert wheel.name.startswith(f"dcgan-{dcgan_runtime.__version__}-")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"dcgan_runtime", f"dcgan-{dcgan_runtime.__version__}.dist-info"}
    assert {"dcgan_runtime/py.typed", "dcgan_runtime/static/index.html", "dcgan_runtime/generator.py"} <= set(names)
    metadata = zipfile.ZipFile(wheel).read(f"dcgan-{dcgan_runtime.__version__}.dist-info/METADATA").decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert sorted(r.split()[1].rstrip(">=<0123456789.,") for r in requires) == ["numpy", "pillow"]


def test_version_is_printed_from_the_one_place():
    out = subprocess.run([sys.executable, "-m", "dcgan_runtime", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"dcgan {dcgan_runtime.__version__}"
