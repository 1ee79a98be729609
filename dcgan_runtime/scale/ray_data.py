"""The same shards on Ray Data: `dcgan generate ... --outdir DIR --engine ray` (the `[ray]` extra).

`write` runs the shards a plan leaves to do as Ray Data `map_batches` calls on a pool of actors,
each loading the model once and writing whole shards with the very function the single-process
writer uses (`shards.write_shard`): the files are byte-identical to a local run's. An actor that
dies is restarted and its shard retried by Ray Data (its defaults for actor pools: restarts and
task retries without limit); a shard is only in place once it is complete, so a retry rewrites it
from scratch, or, where the actor died after the rename but before it reported, finds it in place
and counts its images (every shard handed out was missing when the run began). With `address` the
work joins an existing cluster (DIR must then be storage every node sees); without, a local Ray
instance is started for the run and stopped after.
Actors ask for one CPU, or one GPU with `device="cuda"`.

`dataset` returns the images themselves as a Ray Dataset of {"seed", "image"} rows, to feed your
own pipeline (`ds.write_parquet(...)`, `ds.iter_batches(...)`).

>>> ds = dataset("generator.onnx", SeedSet.parse("0-99999"), workers=4)   # doctest: +SKIP
>>> ds.write_parquet("s3://bucket/faces")                                 # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from dcgan_runtime.engine.providers import on_gpu
from dcgan_runtime.files import read_json
from dcgan_runtime.scale import ray_cluster
from dcgan_runtime.scale.seeds import SeedSet
from dcgan_runtime.scale.shards import MANIFEST, Plan, Summary, in_place, remove_leftovers, write_shard

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ValueError("--engine ray needs Ray: pip install 'dcgan[ray]' (ray[data])") from None
    return ray


@contextmanager
def connected(address: str | None, workers: int) -> Iterator[Any]:
    """Ray, joined at `address` or started here for the run (and stopped after it), Ray Data set up quiet."""
    ray = _ray()
    with ray_cluster.session(ray, address, local_cpus=workers + 1):  # one per actor, one for Ray Data's tasks
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # dcgan shows its own
        context.print_on_execution_start = False
        quiet = not log.isEnabledFor(logging.INFO)  # Ray Data's own notes follow dcgan's verbosity
        ray_data_log = logging.getLogger("ray.data")
        level = ray_data_log.level
        if quiet:
            ray_data_log.setLevel(logging.ERROR)
        try:
            yield ray
        finally:
            ray_data_log.setLevel(level)


class ShardWriter:
    """A Ray Data actor: one model load, then every shard it is handed, written by `write_shard`."""

    def __init__(self, model: str, precision: str | None, device: str, threads: int, plan: Plan, outdir: str) -> None:
        from dcgan_runtime.engine.generator import Generator

        self.g = Generator.load(model, device=device, threads=threads, precision=precision)
        self.plan, self.outdir = plan, Path(outdir)

    def __call__(self, batch: dict[str, np.ndarray], batch_size: int = 64) -> dict[str, np.ndarray]:
        images = [  # a shard in place was written by this run's actor that died before it could report it
            len(self.plan.seeds_of(int(k)))
            if in_place(self.outdir, self.plan, int(k), self.g.metadata.image_shape)
            else write_shard(self.g, self.plan, self.outdir, int(k), batch_size)
            for k in batch["shard"]
        ]
        return {"shard": batch["shard"], "images": np.asarray(images, np.int64)}


def _resources(device: str, workers: int) -> dict[str, Any]:
    threads = max(1, (os.cpu_count() or 1) // workers)
    gpu = on_gpu(device)
    return {
        "threads": 1 if gpu else threads,
        "remote": {"num_cpus": 1, "num_gpus": 1 if gpu else 0},  # Ray Data restarts dead actors and retries
    }


def write(
    model: str,
    plan: Plan,
    outdir: str | os.PathLike[str],
    *,
    address: str | None = None,
    workers: int = 2,
    device: str = "cpu",
    precision: str | None = None,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> Summary:
    """Write this invocation's missing shards of `plan` into `outdir` (prepared by `shards.prepare`) on Ray."""
    outdir = Path(outdir)
    start = time.perf_counter()
    mine = list(plan.mine())
    shape = tuple(read_json(outdir / MANIFEST)["image_shape"])  # prepare wrote it for this run
    todo = [k for k in mine if not in_place(outdir, plan, k, shape)]
    if not todo:
        return Summary(0, len(mine), 0, time.perf_counter() - start)
    total = sum(len(plan.seeds_of(k)) for k in todo)
    res = _resources(device, workers)
    with connected(address, workers) as ray:
        ds = ray.data.from_items([{"shard": k} for k in todo], override_num_blocks=len(todo))
        ds = ds.map_batches(
            ShardWriter,
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=min(workers, len(todo))),
            fn_constructor_kwargs={
                "model": model,
                "precision": precision,
                "device": device,
                "threads": res["threads"],
                "plan": plan,
                "outdir": str(outdir.resolve()),
            },  # fmt: skip
            fn_kwargs={"batch_size": batch_size},
            **res["remote"],
        )
        done = 0
        for row in ds.iter_rows():
            done += int(row["images"])
            if progress is not None:
                progress(done, total)
    lost = remove_leftovers(outdir, plan)  # what a worker killed mid-shard left; Ray rewrote that shard elsewhere
    log.info("ray: %d shards, %d images%s", len(todo), done, f"; removed {lost} leftovers of lost workers" * bool(lost))
    return Summary(len(todo), len(mine) - len(todo), done, time.perf_counter() - start)


class _Images:
    """A Ray Data actor turning positions in a SeedSet into {"seed", "image"} rows."""

    def __init__(self, model: str, precision: str | None, device: str, threads: int, seeds: SeedSet) -> None:
        from dcgan_runtime.engine.generator import Generator

        self.g = Generator.load(model, device=device, threads=threads, precision=precision)
        self.seeds = seeds

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        seeds = self.seeds.at(batch["id"])
        return {"seed": seeds, "image": self.g.generate(seeds=seeds.tolist(), batch_size=max(1, len(seeds)))}


def dataset(
    model: str,
    seeds: SeedSet,
    *,
    workers: int = 2,
    device: str = "cpu",
    precision: str | None = None,
    batch_size: int = 64,
) -> Any:
    """A lazy Ray Dataset of {"seed": int64, "image": uint8 (H, W, C)} rows, one per seed. Ray Data keeps
    no row order unless `DataContext.get_current().execution_options.preserve_order` is set; each row
    carries its seed.

    Ray must be initialised (`ray.init()`), or Ray Data starts a local instance on first use.
    """
    ray = _ray()
    res = _resources(device, workers)
    return ray.data.range(len(seeds)).map_batches(
        _Images,
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=workers),
        fn_constructor_kwargs={
            "model": model,
            "precision": precision,
            "device": device,
            "threads": res["threads"],
            "seeds": seeds,
        },  # fmt: skip
        **res["remote"],
    )
