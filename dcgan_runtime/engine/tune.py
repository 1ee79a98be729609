"""How a CPU `Generator` runs each batch size, chosen by measuring on this machine and cached.

A `Strategy` runs a batch as `workers` onnxruntime sessions side by side, each with `threads`
intra-op threads on its own slice of the batch, with a graph optimisation level and thread spinning
setting. A `Plan` maps batch-size bands to strategies. The built-in plan (one session with every
thread for small batches, one single-threaded session per thread from 2 images per thread) is what
one AVX-512 machine liked; `measure` times every candidate on the machine the code finds itself on,
batch size by batch size and round-robin (noise hits all candidates alike), and `choose` keeps the
fastest per band. Candidates whose output is not bit-identical to the built-in plan's are dropped,
so a plan changes speed, never images. The result is cached per model file, onnxruntime version,
CPU (name and flags) and thread count, in $DCGAN_CACHE (or ~/.cache/dcgan)/tune/.

>>> default_plan(2).pick(1).label(), default_plan(2).pick(64).label()
('1x2 spin all', '2x1 all')
>>> Plan.from_json(default_plan(4).to_json()) == default_plan(4)
True
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dcgan_runtime import files
from dcgan_runtime.errors import first_line

LEVELS = ("basic", "extended", "all")  # onnxruntime's graph optimisation levels
SIZES = (1, 2, 4, 8, 16, 32, 64)  # one measured batch size per band; a band runs up to the next size
log = logging.getLogger(__name__)
FORMAT = 1  # the tuning file's layout
SETTLE_S = 0.02  # pause between strategies: the last session's idle threads stop spinning meanwhile


@dataclass(frozen=True)
class Strategy:
    workers: int  # sessions run side by side, each on a contiguous slice of the batch
    threads: int  # intra-op threads per session
    spinning: bool | None = None  # idle intra-op threads spin; None: as the session options say
    level: str | None = None  # graph optimisation "basic" | "extended" | "all"; None: as the options say

    def __post_init__(self) -> None:
        for name in ("workers", "threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.spinning is not None and not isinstance(self.spinning, bool):
            raise ValueError(f"spinning must be true, false or null, got {self.spinning!r}")
        if self.level is not None and self.level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS} or null, got {self.level!r}")

    def label(self) -> str:
        """'2x1' (workers x threads), then any option that differs from the session's own.

        >>> Strategy(1, 2, spinning=False, level="extended").label()
        '1x2 no-spin extended'
        """
        extra = {True: " spin", False: " no-spin", None: ""}[self.spinning] + (f" {self.level}" if self.level else "")
        return f"{self.workers}x{self.threads}{extra}"


@dataclass(frozen=True)
class Plan:
    bands: tuple[tuple[int, Strategy], ...]  # (smallest batch size, strategy), ascending, the first from 1
    source: str = field(default="built-in", compare=False)  # where it came from, for reports

    def __post_init__(self) -> None:
        starts = [b for b, _ in self.bands]
        if not starts or starts[0] != 1 or starts != sorted(set(starts)):
            raise ValueError(f"a plan's bands must start at batch 1 and ascend, got {starts}")

    def pick(self, batch: int) -> Strategy:
        """The strategy for a batch of `batch` images."""
        chosen = self.bands[0][1]
        for start, strategy in self.bands:
            if batch >= start:
                chosen = strategy
        return chosen

    def describe(self) -> str:
        """One line, e.g. 'batch 1-3: 1x2; 4+: 2x1 (built-in)'."""
        parts = []
        for i, (start, s) in enumerate(self.bands):
            end = self.bands[i + 1][0] - 1 if i + 1 < len(self.bands) else None
            span = f"{start}+" if end is None else (f"{start}" if end == start else f"{start}-{end}")
            parts.append(f"{span}: {s.label()}")
        return "batch " + "; ".join(parts) + f" ({self.source})"

    def to_json(self) -> list[dict[str, Any]]:
        return [{"min_batch": b, **s.__dict__} for b, s in self.bands]

    @classmethod
    def from_json(cls, bands: object, source: str = "built-in") -> Plan:
        """Raises ValueError for anything but a list of {min_batch, workers, threads, spinning, level}."""
        if not isinstance(bands, list) or not all(isinstance(b, dict) for b in bands):
            raise ValueError("a plan is a list of objects")
        try:
            parsed = tuple(
                (b["min_batch"], Strategy(**{k: v for k, v in b.items() if k != "min_batch"})) for b in bands
            )
        except (KeyError, TypeError) as e:
            raise ValueError(f"a plan band is malformed: {e}") from None
        if not all(type(b) is int for b, _ in parsed):
            raise ValueError("min_batch must be an integer")
        return cls(_merge(parsed), source)


def default_plan(threads: int, explicit: bool = True) -> Plan:
    """One session with every thread below 2 images per thread; above it, one single-threaded session per
    thread (onnxruntime's ConvTranspose parallelises poorly inside one image). `explicit`: with
    onnxruntime's own defaults (all optimisations, spinning), else as the caller's session options say."""
    level, spin = ("all", True) if explicit else (None, None)
    one = Strategy(1, threads, spin if threads > 1 else None, level)
    if threads == 1:
        return Plan(((1, one),))
    return Plan(((1, one), (2 * threads, Strategy(threads, 1, None, level))))


def candidates(threads: int) -> list[Strategy]:
    """Every way to run on `threads` threads: workers x threads-per-worker for each divisor, each graph
    optimisation level, and spinning on or off where a session has more than one thread."""
    out = []
    for workers in (w for w in range(1, threads + 1) if threads % w == 0):
        per = threads // workers
        for level in LEVELS:
            for spinning in (True, False) if per > 1 else (None,):
                out.append(Strategy(workers, per, spinning, level))
    return out


@dataclass
class Table:
    """Seconds per call, one figure per round, by strategy label and batch size; the labels dropped
    for other results. `rates` are images/s from each cell's median."""

    threads: int
    blocks: dict[str, dict[int, list[float]]]
    strategies: dict[str, Strategy]
    differs: list[str]
    seconds: float

    @functools.cached_property
    def rates(self) -> dict[str, dict[int, float]]:
        return {k: {n: n / float(np.median(ts)) for n, ts in v.items()} for k, v in self.blocks.items() if v}

    def wins(self, challenger: str, holder: str, size: int) -> float:
        """The share of rounds in which `challenger` was faster than `holder` (same round, same conditions)."""
        pairs = list(zip(self.blocks[challenger][size], self.blocks[holder][size]))
        return sum(c < h for c, h in pairs) / len(pairs)

    def best(self, size: int) -> tuple[str, float]:
        return max(((label, r[size]) for label, r in self.rates.items() if size in r), key=lambda x: x[1])


Runner = Callable[[Strategy, np.ndarray], np.ndarray]  # (strategy, latents) -> float32 images


def measure(
    run: Runner,
    latent_dim: int,
    threads: int,
    *,
    sizes: Sequence[int] = SIZES,
    strategies: Sequence[Strategy] | None = None,
    seconds_per_size: float = 1.5,
    rounds: int = 5,
) -> Table:
    """Time `run` for every strategy at every size, `rounds` rounds of `round_robin` blocks; a
    strategy's rate is the median of its blocks. About `seconds_per_size` per size however many
    strategies there are (plus building sessions): where time is short, fewer rounds and strategies
    are timed (`_fit`); every strategy timed anywhere is checked for identical images at every size.

    The first strategy's output is the reference: any other whose output differs by a bit is dropped.
    By default the strategies are the built-in plan's, then every candidate.
    """
    built_in = [s for _, s in default_plan(threads).bands]
    strategies = list(strategies or [*built_in, *(s for s in candidates(threads) if s not in built_in)])
    started = time.perf_counter()
    z = np.random.RandomState(0).standard_normal((max(sizes), latent_dim)).astype(np.float32)
    table: dict[str, dict[int, list[float]]] = {s.label(): {} for s in strategies}
    differs: list[str] = []
    references, checked = {}, set()
    for size in sizes:
        t = time.perf_counter()
        references[size] = run(strategies[0], z[:size])
        once = time.perf_counter() - t
        live, r, calls = _fit([s for s in strategies if s.label() not in differs], seconds_per_size, once, rounds)
        for s in live[1:]:
            checked.add((s.label(), size))
            if not np.array_equal(run(s, z[:size]), references[size]):
                differs.append(s.label())
        live = [s for s in live if s.label() not in differs]
        fns = {s.label(): functools.partial(run, s, z[:size]) for s in live}
        for label, per_call in round_robin(fns, dict.fromkeys(fns, calls), r).items():
            table[label][size] = per_call
    # a strategy timed at some sizes only (time was short) is still checked at every size: one call each
    for s in strategies[1:]:
        if table[s.label()] and s.label() not in differs:
            for size in sizes:
                if (s.label(), size) not in checked and not np.array_equal(run(s, z[:size]), references[size]):
                    differs.append(s.label())
                    break
    by_label = {s.label(): s for s in strategies}
    # a strategy that differed at any size is dropped at every size: its images are not the plan's
    kept = {k: v for k, v in table.items() if v and k not in differs}
    return Table(threads, kept, by_label, differs, time.perf_counter() - started)


def _fit(strategies: list[Strategy], seconds: float, once: float, rounds: int) -> tuple[list[Strategy], int, int]:
    """(strategies, rounds, calls per block) that time in about `seconds`: blocks of 2+ calls, 5 rounds,
    every strategy where there is time; else single calls, down to 3 rounds, then the first strategies
    only (the built-in ones come first). One strategy's round costs a pause, one untimed and `calls` calls."""
    calls = max(2, int(seconds / (rounds * len(strategies) * once * 1.2)))

    def cost(r: int, c: int) -> float:
        return r * (SETTLE_S + (1 + c) * once)

    if len(strategies) * cost(rounds, calls) > seconds:
        calls = 1
        while rounds > 3 and len(strategies) * cost(rounds, calls) > seconds:
            rounds -= 1
    keep = max(2, int(seconds // cost(rounds, calls)))
    return strategies[:keep], rounds, calls


def round_robin(
    fns: Mapping[str, Callable[[], object]], calls: Mapping[str, int], rounds: int
) -> dict[str, list[float]]:
    """Seconds per call of each function, one figure per round. A round runs every function for a
    block of `calls[name]` calls after a pause and one untimed call (the last one's threads spin a
    while after it ran, and would slow the next one down), in an order rotated each round."""
    names = list(fns)
    blocks: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            time.sleep(SETTLE_S)
            fns[name]()
            t = time.perf_counter()
            for _ in range(calls[name]):
                fns[name]()
            blocks[name].append((time.perf_counter() - t) / calls[name])
    return blocks


def choose(table: Table, source: str = "measured", margin: float = 0.03, majority: float = 0.8) -> Plan:
    """Per measured size, the built-in plan's strategy unless another is clearly faster: by more than
    `margin` in median and in at least `majority` of the rounds (paired, so a noisy moment that hit
    one strategy's block does not decide). Each band runs from its size to the next one's.
    """
    rates = table.rates
    sizes = sorted({s for r in rates.values() for s in r})
    built_in = default_plan(table.threads)
    bands: list[tuple[int, Strategy]] = []
    for i, size in enumerate(sizes):
        holder = built_in.pick(size).label()
        label = holder if size in rates.get(holder, {}) else table.best(size)[0]
        challengers = sorted(rates, key=lambda k: -rates[k].get(size, 0.0))
        for c in challengers:
            if c == label or size not in rates[c]:
                continue
            if rates[c][size] > rates[label][size] * (1 + margin) and table.wins(c, label, size) >= majority:
                label = c
            break  # only the fastest may challenge
        bands.append((1 if i == 0 else size, table.strategies[label]))
    return Plan(_merge(tuple(bands)), source)


def confirm(
    run: Runner, latent_dim: int, plan: Plan, threads: int, seconds_per_size: float = 1.5, rounds: int = 7
) -> Plan:
    """Run every band where `plan` leaves the built-in strategy again, head to head with the built-in
    one at the band's first size, and keep the change only if it wins again (median by 3%, 6 of 7
    rounds). The fastest of many noisy measurements is flattered by the noise; a rematch is not.
    """
    built_in = default_plan(threads)
    edges = sorted({b for b, _ in plan.bands} | {b for b, _ in built_in.bands})  # each piece has one holder
    bands = []
    for start in edges:
        strategy, holder = plan.pick(start), built_in.pick(start)
        if strategy != holder:
            rematch = measure(
                run,
                latent_dim,
                threads,
                sizes=[start],
                strategies=[holder, strategy],
                seconds_per_size=seconds_per_size,
                rounds=rounds,
            )
            if choose(rematch, majority=6 / 7).pick(start) != strategy:
                strategy = holder
        bands.append((start, strategy))
    return Plan(_merge(tuple(bands)), plan.source)


def _merge(bands: tuple[tuple[int, Strategy], ...]) -> tuple[tuple[int, Strategy], ...]:
    """Neighbouring bands with the same strategy become one."""
    out: list[tuple[int, Strategy]] = []
    for start, s in bands:
        if not out or out[-1][1] != s:
            out.append((start, s))
    return tuple(out)


# ---------------------------------------------------------------------------------------------- cache


def cpu_info() -> tuple[str, frozenset[str]]:
    """The CPU's model name and flags from /proc/cpuinfo (elsewhere: the platform's name, no flags)."""
    name, flags = "", frozenset[str]()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not name:
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = frozenset(value.split())
    except OSError:
        pass
    return name or platform.processor() or platform.machine(), flags


def machine_key() -> dict[str, str]:
    """The CPU's name and the flags that decide onnxruntime's kernels (a plan is only good where measured)."""
    name, have = cpu_info()
    flags = " ".join(sorted(f for f in have if f in ("avx2", "fma") or f.startswith(("avx512", "amx"))))
    return {"cpu": name, "cpu_flags": flags}


def cache_key(model_sha256: str, threads: int, onnxruntime_version: str) -> dict[str, Any]:
    return {"model_sha256": model_sha256, "onnxruntime": onnxruntime_version, "threads": threads, **machine_key()}


def cache_file(key: dict[str, Any]) -> Path:
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return files.cache_dir() / "tune" / f"{name}.json"


def _read_cache(key: dict[str, Any]) -> dict[str, Any] | None:
    """The cache file for `key` if it is ours and for this key, else None (one logged line when it is bad).

    Untrusted: a regular file (not a FIFO or device), at most files.SMALL_FILE bytes, JSON, our format.
    """
    path = cache_file(key)
    try:
        data = files.read_json(path)
    except FileNotFoundError:
        log.info("no tuned plan cached for this model, CPU and thread count: the built-in plan runs (dcgan tune)")
        return None
    except (OSError, ValueError) as e:
        log.warning("ignoring the tuning cache %s: %s; dcgan tune writes a new one", path, first_line(e))
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("key") != key:
        log.warning("ignoring the tuning cache %s: it is not a plan for this model and machine", path)
        return None
    return data


def load_cached(key: dict[str, Any]) -> Plan | None:
    """The cached plan for `key`, or None when there is none (or it is unusable: the built-in plan runs)."""
    data = _read_cache(key)
    if data is None:
        return None
    try:
        plan = Plan.from_json(data.get("plan"), source=f"tuned, {cache_file(key)}")
    except ValueError as e:
        log.warning("ignoring the tuning cache %s: %s; dcgan tune writes a new one", cache_file(key), first_line(e))
        return None
    # a plan runs on exactly the threads it was measured with: anything else is not ours
    if all(s.workers * s.threads == key["threads"] for _, s in plan.bands):
        return plan
    log.warning("ignoring the tuning cache %s: its plan is for another thread count", cache_file(key))
    return None


def load_measurements(key: dict[str, Any]) -> dict[str, dict[int, float]] | None:
    """The images/s per strategy and batch size that `dcgan tune` cached for `key`, or None."""
    if load_cached(key) is None:  # the same checks: our format, this key, a plan for these threads
        return None
    try:
        rates = (_read_cache(key) or {})["measured_images_per_s"]
        return {str(k): {int(n): float(r) for n, r in v.items()} for k, v in rates.items()}
    except (KeyError, TypeError, AttributeError, ValueError, OverflowError):
        return None


def save(key: dict[str, Any], plan: Plan, table: Table) -> Path:
    """Write the plan and the measurements behind it (atomically) to the cache; returns the file."""
    data = {
        "format": FORMAT,
        "key": key,
        "plan": plan.to_json(),
        "measured_images_per_s": {k: {str(n): round(r, 1) for n, r in v.items()} for k, v in table.rates.items()},
        "dropped_for_different_output": table.differs,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return files.atomic_write(cache_file(key), (json.dumps(data, indent=1) + "\n").encode())


def report(table: Table, plan: Plan) -> str:
    """A table of images/s per strategy and batch size, each also as a share of that size's best."""
    sizes = sorted({s for r in table.rates.values() for s in r})
    chosen = {size: plan.pick(size).label() for size in sizes}
    width = max(len(k) for k in table.rates)
    lines = [f"{'strategy':<{width}} " + " ".join(f"{'batch ' + str(s):>16}" for s in sizes)]
    for label, r in table.rates.items():
        cells = []
        for size in sizes:
            best = table.best(size)[1]
            mark = "*" if chosen[size] == label else " "
            cells.append(f"{r[size]:>7,.0f} ({r[size] / best:4.0%}){mark}" if size in r else " " * 16)
        lines.append(f"{label:<{width}} " + " ".join(f"{c:>16}" for c in cells))
    lines.append(f"* chosen; {table.seconds:.1f} s of measuring on {table.threads} threads")
    if table.differs:
        lines.append("dropped (output not bit-identical): " + ", ".join(table.differs))
    return "\n".join(lines)
