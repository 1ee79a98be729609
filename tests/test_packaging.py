"""Packaging: the version is kept in one place (the wheel itself: test_wheel.py)."""

from __future__ import annotations

import subprocess
import sys

import dcgan_runtime


def test_version_is_printed_from_the_one_place():
    out = subprocess.run([sys.executable, "-m", "dcgan_runtime", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"dcgan {dcgan_runtime.__version__}"
