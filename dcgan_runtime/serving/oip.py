"""The Open Inference Protocol (KServe v2, Triton's HTTP/REST API) for one DCGAN generator.

    GET  /v2                                   server metadata (name, version, extensions)
    GET  /v2/health/live, /v2/health/ready     200 while serving
    GET  /v2/models/NAME[/versions/1]          model metadata: input z FP32 [-1, nz, 1, 1], output image
    GET  /v2/models/NAME[/versions/1]/ready    200 when the model is loaded
    POST /v2/models/NAME[/versions/1]/infer    inference: JSON tensors, or the binary tensor extension

The model's metadata is what Triton reports for this ONNX file, so a client written against this
server runs unchanged against Triton or KServe serving the repository `dcgan triton` writes. One
extension: instead of `z`, a request may send `seed` (INT64 [N]), and the server applies the seed
rule (`numpy.random.RandomState(seed).standard_normal(nz)`) itself; Triton knows no such input, so a
portable client computes z with the pure-numpy `dcgan_runtime.latent.latents_from_seeds`.

Binary tensors follow Triton's extension: a body whose JSON header is `Inference-Header-Content-Length`
bytes long, then each binary input's bytes in order (little-endian, row-major), each input saying its
`binary_data_size`; an output asked for with `"parameters": {"binary_data": true}` comes back the
same way. Requests are checked whole (names, types, shapes, sizes, finite values) before anything is
decoded; every refusal is a 400 with {"error": ...}.

>>> parse_request(b'{"inputs": [{"name": "seed", "shape": [1], "datatype": "INT64", "data": [7]}]}', None, 100, 8).seeds
[7]
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from dcgan_runtime import __version__, latent
from dcgan_runtime.metadata import Metadata

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")  # fullmatch only  # a model name that is also a safe folder name
VERSION = "1"
BINARY = "binary_tensor_data"
HEADER = "inference-header-content-length"


class OIPError(ValueError):
    """A request the protocol refuses: 400 with {"error": message} (gRPC: INVALID_ARGUMENT)."""


class UnknownModel(OIPError):
    """A request for a model or version this server does not serve: 404 (gRPC: NOT_FOUND)."""


def check_model(name: str, version: str, served: str) -> None:
    """UnknownModel unless `name` is the served model and `version` is "" or its one version.

    >>> check_model("dcgan", "", "dcgan"); check_model("dcgan", "1", "dcgan")
    """
    if name != served:
        raise UnknownModel(f"unknown model {name[:64]!r}: this server serves {served!r}")
    if version not in ("", VERSION):
        raise UnknownModel(f"model {served!r} has version {VERSION} only, not {version[:16]!r}")


def repository_index(name: str) -> list[dict[str, str]]:
    """The repository extension's index: the one model, loaded."""
    return [{"name": name, "version": VERSION, "state": "READY", "reason": ""}]


def latents(request: Request, latent_dim: int) -> np.ndarray:
    """The request's latents: as sent, or from its seeds by the seed rule."""
    return request.z if request.z is not None else latent.latents_from_seeds(request.seeds or [], latent_dim)


@dataclass(frozen=True)
class Request:
    id: str | None  # echoed back
    z: np.ndarray | None  # (N, nz) float32, when the request sends z
    seeds: list[int] | None  # when it sends seed instead
    binary_output: bool  # the image comes back as binary data (Triton's extension) rather than JSON


EXTENSIONS = [BINARY, "model_configuration", "model_repository", "statistics"]


def server_metadata() -> dict[str, Any]:
    return {"name": "dcgan_runtime", "version": __version__, "extensions": EXTENSIONS}


def model_metadata(name: str, meta: Metadata) -> dict[str, Any]:
    """What Triton reports for the exported ONNX file with a dynamic batch (`dcgan triton`'s config)."""
    return {
        "name": name,
        "versions": [VERSION],
        "platform": "onnxruntime_onnx",
        "inputs": [{"name": meta.input_name, "datatype": "FP32", "shape": [-1, meta.latent_dim, 1, 1]}],
        "outputs": [
            {
                "name": meta.output_name,
                "datatype": "FP32",
                "shape": [-1, meta.channels, meta.image_size, meta.image_size],
            }
        ],
    }


def parse_request(body: bytes, header_length: str | None, latent_dim: int, max_images: int, input_name: str = "z",
                  output_name: str = "image") -> Request:  # fmt: skip
    """An inference request's body (and its Inference-Header-Content-Length), checked whole."""
    if header_length is not None:
        digits = header_length.isascii() and header_length.isdigit() and len(header_length) <= 12
        if not digits or int(header_length) > len(body):
            raise OIPError(f"{HEADER} is {header_length[:20]!r}, but the body is {len(body)} bytes")
        head, binary = body[: int(header_length)], memoryview(body)[int(header_length) :]
    else:
        head, binary = body, memoryview(b"")
    try:
        request = json.loads(head)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise OIPError("the request is not valid JSON") from None
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list) or not request["inputs"]:
        raise OIPError('the request must be a JSON object with a non-empty "inputs" list')
    rid = request.get("id")
    if rid is not None and not isinstance(rid, str):
        raise OIPError('"id" must be a string')
    inputs, offset = {}, 0
    for t in request["inputs"]:
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise OIPError('each input must be an object with a "name"')
        if t["name"] in inputs:
            raise OIPError(f"input {t['name']!r} is given twice")
        array, used = _tensor(t, binary[offset:], latent_dim, max_images, input_name)
        inputs[t["name"]], offset = array, offset + used
    if offset != len(binary):
        raise OIPError(f"the body carries {len(binary) - offset} bytes of binary data no input claims")
    if set(inputs) not in ({input_name}, {"seed"}):
        raise OIPError(f"send exactly one input: {input_name!r} (FP32 [N, {latent_dim}, 1, 1]) or 'seed' (INT64 [N])")
    binary_output = _binary_output(request.get("outputs"), request.get("parameters"), output_name)
    if "seed" in inputs:
        seeds = inputs["seed"]
        if (seeds < 0).any() or (seeds > latent.MAX_SEED).any():
            raise OIPError(f"seeds must be in 0..{latent.MAX_SEED}")
        return Request(rid, None, [int(s) for s in seeds], binary_output)
    try:
        z = latent.check_latents(inputs[input_name], latent_dim)
    except ValueError as e:
        raise OIPError(str(e)) from None
    return Request(rid, z, None, binary_output)


def _tensor(
    t: dict[str, Any], binary: memoryview, latent_dim: int, max_images: int, input_name: str
) -> tuple[np.ndarray, int]:
    name, shape, datatype = t["name"], t.get("shape"), t.get("datatype")
    dtype: np.dtype[Any]
    if name == input_name:
        want, dtype = [latent_dim, 1, 1], np.dtype("<f4")
        if datatype != "FP32":
            raise OIPError(f"input {name!r} must be FP32, got {str(datatype)[:20]!r}")
    elif name == "seed":
        want, dtype = [], np.dtype("<i8")
        if datatype != "INT64":
            raise OIPError(f"input 'seed' must be INT64, got {str(datatype)[:20]!r}")
    else:
        raise OIPError(f"unknown input {str(name)[:40]!r}: this model takes {input_name!r} or 'seed'")
    if not (isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) for d in shape)):
        raise OIPError(f"input {name!r} needs a shape, a list of integers")
    if len(shape) != 1 + len(want) or shape[1:] != want or not 1 <= shape[0] <= max_images:
        expected = "[" + ", ".join(["N", *map(str, want)]) + "]"
        raise OIPError(f"input {name!r} has shape {shape[:6]}; expected {expected} with 1 <= N <= {max_images}")
    count = int(np.prod(shape))
    params = t.get("parameters") or {}
    if not isinstance(params, dict):
        raise OIPError(f"input {name!r}: parameters must be an object")
    size = params.get("binary_data_size")
    if size is not None:
        if "data" in t:
            raise OIPError(f"input {name!r} has both data and binary_data_size")
        if not isinstance(size, int) or size != count * dtype.itemsize or size > len(binary):
            raise OIPError(
                f"input {name!r} says binary_data_size {size!r}; its shape needs {count * dtype.itemsize} bytes"
            )
        return np.frombuffer(binary[:size], dtype).reshape(shape).astype(dtype.newbyteorder("=")), size
    data = t.get("data")
    if not isinstance(data, list):
        raise OIPError(f"input {name!r} needs data (a list, row-major) or parameters.binary_data_size")
    flat = _flatten(data, count)
    if len(flat) != count:
        raise OIPError(f"input {name!r} has {len(flat)} values; its shape needs {count}")
    if name == "seed":
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
            raise OIPError("seeds must be integers")
        if any(v < 0 or v > latent.MAX_SEED for v in flat):
            raise OIPError(f"seeds must be in 0..{latent.MAX_SEED}")
        return np.asarray(flat, np.int64).reshape(shape), 0
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
        raise OIPError(f"input {name!r} must hold numbers")
    try:
        return np.asarray(flat, np.float64).reshape(shape), 0
    except OverflowError:  # an integer of hundreds of digits is JSON too
        raise OIPError(f"input {name!r} holds a number too large for a float: latents are finite FP32") from None


def _flatten(data: list[Any], limit: int) -> list[Any]:
    """Nested lists, row-major, into one list; stops counting past `limit` (a body cannot ask for more work)."""
    out: list[Any] = []
    stack = [iter(data)]
    while stack:
        for v in stack[-1]:
            if isinstance(v, list):
                stack.append(iter(v))
                break
            out.append(v)
            if len(out) > limit:
                return out
        else:
            stack.pop()
    return out


def _binary_output(outputs: Any, parameters: Any, output_name: str) -> bool:
    if parameters is not None and not isinstance(parameters, dict):
        raise OIPError("parameters must be an object")
    default = bool((parameters or {}).get("binary_data_output", False))
    if outputs is None:
        return default
    if not isinstance(outputs, list) or len(outputs) != 1 or not isinstance(outputs[0], dict):
        raise OIPError(f"outputs must be a list naming the one output, {output_name!r}")
    if outputs[0].get("name") != output_name:
        raise OIPError(f"unknown output {str(outputs[0].get('name'))[:40]!r}: this model has {output_name!r}")
    params = outputs[0].get("parameters") or {}
    if not isinstance(params, dict):
        raise OIPError("an output's parameters must be an object")
    return bool(params.get("binary_data", default))


def response(
    name: str, request: Request, images: np.ndarray, output_name: str = "image"
) -> tuple[bytes, dict[str, str]]:
    """The infer response body and its extra headers, for float32 (N, C, H, W) `images`."""
    out: dict[str, Any] = {"name": output_name, "datatype": "FP32", "shape": list(images.shape)}
    body: dict[str, Any] = {"model_name": name, "model_version": VERSION, "outputs": [out]}
    if request.id is not None:
        body["id"] = request.id
    if not request.binary_output:
        out["data"] = images.reshape(-1).tolist()  # float32 -> float -> repr: every value round-trips exactly
        return json.dumps(body).encode(), {}
    raw = np.ascontiguousarray(images, "<f4").tobytes()
    out["parameters"] = {"binary_data_size": len(raw)}
    head = json.dumps(body).encode()
    return head + raw, {"Inference-Header-Content-Length": str(len(head))}
