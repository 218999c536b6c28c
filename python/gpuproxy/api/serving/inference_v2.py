"""The Open Inference Protocol v2 over HTTP (KServe / Triton `/v2`), for uploaded models.

`/v2`, `/v2/health/live`, `/v2/health/ready` (no credential needed, as in Triton), and
`/v2/models/{name}[/versions/{version}]`, `.../ready`, `.../infer` (the `inference`
scope). A model is named by its id or its name (see `gpuproxy.serving.catalog`). Errors
answer the protocol's shape, `{"error": "<message>"}`, with the same statuses as the rest
of the API (400 naming the field, 401, 403, 404, 402/429 from billing, 504 on timeout).
"""

from __future__ import annotations

from typing import Any, TypeAlias

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, SkipValidation

from gpuproxy import __version__
from gpuproxy.api.deps import ServicesDep
from gpuproxy.api.guards import principal_of, requires_scope
from gpuproxy.api.openapi_errors import ErrorBody
from gpuproxy.api.serving.models import models_of
from gpuproxy.exceptions import ApiError
from gpuproxy.serving.catalog import ModelRecord
from gpuproxy.serving.oip import HEADER_LENGTH, encode_answer, parse_infer

__all__ = ["INFERENCE_V2_HANDLERS", "InferenceV2Controller", "ServerV2Controller"]

#: Largest infer body (JSON or binary tensors) read into memory.
MAX_INFER_BYTES = 64 * 1024 * 1024
PLATFORM = "onnxruntime_onnx"  # Triton's name for what serves every model here


def _protocol_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if isinstance(exc, ApiError):
        status, message, headers = exc.http_status, str(exc), exc.headers()
    elif isinstance(exc, HTTPException):
        status, message = exc.status_code, str(exc.detail)
        headers = dict(exc.headers or {})
        if isinstance(exc, ValidationException):
            status = 400
    else:  # pragma: no cover - only the two classes above are routed here
        raise exc
    return Response({"error": message}, status_code=status, headers=headers)


_HANDLERS: dict[Any, Any] = {ApiError: _protocol_error, HTTPException: _protocol_error}


class ProtocolError(msgspec.Struct):
    """The Open Inference Protocol's error answer."""

    error: str


def _documented(*statuses: int) -> dict[int, ResponseSpec]:
    # 429 and 503 may also come from the authentication middleware, in the API's own shape.
    either: Any = ProtocolError | ErrorBody
    return {
        status: ResponseSpec(
            data_container=either if status in (429, 503) else ProtocolError,
            description="Error",
            generate_examples=False,
        )
        for status in statuses
    }


class ServerV2Controller(Controller):
    path = "/v2"
    tags = ["inference-v2"]  # noqa: RUF012
    exception_handlers = _HANDLERS

    @get("/", summary="Server metadata (Open Inference Protocol)")
    async def metadata(self) -> dict[str, Any]:
        return {
            "name": "aiserve-gpuproxy",
            "version": __version__,
            "extensions": ["binary_tensor_data"],
        }

    @get("/health/live", summary="Liveness (Open Inference Protocol)")
    async def live(self) -> dict[str, Any]:
        return {"live": True}

    @get("/health/ready", summary="Readiness: model serving is enabled and started")
    async def ready(self, services: ServicesDep) -> Response[dict[str, Any]]:
        ready = services.models is not None
        return Response({"ready": ready}, status_code=200 if ready else 503)


def _version(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 9:
        raise ApiError(f"version: expected a positive integer, got {value!r}", param="version")
    return int(value)


def _metadata(record: ModelRecord, versions: list[int]) -> dict[str, Any]:
    return {
        "name": record.name,
        "versions": [str(v) for v in versions],
        "platform": PLATFORM,
        "inputs": [
            {"name": s.name, "datatype": s.datatype, "shape": s.shape} for s in record.inputs
        ],
        "outputs": [
            {"name": s.name, "datatype": s.datatype, "shape": s.shape} for s in record.outputs
        ],
    }


async def _model(
    request: Request[Any, Any, Any],
    services: ServicesDep,
    name: FromPath[str],
    version: FromPath[str | None] = None,
) -> ModelRecord:
    """The model the path names for the caller (every route below receives it as `model`)."""
    return await models_of(services).find(principal_of(request), name, _version(version))


ModelDep: TypeAlias = NamedDependency[SkipValidation[ModelRecord]]


class InferenceV2Controller(Controller):
    path = "/v2/models/{name:str}"
    tags = ["inference-v2"]  # noqa: RUF012
    guards = [requires_scope("inference")]  # noqa: RUF012
    dependencies = {"model": Provide(_model)}  # noqa: RUF012
    exception_handlers = _HANDLERS

    @get(
        ["/", "/versions/{version:str}"],
        summary="Model metadata: inputs, outputs, versions",
        responses=_documented(400, 401, 403, 404, 429, 503),
    )
    async def model_metadata(
        self, model: ModelDep, request: Request[Any, Any, Any], services: ServicesDep
    ) -> dict[str, Any]:
        caller = principal_of(request)
        everything = caller.is_admin or caller.user_id == model.owner_id
        versions = await models_of(services).catalog.versions(model, all_of_them=everything)
        return _metadata(model, versions or [model.version])

    @get(
        ["/ready", "/versions/{version:str}/ready"],
        summary="Whether the model can infer",
        responses=_documented(400, 401, 403, 404, 429, 503),
    )
    async def model_ready(self, model: ModelDep) -> dict[str, Any]:
        return {"name": model.name, "ready": True}

    @post(
        ["/infer", "/versions/{version:str}/infer"],
        status_code=200,
        summary="Run the model on JSON or binary tensors",
        request_max_body_size=MAX_INFER_BYTES,
        responses=_documented(400, 401, 402, 403, 404, 413, 422, 429, 503, 504),
    )
    async def infer(
        self, model: ModelDep, request: Request[Any, Any, Any], services: ServicesDep
    ) -> Response[bytes]:
        body = await request.body()
        call = parse_infer(body, request.headers.get(HEADER_LENGTH), model)
        ran = await models_of(services).run(principal_of(request), model, call.feeds, call.outputs)
        payload, headers, media_type = encode_answer(model, call, ran)
        return Response(payload, headers=headers, media_type=media_type)


INFERENCE_V2_HANDLERS: list[Any] = [ServerV2Controller, InferenceV2Controller]
