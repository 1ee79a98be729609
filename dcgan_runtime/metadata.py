"""The metadata contract between export and runtime: one JSON document stored under the key `dcgan`.

The ONNX file keeps it in `metadata_props`, the TorchScript file in its extra files; the reader
(this module) owns and validates the schema.

>>> m = Metadata(latent_dim=100, image_size=64, channels=3)
>>> Metadata.from_json(m.to_json()) == m
True
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from dcgan_runtime.errors import MetadataError

KEY = "dcgan"  # the metadata_props key / TorchScript extra-file name
FORMAT = "dcgan-generator"
FORMAT_VERSION = 1  # readers accept this version and older
MAX_LATENT_DIM = 16_384  # no DCGAN needs more; a larger claim is refused before anything is allocated
SEED_RULE = "numpy.random.RandomState(seed).standard_normal(latent_dim)"
PRECISIONS = ("fp32", "fp16", "int8", "bf16")
MAX_JSON_CHARS = 1_000_000  # a real document is a few kB
FILENAMES = {
    "fp32": "generator.onnx",
    "fp16": "generator.fp16.onnx",
    "int8": "generator.int8.onnx",
    "bf16": "generator.bf16.onnx",
}  # in an export folder


@dataclass(frozen=True)
class Metadata:
    latent_dim: int  # length of z; the model's input is (N, latent_dim, 1, 1)
    image_size: int  # output height = width
    channels: int  # 1 (grey) or 3 (RGB)
    format: str = FORMAT  # always "dcgan-generator"
    format_version: int = FORMAT_VERSION  # bumped on incompatible changes
    latent_distribution: str = "standard_normal"  # z ~ N(0, I)
    seed_rule: str = SEED_RULE  # how a seed names a latent, one RandomState per sample
    layout: str = "NCHW"  # of the output tensor
    output_range: tuple[float, float] = (-1.0, 1.0)  # tanh
    input_name: str = "z"  # graph input
    output_name: str = "image"  # graph output
    # fp32; fp16 weights (inputs and outputs stay fp32); int8; or bf16: fp32 weights in a graph of plain
    # convolutions that OpenVINO computes in bf16 on CPUs with AMX or AVX512-BF16
    precision: str = "fp32"
    bn_folded: bool = True  # BatchNorm folded into the transposed convolutions
    bn_recalibrated: bool = False  # running statistics recomputed from fresh latents before folding
    bn_recalibration_batches: int = 0  # how many batches of 64 latents, when recalibrated
    dataset: str = ""  # what the generator was trained on
    training_steps: int = 0  # optimiser steps behind these weights
    training_config: dict[str, Any] = field(default_factory=dict)  # the full train.TrainConfig
    producer: str = ""  # tool and version that wrote the file
    created: str = ""  # ISO 8601 UTC
    weights_sha256: str = ""  # of the folded fp32 weights, in state_dict order
    quantization: dict[str, Any] = field(default_factory=dict)  # int8, bf16: scheme, calibration set, graph form

    def __post_init__(self) -> None:
        wrong = [
            f"{f.name} must be {_TYPE_WORDS[str(f.type)]}, got {_short(getattr(self, f.name))}"
            for f in dataclasses.fields(self)
            if not _TYPE_CHECKS[str(f.type)](getattr(self, f.name))
        ]
        if wrong:
            raise MetadataError("invalid dcgan metadata: " + "; ".join(wrong))
        checks = [
            (self.format == FORMAT, f"format is {self.format!r}, expected {FORMAT!r}: not a DCGAN generator file"),
            (
                isinstance(self.format_version, int) and 1 <= self.format_version <= FORMAT_VERSION,
                f"format_version {self.format_version!r} is newer than this runtime reads ({FORMAT_VERSION}): "
                "upgrade dcgan_runtime",
            ),
            (
                _pos_int(self.latent_dim) and self.latent_dim <= MAX_LATENT_DIM,
                f"latent_dim must be an integer in 1..{MAX_LATENT_DIM:,}, got {self.latent_dim!r}",
            ),
            (self.image_size in (32, 64, 128), f"image_size must be 32, 64 or 128, got {self.image_size!r}"),
            (self.channels in (1, 3), f"channels must be 1 or 3, got {self.channels!r}"),
            (
                self.latent_distribution == "standard_normal",
                f"latent_distribution {self.latent_distribution!r} is not supported (standard_normal)",
            ),
            (self.layout == "NCHW", f"layout {self.layout!r} is not supported (NCHW)"),
            (self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}, got {self.precision!r}"),
            (
                isinstance(self.input_name, str) and isinstance(self.output_name, str),
                "input_name/output_name must be strings",
            ),
        ]
        problems = [msg for ok, msg in checks if not ok]
        if problems:
            raise MetadataError("invalid dcgan metadata: " + "; ".join(problems))
        object.__setattr__(self, "output_range", tuple(float(v) for v in self.output_range))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Metadata:
        """Parse and validate; unknown keys from a newer minor writer are ignored, missing required keys raise."""
        if len(text) > MAX_JSON_CHARS:
            raise MetadataError(f"dcgan metadata is {len(text):,} characters long; at most {MAX_JSON_CHARS:,}")
        try:
            raw = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise MetadataError(f"dcgan metadata is not valid JSON: {e}") from None
        except RecursionError:
            raise MetadataError("dcgan metadata is nested too deeply to be a metadata document") from None
        if not isinstance(raw, dict):
            raise MetadataError("dcgan metadata must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        missing = [k for k in ("latent_dim", "image_size", "channels", "format", "format_version") if k not in raw]
        if missing:
            raise MetadataError(f"dcgan metadata lacks required keys {missing}")
        try:
            return cls(**{k: v for k, v in raw.items() if k in known})
        except TypeError as e:
            raise MetadataError(f"dcgan metadata has a malformed field: {e}") from None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one uint8 image."""
        return (self.image_size, self.image_size, self.channels)


def _pos_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _is_dict(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) for k in v)


def _is_range(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_number(x) for x in v)


# field annotation -> (check, words for the error)
_TYPE_CHECKS = {
    "int": _is_int,
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "dict[str, Any]": _is_dict,
    "tuple[float, float]": _is_range,
}
_TYPE_WORDS = {
    "int": "an integer",
    "str": "a string",
    "bool": "true or false",
    "dict[str, Any]": "a JSON object",
    "tuple[float, float]": "two finite numbers",
}


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."
