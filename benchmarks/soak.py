"""Soak: one Generator called from many threads with mixed batch sizes.

`python -m benchmarks.soak generator.onnx --threads 16 --calls 500` prints one JSON line: errors,
mismatches against serial results, calls per second, and resident memory after the first 50 calls
half-way and at the end. Run in a fresh process so the memory figures are the runtime's own (no torch).
Most early growth is glibc's per-thread malloc arenas filling up (MALLOC_ARENA_MAX=2 caps them);
growth over the second half shows whether anything leaks.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import numpy as np

from dcgan_runtime import Generator

BATCH_SIZES = (1, 2, 3, 5, 8, 13)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def soak(model: str, threads: int, calls: int) -> dict:
    g = Generator.load(model, device="cpu")
    # every thread cycles through the same (batch size, first seed) jobs, starting at a different place
    jobs = [(bs, 7 * i) for i, bs in enumerate(BATCH_SIZES * 3)]
    expected = {job: g.generate(seeds=range(job[1], job[1] + job[0])) for job in jobs}  # serial results
    lock = threading.Lock()
    done, errors, mismatches, rss_after_50, rss_half = [0], [], [0], [None], [None]

    def worker(k: int) -> None:
        for i in range(calls):
            bs, first = jobs[(k + i) % len(jobs)]
            try:
                out = g.generate(seeds=range(first, first + bs))
                ok = np.array_equal(out, expected[(bs, first)])
            except Exception as e:  # counted and reported, never hidden
                errors.append(repr(e))
                continue
            with lock:
                mismatches[0] += not ok
                done[0] += 1
                if done[0] == 50:
                    rss_after_50[0] = rss_mb()
                if done[0] == threads * calls // 2:
                    rss_half[0] = rss_mb()

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    t = time.perf_counter()
    for p in pool:
        p.start()
    for p in pool:
        p.join()
    seconds = time.perf_counter() - t
    end = rss_mb()
    return {
        "threads": threads,
        "calls": threads * calls,
        "errors": len(errors),
        "first_error": errors[:1],
        "mismatches": mismatches[0],
        "calls_per_s": round(threads * calls / seconds, 1),
        "rss_mb_after_50": round(rss_after_50[0], 1),
        "rss_mb_half": round(rss_half[0], 1),
        "rss_mb_end": round(end, 1),
        "rss_growth": round(end / rss_after_50[0] - 1, 4),
        "rss_growth_second_half": round(end / rss_half[0] - 1, 4),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("model")
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--calls", type=int, default=500, help="calls per thread (at least 4)")
    a = p.parse_args(argv)
    print(json.dumps(soak(a.model, a.threads, max(4, a.calls))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
