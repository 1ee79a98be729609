"""The Open Inference Protocol over gRPC (KServe v2 / Triton's `inference.GRPCInferenceService`), beside HTTP.

`dcgan serve MODEL --grpc-port 8001` starts it in the HTTP server's event loop, for the same app: the
same model name, the same checks (a gRPC request is checked by `oip.parse_request`, as the HTTP body
it corresponds to), the same in-flight cap, and the same batcher, so HTTP and gRPC requests that
arrive together are decoded in one call. tritonclient.grpc and KServe's gRPC client work unchanged:

    ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata, ModelConfig,
    ModelStatistics, RepositoryIndex, ModelInfer (raw_input_contents or typed contents in;
    raw_output_contents out)

Status codes as a Triton client expects them: INVALID_ARGUMENT for a malformed request, NOT_FOUND for
a model or version this server does not serve, RESOURCE_EXHAUSTED when `max_inflight` requests are
being answered (HTTP's 503), UNIMPLEMENTED for the rest of the service (model control, shared memory,
streaming); INTERNAL only for a failure of the server itself. Message sizes are set explicitly: a
request up to `Limits.body_bytes`, an answer up to the largest a request may ask for.
Needs the `[grpc]` extra (grpcio, and the protocol's definitions from tritonclient).

>>> server, port = await start(app, "127.0.0.1", 0)   # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import numpy as np

from dcgan_runtime.errors import first_line
from dcgan_runtime.serving import oip

try:
    import grpc
    from google.protobuf import json_format
    from tritonclient.grpc import model_config_pb2, service_pb2, service_pb2_grpc
except ImportError as e:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "dcgan serve --grpc-port needs the [grpc] extra: pip install 'dcgan[grpc]' (grpcio, tritonclient)"
    ) from e

log = logging.getLogger(__name__)
CONTENTS = {"FP32": "fp32_contents", "INT64": "int64_contents"}  # typed contents the model's inputs use


class Refused(Exception):
    """A ModelInfer answered with a gRPC status: `code`, the message, and the outcome the stats count."""

    def __init__(self, code: Any, message: str, outcome: str) -> None:
        super().__init__(message)
        self.code, self.outcome = code, outcome


class Service(service_pb2_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]
    """The service over one app (`serving.app.Guard`): its Served model, stats and in-flight count."""

    def __init__(self, guard: Any) -> None:
        self.guard, self.served = guard, guard.served

    async def ServerLive(self, request: Any, context: Any) -> Any:  # noqa: N802 - the protocol's names
        return service_pb2.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        return service_pb2.ServerReadyResponse(ready=True)

    async def ServerMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        return service_pb2.ServerMetadataResponse(**oip.server_metadata())

    async def ModelReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        await self._model(request.name, request.version, context)
        return service_pb2.ModelReadyResponse(ready=True)

    async def ModelMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        await self._model(request.name, request.version, context)
        return json_format.ParseDict(
            oip.model_metadata(self.served.name, self.served.meta), service_pb2.ModelMetadataResponse()
        )

    async def ModelConfig(self, request: Any, context: Any) -> Any:  # noqa: N802
        await self._model(request.name, request.version, context)
        config = json_format.ParseDict(self.served.config, model_config_pb2.ModelConfig())
        return service_pb2.ModelConfigResponse(config=config)

    async def ModelStatistics(self, request: Any, context: Any) -> Any:  # noqa: N802
        if request.name:  # empty: every model
            await self._model(request.name, request.version, context)
        stats = self.served.stats.triton(self.served.name)
        return json_format.ParseDict(stats, service_pb2.ModelStatisticsResponse())

    async def RepositoryIndex(self, request: Any, context: Any) -> Any:  # noqa: N802
        models = [service_pb2.RepositoryIndexResponse.ModelIndex(**m) for m in oip.repository_index(self.served.name)]
        return service_pb2.RepositoryIndexResponse(models=models)

    async def ModelInfer(self, request: Any, context: Any) -> Any:  # noqa: N802
        guard, stats = self.guard, self.served.stats
        if (busy := guard.busy("grpc")) is not None:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, busy)
        guard.inflight += 1
        started, outcome = time.perf_counter(), "error"
        try:
            response = await self._infer(request)
            outcome = "success"
            return response
        except Refused as r:
            outcome = r.outcome
            await context.abort(r.code, str(r))
        finally:
            guard.inflight -= 1
            stats.request("grpc", outcome, time.perf_counter() - started)

    async def _infer(self, request: Any) -> Any:
        served, meta = self.served, self.served.meta
        try:
            oip.check_model(request.model_name, request.model_version, served.name)
            body, head = as_http_body(request)
            limit = served.limits.images
            req = oip.parse_request(body, str(head), meta.latent_dim, limit, meta.input_name, meta.output_name)
        except oip.UnknownModel as e:
            raise Refused(grpc.StatusCode.NOT_FOUND, str(e), "invalid") from None
        except oip.OIPError as e:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, str(e), "invalid") from None
        try:
            images = await served.batcher.decode(oip.latents(req, meta.latent_dim))
        except ValueError as e:  # the Generator's own argument checks
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, str(e), "invalid") from None
        except Exception as e:  # the model failed: the server's problem, not the request's
            log.error("gRPC inference failed: %s", first_line(e))
            raise Refused(grpc.StatusCode.INTERNAL, f"the model failed: {first_line(e, 300)}", "error") from None
        output = service_pb2.ModelInferResponse.InferOutputTensor(
            name=meta.output_name, datatype="FP32", shape=list(images.shape)
        )
        raw = np.ascontiguousarray(images, "<f4").tobytes()
        return service_pb2.ModelInferResponse(
            model_name=served.name,
            model_version=oip.VERSION,
            id=request.id,
            outputs=[output],
            raw_output_contents=[raw],
        )

    async def _model(self, name: str, version: str, context: Any) -> None:
        try:
            oip.check_model(name, version, self.served.name)
        except oip.UnknownModel as e:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(e))


def as_http_body(request: Any) -> tuple[bytes, int]:
    """A ModelInferRequest as the HTTP body (JSON header, then binary tensors) that says the same, and the
    header's length: one parser (oip.parse_request) checks both protocols' requests alike."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise oip.OIPError(f"{len(raw)} raw_input_contents for {len(request.inputs)} inputs: send one per input")
    inputs = []
    for i, t in enumerate(request.inputs):
        entry: dict[str, Any] = {"name": t.name, "shape": list(t.shape), "datatype": t.datatype}
        if raw:
            entry["parameters"] = {"binary_data_size": len(raw[i])}
        elif t.datatype in CONTENTS:
            entry["data"] = list(getattr(t.contents, CONTENTS[t.datatype]))
        inputs.append(entry)
    head: dict[str, Any] = {"inputs": inputs}
    if request.id:
        head["id"] = request.id
    if request.outputs:
        head["outputs"] = [{"name": o.name} for o in request.outputs]
    text = json.dumps(head).encode()
    return text + b"".join(raw), len(text)


async def start(guard: Any, host: str, port: int) -> tuple[Any, int]:
    """A started grpc.aio server for `guard`'s model on host:port (0: any free port) -> (server, port)."""
    limits, meta = guard.limits, guard.served.meta
    answer = limits.images * meta.channels * meta.image_size**2 * 4 + 65_536  # the largest answer, and its header
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", limits.body_bytes),
            ("grpc.max_send_message_length", answer),
            ("grpc.so_reuseport", 0),  # a port in use is an error, not shared with another server
        ]
    )
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(Service(guard), server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as e:  # grpcio raises RuntimeError where it cannot bind
        raise OSError(f"cannot listen for gRPC on {address}: {first_line(e)}; pick another --grpc-port") from None
    if bound == 0:
        raise OSError(f"cannot listen for gRPC on {address} (in use?): pick another --grpc-port")
    await server.start()
    log.info("Open Inference Protocol over gRPC on %s:%d", host, bound)
    return server, bound
