"""`Generator`: load an exported `generator.onnx` once, then generate, interpolate and do arithmetic.

>>> g = Generator.load("generator.onnx")            # doctest: +SKIP
>>> g.generate(seeds=[3, 7]).shape                  # doctest: +SKIP
(2, 64, 64, 3)
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

try:
    import onnxruntime as ort
except ImportError as e:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "dcgan_runtime.Generator needs onnxruntime: pip install 'dcgan[cpu]' (or 'dcgan[gpu]' for CUDA; never both)"
    ) from e

from dcgan_runtime import latent
from dcgan_runtime import tune as tuning
from dcgan_runtime.errors import MetadataError, ModelError, ProviderError
from dcgan_runtime.images import to_uint8
from dcgan_runtime.lanes import Lanes
from dcgan_runtime.metadata import FILENAMES, KEY, PRECISIONS, Metadata

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"
Provider = str | tuple[str, dict[str, Any]]  # a name, or (name, options), as onnxruntime takes them
MAX_BATCH = 4096  # images per onnxruntime call
MAX_THREADS = 1024  # CPU threads one Generator may ask for (tuning builds sessions for each way to split them)


def resolve_providers(device: str, available: Sequence[str]) -> tuple[list[Provider], bool]:
    """Providers to request for `device` ("auto", "cpu", "cuda", "cuda:N") and whether CUDA is strictly required.

    >>> resolve_providers("cpu", [CUDA, CPU])
    (['CPUExecutionProvider'], False)
    >>> resolve_providers("cuda:1", [CUDA, CPU])
    ([('CUDAExecutionProvider', {'device_id': 1}), 'CPUExecutionProvider'], True)
    """
    if device == "cpu":
        return [CPU], False
    if device == "auto":
        return ([CUDA, CPU] if CUDA in available else [CPU]), False
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        if CUDA not in available:
            raise ProviderError(
                f"device={device!r}, but this onnxruntime ({ort.__version__}) has no CUDA provider "
                f"(available: {list(available)}): pip install 'dcgan[gpu]' (onnxruntime-gpu, "
                "not together with onnxruntime), or use device='cpu'"
            )
        return [(CUDA, {"device_id": int(device[5:] or 0)}) if ":" in device else CUDA, CPU], True
    raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def available_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class Generator:
    """A loaded DCGAN generator. Thread-safe: one instance may serve many threads.

    On CPU each batch size runs by a plan (`g.plan`): one session with every thread, or the batch
    split across sessions side by side, chosen per batch-size band, by measurement on this machine
    where `dcgan tune` or `tune=True` made one (see dcgan_runtime.tune). Every image goes through the
    same arithmetic either way (onnxruntime never splits a sum across threads), so results do not
    depend on the plan, the batch size or the split. `close()` (or a `with` block) stops the workers.

    >>> with Generator.load("generator.onnx") as g:      # doctest: +SKIP
    ...     images = g.generate(seeds=range(8))
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        metadata: Metadata,
        path: Path,
        requested: list[Provider],
        lanes: Lanes | None = None,
    ) -> None:
        self.session, self.metadata, self.path = session, metadata, path
        self.requested_providers = [p if isinstance(p, str) else p[0] for p in requested]
        self.providers: list[str] = session.get_providers()  # what actually runs
        self._cuda = self.providers[0] == CUDA
        self._lanes = lanes  # CPU only: how each batch size runs (a tune.Plan over sessions side by side)
        self._tunable = False  # a plan may be cached for it: CPU, the session options ours to choose

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        device: str = "auto",
        *,
        providers: Sequence[Provider] | None = None,
        provider_options: Sequence[dict[str, Any]] | None = None,
        session_options: ort.SessionOptions | None = None,
        threads: int | None = None,
        precision: str | None = None,
        tune: bool | None = None,
    ) -> Generator:
        """Open `path` (a file from `python -m export`, or its output folder), check it, and build the session.

        `device`: "auto" (CUDA when a session really runs on it, else CPU with one warning), "cpu",
        "cuda" or "cuda:N" (raises ProviderError if CUDA does not actually run). `providers` and
        `provider_options` override `device`; `threads` sets the CPU threads (default: all available).
        `precision` ("fp32", "fp16", "int8") picks the file in a folder (default fp32), and for a file
        is checked against its metadata. `session_options` is used as given (with `threads`, a copy of
        its attributes is made); the CPU worker sessions copy its attributes. It is never changed.

        On CPU, `tune` decides how each batch size runs (see `tune()`): None (default) uses this
        machine's cached tuning for this file and thread count if `dcgan tune` or `tune=True` made one,
        else the built-in plan; True measures now if nothing is cached (seconds); False always uses the
        built-in plan. Whatever runs, the images are bit-identical. `plan` says what was chosen.

        >>> Generator.load("runs/faces/export", precision="int8").metadata.precision  # doctest: +SKIP
        'int8'
        """
        if not isinstance(path, (str, os.PathLike)):
            raise ValueError(f"path must be a str or os.PathLike[str], got {type(path).__name__}")
        if precision is not None and precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS} or None, got {precision!r}")
        path = Path(path)
        if path.is_dir():
            path = path / FILENAMES[precision or "fp32"]
            if not path.is_file():
                flag = f" --{precision}" if precision not in (None, "fp32") else ""
                raise ModelError(
                    f"{str(path.parent)!r} holds no {path.name}: export it "
                    f"(python -m export RUN --outdir {path.parent} --force{flag})"
                )
        if not path.is_file():
            raise ModelError(f"model file {str(path)!r} does not exist")
        if providers is not None:
            requested, strict = list(providers), any((p if isinstance(p, str) else p[0]) == CUDA for p in providers)
        else:
            requested, strict = resolve_providers(device, ort.get_available_providers())
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS
        ):
            raise ValueError(f"threads must be an integer in 1..{MAX_THREADS}, got {threads!r}")
        own = session_options if session_options is not None and threads is None else None  # used as given
        threads = threads or (session_options.intra_op_num_threads if session_options else 0) or available_cpus()
        session = _session(path, own or _options(session_options, threads), requested, provider_options)
        meta = read_metadata(session, path)
        if precision is not None and meta.precision != precision:
            raise MetadataError(
                f"{str(path)!r} holds {meta.precision} weights, not {precision}: load "
                f"{FILENAMES[precision]} from the same export folder, or ask for {meta.precision}"
            )
        check_signature(session, meta, path)
        active = session.get_providers()
        if any((p if isinstance(p, str) else p[0]) == CUDA for p in requested) and active[0] != CUDA:
            msg = (
                f"CUDA was requested but the session runs on {active}: the CUDA provider failed to load "
                "(check the CUDA/cuDNN libraries that onnxruntime-gpu needs)"
            )
            if strict:
                raise ProviderError(msg)
            warnings.warn(msg + "; running on CPU", RuntimeWarning, stacklevel=2)  # once per call site
        if tune is not None and not isinstance(tune, bool):
            raise ValueError(f"tune must be True, False or None, got {tune!r}")
        if active[0] != CPU:
            return cls(session, meta, path, requested)
        if tune and session_options is not None:
            raise ValueError("tune=True picks the session options itself: pass session_options or tune=True, not both")

        def make_session(s: tuning.Strategy) -> ort.InferenceSession:
            return _session(path, _options(session_options, s.threads, s), [CPU], None)

        plan = tuning.default_plan(threads, explicit=session_options is None)
        lanes = Lanes(plan, threads, make_session, lambda s, z, out: _run_into(s, z, out, meta, path))
        lanes.adopt(plan.pick(1), session)
        g = cls(session, meta, path, requested, lanes)
        g._tunable = session_options is None
        if g._tunable and tune is not False:
            cached = tuning.load_cached(g._tune_key)
            if cached is not None:
                lanes.use(cached)
            elif tune:
                g.tune()
        return g

    @property
    def plan(self) -> tuning.Plan | None:
        """How each batch size runs on the CPU (None on CUDA); `plan.describe()` says it in one line."""
        return self._lanes.plan if self._lanes is not None else None

    def tune(self, *, save: bool = True, seconds_per_size: float = 1.5) -> tuning.Table:
        """Time every CPU strategy at batch sizes 1-64 on this machine (`dcgan_runtime.tune`), switch each
        band to a strategy that is clearly and repeatably faster than the built-in one, and (with `save`)
        cache the plan for later loads of this file with as many threads. Returns the measurements.

        >>> from dcgan_runtime import tune
        >>> print(tune.report(g.tune(), g.plan))           # doctest: +SKIP
        """
        if self._lanes is None:
            raise ProviderError(f"tuning chooses CPU strategies; this generator runs on {self.providers[0]}")
        if not self._tunable:
            raise ValueError("this generator runs with the session_options it was given; tuning would override them")
        lanes = self._lanes

        def run(strategy: tuning.Strategy, z: np.ndarray) -> np.ndarray:
            out = np.empty(
                (len(z), self.metadata.channels, self.metadata.image_size, self.metadata.image_size), np.float32
            )
            lanes.run(z.reshape(len(z), -1, 1, 1), out, strategy)
            return out

        table = tuning.measure(run, self.metadata.latent_dim, lanes.threads, seconds_per_size=seconds_per_size)
        plan = tuning.confirm(
            run, self.metadata.latent_dim, tuning.choose(table, "measured now"), lanes.threads, seconds_per_size
        )
        if save:
            try:
                plan = tuning.Plan(plan.bands, f"measured now, cached in {tuning.save(self._tune_key, plan, table)}")
            except OSError as e:  # the plan still serves this generator
                plan = tuning.Plan(plan.bands, f"measured now, not cached: {e}")
        lanes.use(plan)
        return table

    @functools.cached_property
    def _tune_key(self) -> dict[str, Any]:
        """The plan cache's key (hashing the model file once per Generator, however often it is asked)."""
        assert self._lanes is not None
        return tuning.cache_key(self.path, self._lanes.threads, ort.__version__)

    def close(self) -> None:
        """Stop the worker threads (the sessions go with the object). Idempotent."""
        if self._lanes is not None:
            self._lanes.close()

    def __enter__(self) -> Generator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ latents
    def latents(self, n: int | None = None, seed: int = 0, *, seeds: Sequence[int] | None = None) -> np.ndarray:
        """float32 (n, latent_dim) from one RandomState(seed) draw, or one RandomState per seed in `seeds`."""
        dim = self.metadata.latent_dim
        if seeds is not None:
            if n is not None and n != len(seeds):
                raise ValueError(f"pass n or seeds, not both (n={n}, {len(seeds)} seeds)")
            return latent.latents_from_seeds(seeds, dim)
        if n is None:
            raise ValueError("pass n (with seed) or seeds")
        return latent.latents_from_seed(n, seed, dim)

    # ------------------------------------------------------------------ the one decode path
    def decode(self, z: np.ndarray, output: Literal["uint8", "float"] = "uint8", batch_size: int = 64) -> np.ndarray:
        """Latents (N, latent_dim) -> uint8 (N, H, W, C), or float32 NCHW in [-1, 1] with output="float".

        Runs in chunks of `batch_size` (capped at 4096): memory stays bounded, results do not change.
        """
        if output not in ("uint8", "float"):
            raise ValueError(f"output must be 'uint8' or 'float', got {output!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be an integer in 1..{MAX_BATCH}, got {batch_size!r}")
        z = latent.check_latents(z, self.metadata.latent_dim)
        m = self.metadata
        chw = (m.channels, m.image_size, m.image_size)
        if output == "float":
            out = np.empty((len(z), *chw), np.float32)
            for i in range(0, len(z), batch_size):
                self._run(z[i : i + batch_size], out[i : i + batch_size])
            return out
        out = np.empty((len(z), m.image_size, m.image_size, m.channels), np.uint8)
        chunk = np.empty((min(batch_size, len(z)), *chw), np.float32)  # one buffer, reused by every chunk
        for i in range(0, len(z), batch_size):
            n = min(batch_size, len(z) - i)
            self._run(z[i : i + n], chunk[:n])
            out[i : i + n] = to_uint8(chunk[:n])
        return out

    def _run(self, z: np.ndarray, out: np.ndarray) -> None:
        """Latents (N, latent_dim) -> `out` (N, C, H, W), written in place.

        On CPU onnxruntime writes straight into `out` through IO binding: no output allocation per
        call, which matters when worker threads would otherwise allocate and free megabytes per call
        (glibc returns such memory to the OS; int8 lost 30% to the page faults at batch 64).
        """
        m = self.metadata
        z = z.reshape(-1, m.latent_dim, 1, 1)
        if self._cuda:
            binding = self.session.io_binding()  # per call: a binding is not shared between threads
            binding.bind_cpu_input(m.input_name, z)
            binding.bind_output(m.output_name, "cuda")
            _execute(self.session, binding, self.path)
            result = binding.copy_outputs_to_cpu()[0]
            if result.shape != out.shape:
                raise ModelError(f"{str(self.path)!r} produced {result.shape}, its metadata promises {out.shape}")
            out[...] = result
            return
        assert self._lanes is not None  # every CPU generator has its lanes
        self._lanes.run(z, out)

    # ------------------------------------------------------------------ conveniences over decode
    def generate(
        self,
        n: int | None = None,
        seed: int = 0,
        *,
        seeds: Sequence[int] | None = None,
        batch_size: int = 64,
        output: Literal["uint8", "float"] = "uint8",
    ) -> np.ndarray:
        """Images for `n` latents from `seed`, or one image per seed in `seeds`."""
        return self.decode(self.latents(n, seed, seeds=seeds), output, batch_size)

    def interpolate(
        self,
        z0: np.ndarray,
        z1: np.ndarray,
        steps: int = 16,
        method: str = "slerp",
        output: Literal["uint8", "float"] = "uint8",
    ) -> np.ndarray:
        """`steps` images walking from z0 to z1 (both included), by slerp or lerp."""
        dim = self.metadata.latent_dim
        z0, z1 = (latent.check_latents(z, dim)[0] for z in (z0, z1))
        return self.decode(latent.interpolate(z0, z1, steps, method), output)

    def arithmetic(
        self,
        plus: Sequence[np.ndarray],
        minus: Sequence[np.ndarray] = (),
        neighbours: int = 0,
        noise: float = 0.25,
        seed: int = 0,
        output: Literal["uint8", "float"] = "uint8",
    ) -> np.ndarray:
        """Decode sum(mean(plus terms)) - sum(mean(minus terms)); each term is (k, latent_dim).

        With `neighbours=8`, also that many images around the result (the paper's figure): (1 + 8) images.
        """
        dim = self.metadata.latent_dim
        plus = [latent.check_latents(t, dim) for t in plus]
        minus = [latent.check_latents(t, dim) for t in minus]
        z = latent.arithmetic(plus, minus)
        return self.decode(latent.neighbours(z, neighbours, noise, seed) if neighbours else z[None], output)

    def __repr__(self) -> str:
        m = self.metadata
        return (
            f"Generator({str(self.path)!r}, {m.image_size}x{m.image_size}x{m.channels}, "
            f"latent_dim={m.latent_dim}, providers={self.providers})"
        )


# The SessionOptions attributes a caller may set; copied so that the caller's object is never changed.
_OPTION_FIELDS = (
    "enable_cpu_mem_arena",
    "enable_mem_pattern",
    "enable_mem_reuse",
    "enable_profiling",
    "execution_mode",
    "execution_order",
    "graph_optimization_level",
    "inter_op_num_threads",
    "log_severity_level",
    "log_verbosity_level",
    "logid",
    "optimized_model_filepath",
    "profile_file_prefix",
    "use_deterministic_compute",
)


_LEVELS = {
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def _options(
    base: ort.SessionOptions | None, threads: int, strategy: tuning.Strategy | None = None
) -> ort.SessionOptions:
    """A new SessionOptions: the caller's settings (if any) with `threads` intra-op threads, and a
    strategy's graph optimisation level and spinning where it sets them."""
    so = ort.SessionOptions()
    for name in _OPTION_FIELDS if base is not None else ():
        if hasattr(base, name):
            setattr(so, name, getattr(base, name))
    so.intra_op_num_threads = threads
    if strategy is not None and strategy.level is not None:
        so.graph_optimization_level = _LEVELS[strategy.level]
    if strategy is not None and strategy.spinning is not None:
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if strategy.spinning else "0")
    return so


def _run_into(session: ort.InferenceSession, z: np.ndarray, out: np.ndarray, m: Metadata, path: Path) -> None:
    binding = session.io_binding()
    binding.bind_cpu_input(m.input_name, np.ascontiguousarray(z))
    binding.bind_output(m.output_name, "cpu", 0, np.float32, out.shape, out.ctypes.data)
    _execute(session, binding, path)


def _execute(session: ort.InferenceSession, binding: Any, path: Path) -> None:
    """Run a bound call; onnxruntime's own failures (a graph that does not compute what its metadata
    says, memory it cannot get) are the model's problem: ModelError."""
    try:
        session.run_with_iobinding(binding)
    except Exception as e:  # onnxruntime raises its own exception types
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise ModelError(f"onnxruntime could not run {str(path)!r}: {first}") from None


def _session(
    path: Path, so: ort.SessionOptions, providers: list[Provider], provider_options: Sequence[dict[str, Any]] | None
) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(str(path), sess_options=so, providers=providers, provider_options=provider_options)
    except Exception as e:  # onnxruntime raises its own types for unreadable or invalid models
        raise ModelError(
            f"cannot load {str(path)!r} as an ONNX model (truncated, corrupt, or not ONNX): "
            f"{str(e).splitlines()[0][:300]}"
        ) from None


def read_metadata(session: ort.InferenceSession, path: Path) -> Metadata:
    props: dict[str, Any] = session.get_modelmeta().custom_metadata_map
    if KEY not in props:
        raise MetadataError(
            f"{str(path)!r} has no '{KEY}' metadata: it was not written by `python -m export` "
            "(re-export the checkpoint)"
        )
    return Metadata.from_json(props[KEY])


def check_signature(session: ort.InferenceSession, meta: Metadata, path: Path) -> None:
    """The graph's one input and output must agree with the metadata, with a dynamic batch dimension."""
    ins, outs = session.get_inputs(), session.get_outputs()
    want_in = [meta.latent_dim, 1, 1]
    want_out = [meta.channels, meta.image_size, meta.image_size]
    problems = []
    if len(ins) != 1 or ins[0].name != meta.input_name or list(ins[0].shape[1:]) != want_in:
        problems.append(f"inputs {[(i.name, i.shape) for i in ins]}, expected {meta.input_name!r} (N, {want_in})")
    if len(outs) != 1 or outs[0].name != meta.output_name or list(outs[0].shape[1:]) != want_out:
        problems.append(f"outputs {[(o.name, o.shape) for o in outs]}, expected {meta.output_name!r} (N, {want_out})")
    for t in ins[:1] + outs[:1]:
        if isinstance(t.shape[0], int):
            problems.append(f"{t.name!r} has a fixed batch size {t.shape[0]}: re-export with a dynamic batch")
        if t.type != "tensor(float)":
            problems.append(f"{t.name!r} is {t.type}, expected tensor(float)")
    if problems:
        raise ModelError(f"{str(path)!r} does not match its dcgan metadata: " + "; ".join(problems))
