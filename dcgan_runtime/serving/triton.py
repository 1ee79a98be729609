"""`dcgan triton EXPORT --out REPO`: a Triton Inference Server (and KServe) model repository for the ONNX file.

    REPO/NAME/config.pbtxt     platform onnxruntime_onnx, max_batch_size, the input and output read from
                               the file, dynamic batching from this model's measured batch curve,
                               instance_group (CPU or GPU)
    REPO/NAME/1/model.onnx     the exported file, unchanged
    REPO/NAME/metadata.json    its dcgan metadata (seed rule, image size, training), for clients

Dynamic batching: images/s per batch size (1, 2, 4, ... up to max_batch_size) come from this
machine's `dcgan tune` cache for the file where there is one, else from a short measurement now.
The preferred batch sizes are the smallest size reaching 90% of the best rate and the size of the
best rate; the queue delay is one batch-1 call's latency (waiting longer for company costs a lone
request more than it could gain). With `kind="gpu"` the curve of this CPU says nothing about the GPU:
the sizes are 8, 32 and 128 (at most max_batch_size) with a 100 us delay, stated in the config's
comment, to be tuned there (Triton's perf_analyzer).

>>> write_repository(Generator.load("export/"), "models/", kind="cpu")   # doctest: +SKIP
PosixPath('models/dcgan')
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from dcgan_runtime.engine import bench, tune
from dcgan_runtime.files import atomic_write, install_dir, staging_dir
from dcgan_runtime.serving.oip import NAME

log = logging.getLogger(__name__)
KINDS = ("cpu", "gpu")
GPU_PREFERRED, GPU_DELAY_US = (8, 32, 128), 100


def batch_curve(g: Any, max_batch: int) -> tuple[dict[int, float], float, str]:
    """(images/s per batch size, batch-1 latency in ms, where the figures came from)."""
    sizes = [s for s in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024) if s <= max_batch]
    cached = tune.load_measurements(g._tune_key) if g.plan is not None else None  # noqa: SLF001
    if cached:
        rates = {s: max(r[s] for r in cached.values() if s in r) for s in sizes if any(s in r for r in cached.values())}
        if 1 in rates:
            return rates, 1000 / rates[1], "this machine's dcgan tune measurements"
    rows = bench.measure(g, sizes, rounds=7)
    return {r.batch_size: r.images_per_s for r in rows}, rows[0].p50_ms, "measured now (7 calls per batch size)"


def dynamic_batching(rates: dict[int, float], latency_ms: float) -> tuple[list[int], int]:
    """(preferred batch sizes, max queue delay in us) from a batch curve.

    >>> dynamic_batching({1: 100.0, 8: 700.0, 64: 950.0, 256: 1000.0}, 10.0)
    ([64, 256], 10000)
    """
    best = max(rates, key=lambda s: rates[s])
    knee = min(s for s in rates if rates[s] >= 0.9 * rates[best])
    return sorted({knee, best}), max(100, min(100_000, round(latency_ms * 1000)))


def model_config(
    g: Any, name: str, kind: str, max_batch: int, instances: int, threads: int, preferred: list[int], delay_us: int
) -> dict[str, Any]:
    """Triton's ModelConfig for Generator `g`'s file, as JSON (what `GET /v2/models/NAME/config` answers):
    config.pbtxt is this dict in protobuf text format, and `dcgan serve` answers the same document."""
    m = g.metadata
    config: dict[str, Any] = {
        "name": name,
        "platform": "onnxruntime_onnx",
        "max_batch_size": max_batch,
        "input": [{"name": m.input_name, "data_type": "TYPE_FP32", "dims": [m.latent_dim, 1, 1]}],
        "output": [{"name": m.output_name, "data_type": "TYPE_FP32", "dims": [m.channels, m.image_size, m.image_size]}],
        "dynamic_batching": {"preferred_batch_size": preferred, "max_queue_delay_microseconds": delay_us},
        "instance_group": [{"count": instances, "kind": "KIND_GPU" if kind == "gpu" else "KIND_CPU"}],
    }
    if kind == "cpu":  # onnxruntime backend: one instance's intra-op threads
        config["parameters"] = {"intra_op_thread_count": {"string_value": str(threads)}}
    return config


ENUMS = {"data_type", "kind"}  # fields whose values are enum names, unquoted in text format


def config_text(config: dict[str, Any], comment: str) -> str:
    """config.pbtxt: `config` (a ModelConfig as JSON) in protobuf text format, after a comment line.

    >>> print(config_text({"name": "m", "max_batch_size": 8, "input": [{"name": "z", "dims": [4, 1]}]}, "hi"))
    # hi
    name: "m"
    max_batch_size: 8
    input [
      {
        name: "z"
        dims: [ 4, 1 ]
      }
    ]
    <BLANKLINE>
    """
    return f"# {comment}\n" + "".join(_text(k, v, "") for k, v in config.items())


def _text(key: str, value: Any, pad: str) -> str:
    if key == "parameters":  # a map<string, ModelParameter>: one entry per key
        return "".join(
            f'{pad}parameters {{\n{pad}  key: "{k}"\n{pad}  value: {{ string_value: "{v["string_value"]}" }}\n{pad}}}\n'
            for k, v in value.items()
        )
    if isinstance(value, dict):
        return f"{pad}{key} {{\n" + "".join(_text(k, v, pad + "  ") for k, v in value.items()) + f"{pad}}}\n"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        blocks = [
            f"{pad}  {{\n" + "".join(_text(k, v, pad + "    ") for k, v in d.items()) + f"{pad}  }}" for d in value
        ]
        return f"{pad}{key} [\n" + ",\n".join(blocks) + f"\n{pad}]\n"
    if isinstance(value, list):
        return f"{pad}{key}: [ {', '.join(map(str, value))} ]\n"
    if isinstance(value, str):
        return f"{pad}{key}: {value}\n" if key in ENUMS else f'{pad}{key}: "{value}"\n'
    return f"{pad}{key}: {value}\n"


def _write_model(folder: Path, g: Any, config: str) -> None:
    """config.pbtxt, 1/model.onnx and metadata.json in `folder`, each replaced atomically; nothing else touched."""
    (folder / "1").mkdir(exist_ok=True)
    with open(g.path, "rb") as model:  # streamed: a model may be a gigabyte
        atomic_write(folder / "1" / "model.onnx", lambda out: shutil.copyfileobj(model, out))
    atomic_write(folder / "metadata.json", (g.metadata.to_json() + "\n").encode())
    atomic_write(folder / "config.pbtxt", config.encode())  # last: Triton polls for it


def write_repository(
    g: Any,
    out: str | Path,
    *,
    name: str = "dcgan",
    kind: str = "cpu",
    max_batch_size: int = 256,
    instances: int = 1,
    force: bool = False,
) -> Path:
    """Write REPO/NAME (see the module doc) for Generator `g`'s file; other models in REPO are left alone."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ValueError(f"model name must be letters, digits, '_', '.' or '-' (at most 64), got {name!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be cpu or gpu, got {kind!r}")
    if not 1 <= max_batch_size <= 4096:
        raise ValueError(f"max batch size must be in 1..4096, got {max_batch_size}")
    if not 1 <= instances <= 64:
        raise ValueError(f"instances must be in 1..64, got {instances}")
    if g.metadata.precision == "bf16":  # Triton's onnxruntime backend would run it in fp32, saying nothing
        raise ValueError(
            "the bf16 file is computed in bf16 by OpenVINO only; Triton's onnxruntime backend would run it in "
            "fp32: write the repository for fp32 (or int8), or serve bf16 with dcgan serve --precision bf16"
        )
    repo = Path(out)
    if repo.exists() and not repo.is_dir():
        raise ValueError(f"--out {str(repo)!r} is a file, not a model repository folder")
    target = repo / name
    for folder in (target, target / "1"):
        if folder.is_symlink():
            raise ValueError(f"{str(folder)!r} is a symlink: write the model repository where it points instead")
    if target.exists() and not force:
        raise ValueError(f"{str(target)!r} exists: pass --force to replace that model, or pick another --model-name")
    if target.exists() and not (target / "config.pbtxt").is_file():
        raise ValueError(f"{str(target)!r} is not a model folder (no config.pbtxt): pick another --model-name")
    if kind == "gpu":
        preferred = [s for s in GPU_PREFERRED if s <= max_batch_size] or [max_batch_size]
        delay, source = GPU_DELAY_US, "fixed GPU defaults (not measured here: tune them on the GPU with perf_analyzer)"
    else:
        rates, latency, source = batch_curve(g, max_batch_size)
        preferred, delay = dynamic_batching(rates, latency)
    threads = max(1, (g.plan.bands[0][1].workers * g.plan.bands[0][1].threads) if g.plan else 1)
    config = model_config(g, name, kind, max_batch_size, instances, threads, preferred, delay)
    text = config_text(config, f"written by dcgan triton for {g.path.name} ({g.metadata.precision}); "
                       f"dynamic batching from {source}")  # fmt: skip
    repo.mkdir(parents=True, exist_ok=True)
    if target.exists():  # --force: replace the three files this command writes; other versions and files stay
        _write_model(target, g, text)
    else:
        staging = staging_dir(target)
        try:
            _write_model(staging, g, text)
            install_dir(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    log.info("triton: %s, preferred batch sizes %s, queue delay %d us (%s)", target, preferred, delay, source)
    return target
