"""`dcgan bench`: latency percentiles and images/s per batch size (and precision), with the machine named."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING

from dcgan_runtime import parse
from dcgan_runtime.cli import args
from dcgan_runtime.errors import UsageError
from dcgan_runtime.limits import MAX_BATCH
from dcgan_runtime.metadata import FILENAMES

if TYPE_CHECKING:
    from dcgan_runtime.cli.commands import Load

HELP = "Time inference: latency percentiles and images/s for each batch size (and precision), or load a server."
MODEL = "many?"  # none with --server
EXAMPLES = """examples:
  dcgan bench generator.onnx --batch-sizes 1,8,64,256
  dcgan bench generator.onnx --threads 2 --rounds 50
  dcgan bench runs/faces/export --precision fp32,fp16,int8 --json > bench.json   # each file in the folder
  dcgan bench generator.onnx --csv >> history.csv
  dcgan bench runs/faces/export --precision fp32,int8,bf16 --versus   # beside plain onnxruntime and OpenVINO
  dcgan bench --server grpc://127.0.0.1:8001 --concurrency 1,4,8 --batch-sizes 1,64   # any OIP server:
  dcgan bench --server http://127.0.0.1:8000 --model-name dcgan --json      # dcgan serve, Triton, KServe"""


def arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument(
        "--batch-sizes",
        type=args.parsed(lambda v: parse.parse_ints(v, MAX_BATCH)),
        default=[1, 8, 64, 256],
        help="default 1,8,64,256",
    )
    c.add_argument("--rounds", type=args.int_in(1, 10_000), default=20, help="timed calls per batch size (default 20)")
    c.add_argument(
        "--versus",
        action="store_true",
        help="also run each precision side by side (round-robin) with what a user could run instead on the fp32 "
        "file: a plain onnxruntime session, OpenVINO fp32 and OpenVINO's default where installed; prints "
        "images/s, the share of the fp32 wall (numpy matmul) and the runtime / best peer per batch size",
    )
    c.add_argument(
        "--server",
        metavar="URL",
        help="instead of MODEL: load an Open Inference Protocol server (http://HOST:PORT or grpc://HOST:PORT; "
        "dcgan serve, Triton, KServe) with Triton's clients, --concurrency requests in flight (needs [grpc])",
    )
    c.add_argument(
        "--concurrency",
        type=args.parsed(lambda v: parse.parse_ints(v, 256)),
        default=[1, 4, 8],
        help="with --server: requests kept in flight, each value in turn (default 1,4,8)",
    )
    c.add_argument("--model-name", default="dcgan", help="with --server: the model's name (default dcgan)")
    c.add_argument(
        "--seconds", type=args.float_in(0.1, 600), default=2.0, help="with --server: timed seconds per row (default 2)"
    )
    how = c.add_mutually_exclusive_group()
    how.add_argument("--json", action="store_true", help="print JSON: the machine, then a row per batch size")
    how.add_argument("--csv", action="store_true", help="print CSV: a header, then a row per batch size")


def run(a: argparse.Namespace, load: Load) -> None:
    from dcgan_runtime.engine import bench
    from dcgan_runtime.engine.session import available_cpus

    if (a.server is None) == (a.model is None):
        raise UsageError("give MODEL (time it in this process) or --server URL (load a server), one of them")
    if a.server is not None:
        _load_server(a)
        return
    rows, tables = [], []
    threads = a.threads or available_cpus()
    for precision in a.precision or [None]:
        with load(precision) as g:
            rows += bench.measure(g, a.batch_sizes, a.rounds)
            if a.versus:
                fp32 = g.path.with_name(FILENAMES["fp32"])
                rates = bench.versus(g, fp32 if fp32.is_file() else g.path, a.batch_sizes, threads)
                tables.append((rates, bench.gflop_per_image(g.metadata)))
    render = bench.to_json if a.json else bench.to_csv if a.csv else bench.to_table
    print(render(rows, threads))
    wall = bench.fp32_rate() if tables else 0.0
    for rates, gflop in tables:
        print(bench.versus_table(rates, gflop, wall, threads), file=sys.stderr if a.json or a.csv else sys.stdout)


def _load_server(a: argparse.Namespace) -> None:
    if a.precision or a.versus or a.csv:
        raise UsageError("--server takes --batch-sizes, --concurrency, --seconds, --model-name and --json only")
    from dcgan_runtime.serving import loadgen

    loadgen.parse_server(a.server)  # a bad URL is a usage error before anything connects
    rows = loadgen.run(a.server, a.model_name, a.batch_sizes, a.concurrency, a.seconds)
    if a.json:
        print(json.dumps({"server": a.server, "model": a.model_name, "results": [asdict(r) for r in rows]}, indent=2))
    else:
        print(loadgen.table(rows, a.server, a.model_name))
