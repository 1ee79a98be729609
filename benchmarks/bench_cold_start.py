"""Cold start: a fresh process that imports, loads the model and makes one image; seconds and peak memory."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks.conftest import record

# The process's own high-water mark. (getrusage's ru_maxrss would report the parent's: it survives exec.)
PEAK_RSS = "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"  # KiB
PROGRAMS = {
    "dcgan_runtime": "from dcgan_runtime import Generator\nGenerator.load({path!r}, device='cpu').generate(1)\n",
    "torch + TorchScript": "import torch\n"
    "m = torch.jit.load({path!r})\n"
    "with torch.inference_mode(): m(torch.randn(1, 100, 1, 1))\n",
}
FILES = {"dcgan_runtime": "generator.onnx", "torch + TorchScript": "generator.torchscript"}


@pytest.mark.parametrize("program", list(PROGRAMS))
def test_cold_start(benchmark, model_dir, program, rounds):
    code = PROGRAMS[program].format(path=str(model_dir / "export" / FILES[program])) + PEAK_RSS
    peaks = []

    def run():
        out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True)
        peaks.append(int(out.stdout.split()[-1]) / 1024)

    benchmark.pedantic(run, rounds=max(3, rounds["rounds"] // 3), warmup_rounds=1)
    peaks.sort()
    record(benchmark, f"cold start: {program}", 1, "cpu", peak_rss_mb=round(peaks[len(peaks) // 2], 1))
