"""onnxruntime sessions for a generator file: the file a MODEL names, session options, providers checked
against what runs, the metadata and signature read and checked. `Generator.load` composes these.

>>> options(None, threads=2).intra_op_num_threads   # doctest: +SKIP
2
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from dcgan_runtime import files
from dcgan_runtime.engine import fetch
from dcgan_runtime.engine import providers as eps
from dcgan_runtime.engine.providers import Provider
from dcgan_runtime.engine.tune import Strategy
from dcgan_runtime.errors import MetadataError, ModelError, ProviderError, first_line
from dcgan_runtime.limits import MAX_THREADS
from dcgan_runtime.metadata import FILENAMES, KEY, PRECISIONS, Metadata

log = logging.getLogger(__name__)


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity), which is what `threads` defaults to."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def model_file(
    path: str | os.PathLike[str], precision: str | None, allow_http: bool, progress: fetch.Progress | None = None
) -> Path:
    """A MODEL as callers write it (a file, an export folder, `hf://`, an https URL) -> the local .onnx file."""
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path must be a str or os.PathLike[str], got {type(path).__name__}")
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS} or None, got {precision!r}")
    path = fetch.locate(path, precision, allow_http=allow_http, progress=progress)
    if path.is_dir():
        path = path / FILENAMES[precision or "fp32"]
        if not path.is_file():
            flag = f" --{precision}" if precision not in (None, "fp32") else ""
            raise ModelError(
                f"{str(path.parent)!r} holds no {path.name}: export it "
                f"(python -m export RUN --outdir {path.parent} --force{flag})"
            )
    if (what := files.not_a_file(path)) is not None:
        raise ModelError(
            f"model file {str(path)!r} {what}: pass an exported generator.onnx, an export folder, or hf://"
        )
    return path


def thread_count(threads: object, session_options: ort.SessionOptions | None) -> int:
    """The CPU threads to run with: `threads`, else the session options', else every available CPU."""
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS
    ):
        raise ValueError(f"threads must be an integer in 1..{MAX_THREADS}, got {threads!r}")
    count = threads or (session_options.intra_op_num_threads if session_options else 0) or available_cpus()
    if not 1 <= count <= MAX_THREADS:  # session_options.intra_op_num_threads is the caller's too
        raise ValueError(
            f"session_options.intra_op_num_threads must be in 0..{MAX_THREADS} (0: one per CPU), got {count}"
        )
    return int(count)


def open_checked(
    path: Path,
    so: ort.SessionOptions,
    requested: list[Provider],
    strict: bool,
    provider_options: Sequence[dict[str, Any]] | None,
    precision: str | None,
) -> tuple[ort.InferenceSession, Metadata]:
    """A session for `path` whose metadata, precision and signature are checked, and whose first provider is
    the one requested (a ProviderError when `strict`, else one logged warning)."""
    session = build(path, so, requested, provider_options)
    meta = read_metadata(session, path)
    if precision is not None and meta.precision != precision:
        raise MetadataError(
            f"{str(path)!r} holds {meta.precision} weights, not {precision}: load "
            f"{FILENAMES[precision]} from the same export folder, or ask for {meta.precision}"
        )
    check_signature(session, meta, path)
    active, first = session.get_providers(), eps.name(requested[0])
    if active[0] != first:
        msg = f"{first} was requested first but the session runs on {active}: it failed to load{eps.hint(first)}"
        if strict:
            raise ProviderError(msg)
        log.warning("%s; running on %s", msg, active[0])
    log.info("loaded %s (%s) on %s; requested %s", path, meta.precision, active, [eps.name(p) for p in requested])
    return session, meta


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


def option_values(so: ort.SessionOptions) -> dict[str, Any]:
    """A SessionOptions' settable attributes as plain values (what a pickled Generator carries)."""
    return {name: getattr(so, name) for name in _OPTION_FIELDS if hasattr(so, name)}


_LEVELS = {
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def options(base: ort.SessionOptions | None, threads: int, strategy: Strategy | None = None) -> ort.SessionOptions:
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


def run_into(session: ort.InferenceSession, z: np.ndarray, out: np.ndarray, m: Metadata, path: Path) -> None:
    binding = session.io_binding()
    binding.bind_cpu_input(m.input_name, np.ascontiguousarray(z))
    binding.bind_output(m.output_name, "cpu", 0, np.float32, out.shape, out.ctypes.data)
    execute(session, binding, path)


def execute(session: ort.InferenceSession, binding: Any, path: Path) -> None:
    """Run a bound call; onnxruntime's own failures (a graph that does not compute what its metadata
    says, memory it cannot get) are the model's problem: ModelError."""
    try:
        session.run_with_iobinding(binding)
    except Exception as e:  # onnxruntime raises its own exception types
        raise ModelError(f"onnxruntime could not run {str(path)!r}: {first_line(e, 300)}") from None


def build(
    path: Path, so: ort.SessionOptions, providers: list[Provider], provider_options: Sequence[dict[str, Any]] | None
) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(str(path), sess_options=so, providers=providers, provider_options=provider_options)
    except Exception as e:  # onnxruntime raises its own types for unreadable or invalid models
        raise ModelError(
            f"cannot load {str(path)!r} as an ONNX model (truncated, corrupt, or not ONNX): {first_line(e, 300)}"
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
