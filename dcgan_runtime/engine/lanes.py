"""CPU execution of one ONNX graph by a `tune.Plan`: a batch runs as slices on sessions side by side.

Sessions are built on first use, one per (threads, spinning, level) for single-threaded workers (one
session is safe to run from many threads) and one per worker otherwise (each has its own intra-op
thread pool). Every slice goes through the same graph and kernels, so results do not depend on the
strategy, the batch size or the split: onnxruntime never splits one image's sums across threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from dcgan_runtime.engine.tune import Plan, Strategy

Session = Any  # an onnxruntime.InferenceSession
Execute = Callable[[Session, np.ndarray, np.ndarray], None]  # (session, latents, out) -> writes out


class Lanes:
    """Runs batches on the CPU by `plan`; `make_session(strategy)` builds one session for a strategy.

    >>> # Lanes(plan, threads, make_session, execute).run(z, out)  (Generator.load builds one)
    """

    def __init__(self, plan: Plan, threads: int, make_session: Callable[[Strategy], Session], execute: Execute) -> None:
        self.plan, self.threads = plan, threads
        self._make, self._execute = make_session, execute
        self._sessions: dict[tuple[int, bool | None, str | None], list[Session]] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_size, self._closed = 0, False

    def adopt(self, strategy: Strategy, session: Session) -> None:
        """Use an already built session for `strategy`'s first worker (the Generator's main session)."""
        self._sessions.setdefault(_key(strategy), []).insert(0, session)

    def use(self, plan: Plan) -> None:
        """Switch to `plan`, letting go of sessions it does not need."""
        with self._lock:
            keep = {_key(s) for _, s in plan.bands}
            self._sessions = {k: v for k, v in self._sessions.items() if k in keep}
            self.plan = plan

    def run(self, z: np.ndarray, out: np.ndarray, strategy: Strategy | None = None) -> None:
        """Latents (N, ...) -> `out` (N, C, H, W), by `strategy` or else the plan's for N."""
        strategy = strategy or self.plan.pick(len(z))
        workers = 1 if self._closed else min(strategy.workers, len(z))
        sessions = self._ready(strategy)
        if workers == 1:
            self._execute(sessions[0], z, out)
            return
        bounds = np.linspace(0, len(z), workers + 1).astype(int)
        parts = [(sessions[i % len(sessions)], slice(a, b)) for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]
        pool = self._pool
        if pool is None:  # closed meanwhile
            self._execute(sessions[0], z, out)
            return
        list(pool.map(lambda p: self._execute(p[0], z[p[1]], out[p[1]]), parts))

    def close(self) -> None:
        """Stop the worker threads; later calls run on one session. Idempotent."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            self._pool, self._closed = None, True

    def _ready(self, strategy: Strategy) -> list[Session]:
        need = strategy.workers if strategy.threads > 1 else 1
        sessions = self._sessions.get(_key(strategy))  # every call but the first: no lock taken
        if (
            sessions is not None
            and len(sessions) >= need
            and (strategy.workers <= max(1, self._pool_size) or self._closed)
        ):
            return sessions
        with self._lock:
            sessions = self._sessions.setdefault(_key(strategy), [])
            while len(sessions) < need:
                sessions.append(self._make(strategy))
            if strategy.workers > max(1, self._pool_size) and not self._closed:
                old, self._pool = self._pool, ThreadPoolExecutor(strategy.workers, thread_name_prefix="dcgan")
                self._pool_size = strategy.workers
                if old is not None:
                    old.shutdown(wait=False)  # calls already queued on it still finish
            return sessions


def _key(s: Strategy) -> tuple[int, bool | None, str | None]:
    return (s.threads, s.spinning, s.level)
