"""Mass generation, side by side: one process, `--shard` by hand (two processes), `--engine ray` (2 workers).

    python -m benchmarks.scale MODEL                          # 100,000 images as tar shards, one round
    python -m benchmarks.scale MODEL --count 20000 --format npy --rounds 3 --json scale.json

Each configuration runs the real `dcgan generate ... --outdir` command(s) into a fresh folder, in
turn, for `--rounds` rounds (the order rotates each round); wall time covers the whole command, model
load and (for Ray) starting and stopping a local Ray instance. Peak memory is the largest sum of the
resident memory of the command's processes and all their descendants (Ray's raylet, GCS and
workers included), sampled every 50 ms. The outputs of every configuration are compared file by file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from dcgan_runtime.engine.tune import machine_key

DCGAN = [sys.executable, "-m", "dcgan_runtime", "generate"]


def tree_rss_mb(roots: list[int]) -> float:
    """Resident memory of `roots` and all their descendants (Ray's raylet and workers included), in MB."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            status = dict(line.split(":", 1) for line in (d / "status").read_text().splitlines() if ":" in line)
        except (OSError, ValueError):
            continue
        parents[int(d.name)] = int(status.get("PPid", "0").split()[0])
        rss[int(d.name)] = int(status.get("VmRSS", "0 kB").split()[0])
    tree, frontier = set(roots), list(roots)
    while frontier:
        pid = frontier.pop()
        kids = [c for c, parent in parents.items() if parent == pid and c not in tree]
        tree.update(kids)
        frontier += kids
    return sum(rss.get(pid, 0) for pid in tree) / 1024


class PeakMemory:
    """The largest summed resident memory of the processes started in the block, sampled every 50 ms."""

    def __init__(self) -> None:
        self.pids: list[int] = []
        self.peak = 0.0

    def __enter__(self) -> PeakMemory:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()
        return self

    def sample(self) -> None:
        while not self.stop.wait(0.05):
            if self.pids:
                self.peak = max(self.peak, tree_rss_mb(self.pids))

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    @property
    def mb(self) -> float:
        return self.peak


def commands(name: str, model: str, count: int, fmt: str, outdir: Path) -> list[list[str]]:
    base = [*DCGAN, model, "--seeds", f"0-{count - 1}", "--outdir", str(outdir), "--format", fmt, "--device", "cpu"]
    if name == "one process":
        return [base]
    if name == "--shard 1/2 + 2/2":
        return [[*base, "--shard", f"{i}/2", "--threads", "1"] for i in (1, 2)]
    return [[*base, "--engine", "ray", "--workers", "2"]]


def run(cmds: list[list[str]], peak: PeakMemory) -> float:
    start = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for c in cmds]
    peak.pids = [p.pid for p in procs]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(p.args)} failed:\n{err[-2000:]}")
    return time.perf_counter() - start


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("--count", type=int, default=100_000, help="images per configuration (default 100000)")
    p.add_argument("--format", default="tar", choices=("png", "tar", "npy", "parquet"))
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--configs", default="one process,--shard 1/2 + 2/2,ray 2 workers")
    p.add_argument("--json", help="also write the figures here")
    a = p.parse_args(argv)
    names = [n.strip() for n in a.configs.split(",")]
    seconds: dict[str, list[float]] = {n: [] for n in names}
    memory: dict[str, list[float]] = {n: [] for n in names}
    digests: dict[str, str] = {}
    work = Path(tempfile.mkdtemp(prefix="dcgan-scale-"))
    try:
        for r in range(a.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                outdir = work / f"{r}-{len(digests)}"
                with PeakMemory() as peak:
                    seconds[name].append(run(commands(name, a.model, a.count, a.format, outdir), peak))
                memory[name].append(peak.mb)
                digests[name] = digest(outdir)
                shutil.rmtree(outdir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cpu = machine_key()
    base = float(np.median(seconds[names[0]]))
    print(f"CPU: {cpu['cpu']} ({cpu['cpu_flags']}); {a.count:,} images as {a.format}, {a.rounds} round(s), medians\n")
    print("| configuration | seconds | images/s | vs one process | peak RSS, all its processes |")
    print("|---|---|---|---|---|")
    rows = []
    for name in names:
        s = float(np.median(seconds[name]))
        rows.append({"config": name, "seconds": s, "images_per_s": a.count / s, "peak_mb": max(memory[name])})
        print(f"| {name} | {s:.1f} | {a.count / s:,.0f} | {base / s:.2f}x | {max(memory[name]):,.0f} MB |")
    same = len(set(digests.values())) == 1
    print(f"\noutputs identical across configurations: {'yes' if same else 'NO'}")
    if a.json:
        Path(a.json).write_text(json.dumps({"machine": cpu, "count": a.count, "format": a.format, "rows": rows,
                                            "identical": same}, indent=1))  # fmt: skip
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
