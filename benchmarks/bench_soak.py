"""The long soak: 16 threads x 500 calls on one Generator, in a fresh process (tests run a short one)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmarks.conftest import record


@pytest.mark.slow
def test_soak_16_threads(benchmark, model_dir, request):
    calls = 20 if request.config.getoption("--quick") else 500
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.soak",
        str(model_dir / "export" / "generator.onnx"),
        "--threads",
        "16",
        "--calls",
        str(calls),
    ]
    result = {}

    def run():
        result.update(json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout))

    benchmark.pedantic(run, rounds=1, warmup_rounds=0)
    record(benchmark, "soak: 16 threads, mixed batch sizes", 1, "cpu", kind="soak", **result)
    assert result["errors"] == 0 and result["mismatches"] == 0, result
