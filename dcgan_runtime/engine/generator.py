"""`Generator`: load an exported `generator.onnx` once, then generate, interpolate and do arithmetic.

Outputs: "uint8" images (N, H, W, C), the default; "float" tensors (N, C, H, W) in [-1, 1], what the
graph computes; "pil" a list of `PIL.Image` (mode "L" for one channel, "RGB" for three).

>>> g = Generator.load("generator.onnx")            # doctest: +SKIP
>>> g.generate(seeds=[3, 7]).shape                  # doctest: +SKIP
(2, 64, 64, 3)
>>> g.generate(seeds=[3], output="pil")[0].size     # doctest: +SKIP
(64, 64)
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
from numpy.typing import NDArray
from PIL import Image

try:
    import onnxruntime as ort
except ImportError as e:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "dcgan_runtime.Generator needs onnxruntime: pip install 'dcgan[cpu]' (or 'dcgan[gpu]' for CUDA; never both)"
    ) from e

from dcgan_runtime import files, latent
from dcgan_runtime.engine import fetch, openvino_cpu, session
from dcgan_runtime.engine import precision as auto
from dcgan_runtime.engine import providers as eps
from dcgan_runtime.engine import tune as tuning
from dcgan_runtime.engine.lanes import Lanes
from dcgan_runtime.engine.providers import CPU, Provider
from dcgan_runtime.errors import ClosedError, ModelError, ProviderError
from dcgan_runtime.images import to_pil, to_uint8
from dcgan_runtime.limits import MAX_BATCH
from dcgan_runtime.metadata import Metadata

log = logging.getLogger(__name__)
Output = Literal["uint8", "float", "pil"]
OUTPUTS = ("uint8", "float", "pil")


def _check_batch_size(batch_size: object) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch_size must be an integer in 1..{MAX_BATCH}, got {batch_size!r}")


class Generator:
    """A loaded DCGAN generator. Thread-safe: one instance may serve many threads.

    On CPU each batch size runs by a plan (`g.plan`): one session with every thread, or the batch
    split across sessions side by side, chosen per batch-size band, by measurement on this machine
    where `dcgan tune` or `tune=True` made one (see dcgan_runtime.engine.tune). Every image goes through the
    same arithmetic either way (onnxruntime never splits a sum across threads), so results do not
    depend on the plan, the batch size or the split. `close()` (or a `with` block) stops the workers.
    On any other provider (CUDA, TensorRT, ...) one session runs every batch, reading the latents
    from and writing the images into host buffers through IO binding (one copy each way).

    A Generator pickles as its path and load options, and unpickles by loading again, so process
    pools, Dask and Ray workers can take one (each process gets its own session).

    >>> with Generator.load("generator.onnx") as g:      # doctest: +SKIP
    ...     images = g.generate(seeds=range(8))
    >>> import pickle                                      # doctest: +SKIP
    >>> pickle.loads(pickle.dumps(g)).generate(seeds=[3])  # doctest: +SKIP
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
        self.requested_providers = [eps.name(p) for p in requested]
        self.providers: list[str] = session.get_providers()  # what actually runs
        self._lanes = lanes  # CPU only: how each batch size runs (a tune.Plan over sessions side by side)
        self._tunable = False  # a plan may be cached for it: CPU, the session options ours to choose
        self._load_args: dict[str, Any] = {"path": str(path)}  # what pickling reloads from (set by load)
        self._calls, self._closed = 0, False  # decodes running now; close() waits for them, then refuses more
        self._idle = threading.Condition()

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
        allow_http: bool = False,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> Generator:
        """Open `path` (a file from `python -m export`, or its output folder), check it, and build the session.

        `path` may also be remote (`dcgan_runtime.engine.fetch`): `hf://ORG/NAME[@REVISION]` loads that Hub
        repository's file for `precision` through the Hub cache; `https://.../generator.onnx[#sha256=HEX]`
        is downloaded once into $DCGAN_CACHE/url (and checked against the pin); plain http only for
        loopback hosts unless `allow_http`; `progress(bytes so far, total or None)` is called as it downloads.

        `device`: "auto" (CUDA when a session really runs on it, else CPU with one logged warning),
        "cpu", "cuda" or "cuda:N", "tensorrt" or "tensorrt:N" (TensorRT over CUDA, engines cached in
        $DCGAN_CACHE/tensorrt). `providers` (names or (name, options) pairs, any this onnxruntime
        build offers) and `provider_options` override `device`. Except for "auto", the first provider
        requested must be the one that runs: anything else raises ProviderError at load, as does a
        provider name this build lacks. `threads` sets the CPU threads (default: all available).
        `precision` ("fp32", "fp16", "int8", "bf16") picks the file in a folder (default fp32), and for
        a file is checked against its metadata; "bf16" runs on OpenVINO on CPUs with AMX or AVX512-BF16
        (`dcgan_runtime.engine.openvino_cpu`; elsewhere a ProviderError says why); "auto" loads the
        folder's file that `dcgan tune FOLDER --precision auto` measured fastest on this machine
        (`dcgan_runtime.engine.precision`), else fp32. `session_options` is used as given (with `threads`, a copy of
        its attributes is made); the CPU worker sessions copy its attributes. It is never changed.

        On CPU, `tune` decides how each batch size runs (see `tune()`): None (default) uses this
        machine's cached tuning for this file and thread count if `dcgan tune` or `tune=True` made one,
        else the built-in plan; True measures now if nothing is cached (seconds); False always uses the
        built-in plan. Whatever runs, the images are bit-identical. `plan` says what was chosen.

        >>> Generator.load("runs/faces/export", precision="int8").metadata.precision  # doctest: +SKIP
        'int8'
        """
        given = str(path) if isinstance(path, (str, os.PathLike)) else path  # what pickling reloads
        if precision == "auto":
            precision = _auto_precision(path, threads, session_options)
        path = session.model_file(path, precision, allow_http, progress)
        if precision == "bf16":
            return cls._load_bf16(path, given, device, providers, session_options, threads, tune, allow_http)
        available = ort.get_available_providers()
        if providers is not None:
            requested, strict = eps.check(providers, available, ort.get_all_providers()), True
        else:
            requested, strict = eps.resolve(device, available)
        own = session_options if session_options is not None and threads is None else None  # used as given
        threads = session.thread_count(threads, session_options)
        if tune is not None and not isinstance(tune, bool):
            raise ValueError(f"tune must be True, False or None, got {tune!r}")
        options = own or session.options(session_options, threads)
        try:
            first, meta = session.open_checked(path, options, requested, strict, provider_options, precision)
        except ModelError as e:
            if isinstance(given, str) and fetch.forget(given):  # not kept for the next run to fail on again
                raise ModelError(f"{e}; the downloaded copy was removed from the cache") from None
            raise
        if meta.precision == "bf16":  # a bf16 file named directly: it runs on OpenVINO, as precision="bf16" does
            return cls._load_bf16(path, given, device, providers, session_options, threads, tune, allow_http)
        args = {
            "path": given if fetch.is_remote(given) else str(path),
            "allow_http": allow_http,
            "device": device,
            "providers": requested if providers is not None else None,
            "provider_options": provider_options,
            "session_options": session.option_values(session_options) if session_options is not None else None,
            "threads": threads if session_options is None else None,
            "precision": meta.precision,
            "tune": tune,
        }
        if first.get_providers()[0] != CPU:
            g = cls(first, meta, path, requested)
            g._load_args = args
            return g
        if tune and session_options is not None:
            raise ValueError("tune=True picks the session options itself: pass session_options or tune=True, not both")
        g = cls(first, meta, path, requested, _cpu_lanes(first, meta, path, session_options, threads))
        g._tunable, g._load_args = session_options is None, args
        g._plan_from_cache(tune)
        return g

    @classmethod
    def _load_bf16(
        cls,
        path: Path,
        given: object,
        device: str,
        providers: object,
        session_options: object,
        threads: int | None,
        tune: bool | None,
        allow_http: bool,
    ) -> Generator:
        """precision="bf16": the file on OpenVINO's CPU plugin (dcgan_runtime.engine.openvino_cpu), or
        one ProviderError/ValueError saying why it cannot run here."""
        if providers is not None or device not in ("auto", "cpu"):
            raise ProviderError(
                f"precision='bf16' runs on the CPU through OpenVINO; device={device!r}"
                + (", providers=..." if providers is not None else "")
                + " cannot be honoured: use device='cpu' (or 'auto'), or precision='fp16' on a GPU"
            )
        if session_options is not None:
            raise ValueError("session_options are onnxruntime's; precision='bf16' runs on OpenVINO: pass threads=")
        if tune:
            raise ValueError("tune=True chooses onnxruntime strategies; precision='bf16' runs one OpenVINO model")
        if (why := openvino_cpu.unavailable()) is not None:
            raise ProviderError(why)
        threads = session.thread_count(threads, None)
        model, meta = openvino_cpu.read(path)
        first = openvino_cpu.Compiled(model, threads, path)
        plan = tuning.Plan(((1, tuning.Strategy(1, threads)),), "bf16 on OpenVINO CPU, one model with every thread")
        lanes = Lanes(plan, threads, lambda s: openvino_cpu.Compiled(model, s.threads, path), _run_compiled)
        lanes.adopt(plan.pick(1), first)
        g = cls(first, meta, path, [openvino_cpu.NAME], lanes)
        g._load_args = {
            "path": given if isinstance(given, str) and fetch.is_remote(given) else str(path),
            "allow_http": allow_http,
            "device": device,
            "threads": threads,
            "session_options": None,
            "precision": "bf16",
        }
        log.info("loaded %s (bf16) on %s with %d threads", path, openvino_cpu.NAME, threads)
        return g

    def _plan_from_cache(self, tune: bool | None) -> None:
        """On CPU: this machine's cached plan for the file (tune=None or True), measured now if none (True)."""
        assert self._lanes is not None
        if self._tunable and tune is not False:
            cached = tuning.load_cached(self._tune_key)
            if cached is not None:
                self._lanes.use(cached)
            elif tune:
                self.tune()
        log.info("cpu plan: %s", self._lanes.plan.describe())

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        """Pickle as the path and load options; unpickling loads the file again (its own session)."""
        return (_reload, (self._load_args,))

    @classmethod
    def from_pretrained(
        cls,
        repo_id: str,
        *,
        revision: str | None = None,
        precision: str = "fp32",
        cache_dir: str | os.PathLike[str] | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        **load_options: Any,
    ) -> Generator:
        """Load a model published on the Hugging Face Hub (by `dcgan push`): the repository's file for
        `precision`, through huggingface_hub's cache (`hf_hub_download`: revisions, tokens,
        HF_HUB_OFFLINE, HF_HUB_CACHE and HF_HOME as it reads them). `load_options` go to `load`.
        Needs the `[hub]` extra. Errors (no such repository, revision or precision; offline and not
        cached) are one-line ModelErrors.

        >>> g = Generator.from_pretrained("acme/faces", precision="int8", device="cpu")  # doctest: +SKIP
        """
        path = fetch.download(
            repo_id,
            revision=revision,
            precision=precision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            token=token,
        )
        return cls.load(path, precision=precision, **load_options)

    @property
    def plan(self) -> tuning.Plan | None:
        """How each batch size runs on the CPU (None on CUDA); `plan.describe()` says it in one line."""
        return self._lanes.plan if self._lanes is not None else None

    def tune(self, *, save: bool = True, seconds_per_size: float = 1.5) -> tuning.Table:
        """Time every CPU strategy at batch sizes 1-64 on this machine (`dcgan_runtime.engine.tune`), switch each
        band to a strategy that is clearly and repeatably faster than the built-in one, and (with `save`)
        cache the plan for later loads of this file with as many threads. Returns the measurements.

        >>> from dcgan_runtime.engine import tune
        >>> print(tune.report(g.tune(), g.plan))           # doctest: +SKIP
        """
        if self._lanes is None:
            raise ProviderError(f"tuning chooses CPU strategies; this generator runs on {self.providers[0]}")
        if self.metadata.precision == "bf16":
            raise ValueError("bf16 runs one OpenVINO model with every thread: there is no CPU plan to tune")
        if not self._tunable:
            raise ValueError("this generator runs with the session_options it was given; tuning would override them")
        lanes = self._lanes

        def run(strategy: tuning.Strategy, z: np.ndarray) -> np.ndarray:
            out = np.empty(
                (len(z), self.metadata.channels, self.metadata.image_size, self.metadata.image_size), np.float32
            )
            lanes.run(z.reshape(len(z), -1, 1, 1), out, strategy)
            return out

        with self._working():
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
    def sha256(self) -> str:
        """The model file's sha256, read once per Generator (the tuning cache and shard manifests key on it)."""
        return files.sha256_file(self.path)

    @functools.cached_property
    def _tune_key(self) -> dict[str, Any]:
        """The plan cache's key (the model's sha256, its thread count, this onnxruntime and CPU)."""
        assert self._lanes is not None
        return tuning.cache_key(self.sha256, self._lanes.threads, ort.__version__)

    def close(self) -> None:
        """Refuse new work (`ClosedError`), let the calls running in other threads finish, then stop the
        worker threads (the sessions go with the object). Idempotent."""
        with self._idle:
            self._closed = True
            self._idle.wait_for(lambda: self._calls == 0)
        if self._lanes is not None:
            self._lanes.close()

    @contextlib.contextmanager
    def _working(self) -> Iterator[None]:
        """One call's claim on the sessions: refused once closed; close() waits for it to end."""
        with self._idle:
            if self._closed:
                raise ClosedError(f"this Generator ({self.path.name}) was closed: load it again to go on")
            self._calls += 1
        try:
            yield
        finally:
            with self._idle:
                self._calls -= 1
                self._idle.notify_all()

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
    @overload
    def decode(self, z: np.ndarray, output: Literal["uint8"] = ..., batch_size: int = ...) -> NDArray[np.uint8]: ...
    @overload
    def decode(self, z: np.ndarray, output: Literal["float"], batch_size: int = ...) -> NDArray[np.float32]: ...
    @overload
    def decode(self, z: np.ndarray, output: Literal["pil"], batch_size: int = ...) -> list[Image.Image]: ...
    @overload
    def decode(
        self, z: np.ndarray, output: Output = ..., batch_size: int = ...
    ) -> NDArray[np.uint8] | NDArray[np.float32] | list[Image.Image]: ...

    def decode(
        self, z: np.ndarray, output: Output = "uint8", batch_size: int = 64
    ) -> NDArray[np.uint8] | NDArray[np.float32] | list[Image.Image]:
        """Latents (N, latent_dim) -> images: uint8 (N, H, W, C) by default, float32 (N, C, H, W) in
        [-1, 1] with output="float", or a list of N `PIL.Image` with output="pil".

        Runs in chunks of `batch_size` (capped at 4096): memory stays bounded, results do not change.

        >>> g.decode(g.latents(2, seed=0), output="float").shape   # doctest: +SKIP
        (2, 3, 64, 64)
        """
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        _check_batch_size(batch_size)
        z = latent.check_latents(z, self.metadata.latent_dim)
        with self._working():
            return self._decode(z, output, batch_size)

    def _decode(
        self, z: np.ndarray, output: Output, batch_size: int
    ) -> NDArray[np.uint8] | NDArray[np.float32] | list[Image.Image]:
        m = self.metadata
        chw = (m.channels, m.image_size, m.image_size)
        if output == "float":
            out = np.empty((len(z), *chw), np.float32)
            for i in range(0, len(z), batch_size):
                self._run(z[i : i + batch_size], out[i : i + batch_size])
            return out
        images = np.empty((len(z), m.image_size, m.image_size, m.channels), np.uint8)
        chunk = np.empty((min(batch_size, len(z)), *chw), np.float32)  # one buffer, reused by every chunk
        for i in range(0, len(z), batch_size):
            n = min(batch_size, len(z) - i)
            self._run(z[i : i + n], chunk[:n])
            images[i : i + n] = to_uint8(chunk[:n])
        return to_pil(images) if output == "pil" else images

    def _run(self, z: np.ndarray, out: np.ndarray) -> None:
        """Latents (N, latent_dim) -> `out` (N, C, H, W), written in place.

        onnxruntime writes straight into `out` through IO binding: no output allocation per call on
        the CPU (worker threads allocating and freeing megabytes per call cost int8 30% in page
        faults at batch 64), and one device-to-host copy into the caller's buffer on a GPU.
        """
        z = z.reshape(-1, self.metadata.latent_dim, 1, 1)
        if self._lanes is None:  # CUDA, TensorRT or any other provider: one session, host buffers
            session.run_into(self.session, z, out, self.metadata, self.path)
            return
        self._lanes.run(z, out)

    # ------------------------------------------------------------------ conveniences over decode
    @overload
    def generate(
        self,
        n: int | None = ...,
        seed: int = ...,
        *,
        seeds: Sequence[int] | None = ...,
        batch_size: int = ...,
        output: Literal["uint8"] = ...,
    ) -> NDArray[np.uint8]: ...
    @overload
    def generate(
        self,
        n: int | None = ...,
        seed: int = ...,
        *,
        seeds: Sequence[int] | None = ...,
        batch_size: int = ...,
        output: Literal["float"],
    ) -> NDArray[np.float32]: ...
    @overload
    def generate(
        self,
        n: int | None = ...,
        seed: int = ...,
        *,
        seeds: Sequence[int] | None = ...,
        batch_size: int = ...,
        output: Literal["pil"],
    ) -> list[Image.Image]: ...

    def generate(
        self,
        n: int | None = None,
        seed: int = 0,
        *,
        seeds: Sequence[int] | None = None,
        batch_size: int = 64,
        output: Output = "uint8",
    ) -> NDArray[np.uint8] | NDArray[np.float32] | list[Image.Image]:
        """Images for `n` latents from `seed`, or one image per seed in `seeds`; `output` as in `decode`.

        >>> g.generate(seeds=[3, 7]).shape                    # doctest: +SKIP
        (2, 64, 64, 3)
        """
        return self.decode(self.latents(n, seed, seeds=seeds), output, batch_size)

    def iter_generate(
        self, seeds: Iterable[int], batch_size: int = 64
    ) -> Iterator[tuple[list[int], NDArray[np.uint8]]]:
        """Stream images for any number of seeds: (seeds, uint8 (n, H, W, C)) chunks of `batch_size`, in
        order, at memory bounded by one chunk. `seeds` may be lazy (`range(10**9)`); the images equal
        `generate(seeds=...)`'s. To write millions to disk, see `dcgan_runtime.scale.write`.

        >>> for chunk, images in g.iter_generate(range(1_000_000), batch_size=256):  # doctest: +SKIP
        ...     consume(chunk, images)
        """
        _check_batch_size(batch_size)
        if isinstance(seeds, (str, bytes)):
            raise ValueError(f"seeds must be an iterable of integers, got {seeds!r}")
        it = iter(seeds)
        while chunk := list(itertools.islice(it, batch_size)):
            yield chunk, self.generate(seeds=chunk, batch_size=batch_size)

    @overload
    def interpolate(
        self, z0: np.ndarray, z1: np.ndarray, steps: int = ..., method: str = ..., output: Literal["uint8"] = ...
    ) -> NDArray[np.uint8]: ...
    @overload
    def interpolate(
        self, z0: np.ndarray, z1: np.ndarray, steps: int = ..., method: str = ..., *, output: Literal["float"]
    ) -> NDArray[np.float32]: ...
    @overload
    def interpolate(
        self, z0: np.ndarray, z1: np.ndarray, steps: int = ..., method: str = ..., *, output: Literal["pil"]
    ) -> list[Image.Image]: ...

    def interpolate(
        self,
        z0: np.ndarray,
        z1: np.ndarray,
        steps: int = 16,
        method: str = "slerp",
        output: Output = "uint8",
    ) -> NDArray[np.uint8] | NDArray[np.float32] | list[Image.Image]:
        """`steps` images walking from z0 to z1 (both included), by slerp or lerp; `output` as in `decode`.

        >>> z = g.latents(seeds=[3, 7]); len(g.interpolate(z[0], z[1], 8, output="pil"))  # doctest: +SKIP
        8
        """
        dim = self.metadata.latent_dim
        z0, z1 = (latent.check_latents(z, dim)[0] for z in (z0, z1))
        return self.decode(latent.interpolate(z0, z1, steps, method), output)

    @overload
    def arithmetic(
        self,
        plus: Sequence[np.ndarray],
        minus: Sequence[np.ndarray] = ...,
        neighbours: int = ...,
        noise: float = ...,
        seed: int = ...,
        output: Literal["uint8"] = ...,
    ) -> NDArray[np.uint8]: ...
    @overload
    def arithmetic(
        self,
        plus: Sequence[np.ndarray],
        minus: Sequence[np.ndarray] = ...,
        neighbours: int = ...,
        noise: float = ...,
        seed: int = ...,
        *,
        output: Literal["float"],
    ) -> NDArray[np.float32]: ...
    @overload
    def arithmetic(
        self,
        plus: Sequence[np.ndarray],
        minus: Sequence[np.ndarray] = ...,
        neighbours: int = ...,
        noise: float = ...,
        seed: int = ...,
        *,
        output: Literal["pil"],
    ) -> list[Image.Image]: ...

    def arithmetic(
        self,
        plus: Sequence[np.ndarray],
        minus: Sequence[np.ndarray] = (),
        neighbours: int = 0,
        noise: float = 0.25,
        seed: int = 0,
        output: Output = "uint8",
    ) -> NDArray[np.uint8] | NDArray[np.float32] | list[Image.Image]:
        """Decode sum(mean(plus terms)) - sum(mean(minus terms)); each term is (k, latent_dim).

        With `neighbours=8`, also that many images around the result (the paper's figure): (1 + 8)
        images; `output` as in `decode`.

        >>> smiling_man = g.arithmetic(plus=[z_smiling_woman, z_neutral_man], minus=[z_neutral_woman])  # doctest: +SKIP
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


def _reload(args: dict[str, Any]) -> Generator:
    """Unpickling: load the file again with the options it was loaded with."""
    args = dict(args)
    values = args.pop("session_options")
    if values is not None:
        so = ort.SessionOptions()
        for name, value in values.items():
            setattr(so, name, value)
        args["session_options"] = so
    log.info("reloading %s in this process (a pickled Generator)", args["path"])
    return Generator.load(args.pop("path"), **args)


def _auto_precision(path: object, threads: int | None, session_options: ort.SessionOptions | None) -> str:
    """precision="auto": what `dcgan tune FOLDER --precision auto` chose for this folder here, else fp32."""
    if not isinstance(path, (str, os.PathLike)) or fetch.is_remote(str(path)) or not Path(path).is_dir():
        raise ValueError(
            f"precision='auto' takes a local export folder (it picks one of the folder's files), got {path!r}: "
            "pass the folder, or name the precision"
        )
    return auto.cached(Path(path), session.thread_count(threads, session_options))


def _run_compiled(compiled: openvino_cpu.Compiled, z: np.ndarray, out: np.ndarray) -> None:
    compiled.run_into(z, out)


def _cpu_lanes(
    first: ort.InferenceSession, meta: Metadata, path: Path, base: ort.SessionOptions | None, threads: int
) -> Lanes:
    """The CPU workers a plan runs on, the load's own session adopted as the one-session strategy's."""

    def make_session(s: tuning.Strategy) -> ort.InferenceSession:
        return session.build(path, session.options(base, s.threads, s), [CPU], None)

    plan = tuning.default_plan(threads, explicit=base is None)
    lanes = Lanes(plan, threads, make_session, lambda s, z, out: session.run_into(s, z, out, meta, path))
    lanes.adopt(plan.pick(1), first)
    return lanes
