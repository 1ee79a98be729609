"""`python -m benchmarks run [--quick]` runs the benchmarks and writes the report;
`python -m benchmarks report [JSON]` rewrites the report from a saved run.

Output: benchmarks/results/latest.json (pytest-benchmark), results.md (tables) and throughput.png.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from benchmarks import report

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run every benchmark, then write the report")
    run.add_argument("--quick", action="store_true", help="small sizes, few rounds")
    run.add_argument("-k", help="pytest -k expression to run a subset")
    rep = sub.add_parser("report", help="write results.md and throughput.png from a JSON file")
    rep.add_argument("json", nargs="?", default=str(RESULTS / "latest.json"))
    args = p.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    if args.command == "run":
        json_path = RESULTS / "latest.json"
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            str(Path(__file__).parent),
            "-q",
            "-p",
            "no:cacheprovider",
            "--benchmark-enable",
            "--benchmark-only",
            f"--benchmark-json={json_path}",
            "--benchmark-columns=median,min,max,rounds",
        ]
        cmd += ["--quick"] if args.quick else []
        cmd += ["-k", args.k] if args.k else []
        if subprocess.run(cmd).returncode != 0:
            return 1
        args.json = str(json_path)
    machine, rows = report.load(Path(args.json))
    text = report.markdown(machine, rows)
    (RESULTS / "results.md").write_text(text)
    report.plot(rows, RESULTS / "throughput.png")
    print(text)
    print(f"wrote {RESULTS / 'results.md'} and {RESULTS / 'throughput.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
