"""`/api/v1/ml/models`: the model catalog and the seed's upload and predict routes (also at
seed 001's own `/api/v1/models/upload` and `/api/v1/models/{id}/predict`: the data plane
serves only reads of `/api/v1/models[/...]`, the OpenAI model list, and passes writes here).

- `POST /upload`: multipart/form-data with the file in `model` (or `file`), `name`,
  `format` (onnx | skops; from the extension when absent), `visibility` (private | public),
  `price_per_call` (dollars charged to each caller per prediction). 201
  `{model_id, converted_to, status: "ready", model}`.
- `GET /`, `GET /{model_id}`, `DELETE /{model_id}`: the caller's models and public ones;
  `model_id` is an id or a name (the latest version).
- `POST /{model_id}/predict`: `{"input": [...]}` for a model with one input (one row, or a
  batch), or `{"inputs": {name: nested list}}`; answers `{output, outputs, latency_ms,
  runtime, used_gpu}` like the seed. Billed at the model's price per call.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody

from gpuproxy.api.deps import ServicesDep
from gpuproxy.api.guards import principal_of, requires_scope
from gpuproxy.api.openapi_errors import error_responses
from gpuproxy.services import Services
from gpuproxy.serving.errors import ModelError
from gpuproxy.serving.formats import TensorSpec
from gpuproxy.serving.service import ModelsService
from gpuproxy.serving.tensors import DTYPES, check_input

__all__ = ["PREFIX", "SEED_PREFIX", "ModelsController", "models_of"]


def models_of(services: Services) -> ModelsService:
    if services.models is None:
        raise ModelError(503, "model serving is disabled (MODELS_ENABLED=false)", code="disabled")
    return services.models


class PredictBody(msgspec.Struct, forbid_unknown_fields=True):
    input: Any = None
    inputs: dict[str, Any] | None = None
    outputs: list[str] | None = None


def _feed(spec: TensorSpec, value: Any, param: str) -> tuple[np.ndarray, bool]:
    """A nested list as the model's input; a missing batch dimension is added (True)."""
    try:
        array = np.array(value, dtype=np.object_ if spec.datatype == "BYTES" else None)
    except ValueError as exc:
        raise ModelError(400, f"{param}: a ragged nested list", param=param) from exc
    if spec.datatype != "BYTES" and array.dtype.kind not in "biuf":
        raise ModelError(400, f"{param}: expected numbers for {spec.datatype}", param=param)
    batched = array.ndim == len(spec.shape) - 1
    if batched:
        array = array[np.newaxis, ...]
    check_input(spec, spec.datatype, list(array.shape), param)
    if spec.datatype.startswith(("INT", "UINT")) and array.dtype.kind == "f":
        raise ModelError(400, f"{param}: {spec.datatype} values must be integers", param=param)
    return array.astype(DTYPES[spec.datatype]), batched


#: The catalog's prefix. Its reads cannot live under the seed's `/api/v1/models/...`: GET
#: there is the OpenAI model list, served by the Rust data plane; the seed's two POST routes
#: are registered at both places.
PREFIX = "/v1/ml/models"
SEED_PREFIX = "/v1/models"


class ModelsController(Controller):
    path = "/api"
    tags = ["models"]  # noqa: RUF012
    guards = [requires_scope("inference")]  # noqa: RUF012

    @post(
        [f"{PREFIX}/upload", f"{SEED_PREFIX}/upload"],
        status_code=201,
        summary="Upload a model (multipart: model, name, format, visibility, price_per_call)",
        request_max_body_size=None,  # the upload's own limit (MODELS_MAX_UPLOAD_BYTES) applies
        responses=error_responses(413, 415),
    )
    async def upload(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> dict[str, Any]:
        caller = principal_of(request)
        record = await models_of(services).upload(
            caller, request.headers.get("content-type"), request.stream()
        )
        return {
            "model_id": record.id,
            "converted_to": "onnx" if record.source_format != "onnx" else None,
            "status": "ready",
            "model": record.view(caller.user_id),
        }

    @get(PREFIX, summary="The caller's models and the public ones")
    async def list_models(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> dict[str, Any]:
        caller = principal_of(request)
        records = await models_of(services).visible(caller)
        return {"models": [r.view(caller.user_id) for r in records]}

    @get(f"{PREFIX}/{{model_id:str}}", summary="One model: metadata, inputs and outputs")
    async def get_model(
        self, model_id: FromPath[str], request: Request[Any, Any, Any], services: ServicesDep
    ) -> dict[str, Any]:
        caller = principal_of(request)
        record = await models_of(services).find(caller, model_id)
        return record.view(caller.user_id)

    @delete(
        f"{PREFIX}/{{model_id:str}}", status_code=200, summary="Delete a model (owner or admin)"
    )
    async def delete_model(
        self, model_id: FromPath[str], request: Request[Any, Any, Any], services: ServicesDep
    ) -> dict[str, Any]:
        record = await models_of(services).delete(principal_of(request), model_id)
        return {"deleted": True, "model_id": record.id}

    @post(
        f"{PREFIX}/{{model_id:str}}/predict",
        status_code=200,
        summary="Run a model (seed shape)",
        responses=error_responses(402, 404, 422, 504),
    )
    async def predict(
        self,
        model_id: FromPath[str],
        data: JSONBody[PredictBody],
        request: Request[Any, Any, Any],
        services: ServicesDep,
    ) -> dict[str, Any]:
        return await _predict(model_id, data, request, services)

    @post(
        f"{SEED_PREFIX}/{{model_path:path}}",
        status_code=200,
        summary="Run a model at the seed's path: /api/v1/models/{model_id}/predict",
        responses=error_responses(402, 404, 422, 504),
    )
    async def seed_predict(
        self,
        model_path: FromPath[str],
        data: JSONBody[PredictBody],
        request: Request[Any, Any, Any],
        services: ServicesDep,
    ) -> dict[str, Any]:
        # One handler for the whole subtree: the OpenAI retrieve-model route already holds
        # `/api/v1/models/{model_id:path}` (GET), and a path parameter takes every segment.
        model_id, _, action = model_path.strip("/").rpartition("/")
        if action != "predict" or not model_id:
            raise ModelError(404, f"no route POST /api/v1/models{model_path}", code="not_found")
        return await _predict(model_id, data, request, services)


async def _predict(
    model_id: str, data: PredictBody, request: Request[Any, Any, Any], services: Services
) -> dict[str, Any]:
    caller = principal_of(request)
    models = models_of(services)
    record = await models.find(caller, model_id)
    feeds: dict[str, np.ndarray] = {}
    batched = False
    if data.inputs is not None:
        known = {s.name: s for s in record.inputs}
        for name in data.inputs:
            if name not in known:
                raise ModelError(
                    400, f"inputs.{name}: the model has no such input", param=f"inputs.{name}"
                )
        for spec in record.inputs:
            if spec.name not in data.inputs:
                raise ModelError(400, f"inputs.{spec.name}: missing", param=f"inputs.{spec.name}")
            feeds[spec.name], _ = _feed(spec, data.inputs[spec.name], f"inputs.{spec.name}")
    elif data.input is not None:
        if len(record.inputs) != 1:
            names = ", ".join(s.name for s in record.inputs)
            raise ModelError(
                400, f"input: the model has several inputs; send inputs: {{{names}}}",
                param="input",
            )  # fmt: skip
        spec = record.inputs[0]
        feeds[spec.name], batched = _feed(spec, data.input, "input")
    else:
        raise ModelError(400, "input: missing (or inputs: {name: values})", param="input")
    wanted = _requested(record.outputs, data.outputs)
    ran = await models.run(caller, record, feeds, wanted)
    outputs = {name: value.tolist() for name, value in ran.outputs.items()}
    first = ran.outputs[wanted[0]]
    return {
        "model_id": record.id,
        "output": (first[0] if batched and first.ndim > 0 else first).tolist(),
        "outputs": outputs,
        "latency_ms": round(ran.latency_ms, 3),
        "runtime": ran.runtime,
        "used_gpu": ran.used_gpu,
        "batch_size": ran.batch_size,
    }


def _requested(specs: list[TensorSpec], wanted: list[str] | None) -> list[str]:
    names = [s.name for s in specs]
    if not wanted:
        return names
    for i, name in enumerate(wanted):
        if name not in names:
            raise ModelError(
                400, f"outputs[{i}]: the model has no output {name!r}", param=f"outputs[{i}]"
            )
    return wanted
