"""OpenAI-compatible routes, as the control plane documents them.

`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`, `/v1/models`, `/v1/models/{id}`
and their `/api/v1/...` twins are served by the Rust data plane (`gpuproxy.gateway.data_plane`,
`crates/gpuproxy-core/src/gateway/`), which owns the public port: those requests never reach
this app. The registrations below put them in the OpenAPI schema (same paths, operation ids,
summaries and error shape as the data plane answers) and, when the app is served without the
data plane (an in-process test client), answer 503 `data_plane_required` in the OpenAI error
shape instead of serving a second, different hot path.
"""

from __future__ import annotations

from typing import Any

from litestar import Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from gpuproxy.api.openapi_errors import CREDENTIALS, error_responses
from gpuproxy.gateway.errors import GatewayError

__all__ = ["OPENAI_ROUTE_HANDLERS"]

_BODY_DOC = (
    "OpenAI-compatible, served by the Rust data plane: the JSON body is forwarded to a worker "
    "serving `model` (streamed as SSE when `stream` is true). Errors are "
    "`{error: {message, type, param, code}}`."
)
#: What the data plane refuses with (crates/gpuproxy-core/src/gateway/): bad or oversized
#: body, credentials, credits/limits, scope, unknown model, rate limit, upstream failures,
#: a full or timed-out admission queue.
_HOT_ERRORS = error_responses(400, 401, 402, 403, 404, 413, 429, 502, 503, 504)


def _not_here() -> Response[bytes]:
    error = GatewayError(
        503,
        "the inference routes are served by the data plane, which is not running in this "
        "process (start the server with aiserve-gpuproxyd)",
        code="data_plane_required",
    )
    return Response(error.body(), status_code=503, media_type="application/json")


def _inference_route(name: str, operation: str, summary: str, path: str) -> HTTPRouteHandler:
    """The documented POST registration of one inference route (`path` and /api`path`)."""

    async def handler() -> Response[bytes]:
        return _not_here()

    # Litestar builds the OpenAPI operationId from the handler's name.
    handler.__name__ = handler.__qualname__ = operation
    return post(
        path=[path, "/api" + path],
        name=name,
        summary=summary,
        description=_BODY_DOC,
        status_code=200,
        responses=_HOT_ERRORS,
        security=CREDENTIALS,
    )(handler)


chat_completions = _inference_route(
    "openai-chat",
    "chat_completions",
    "Chat completion (OpenAI create chat completion)",
    "/v1/chat/completions",
)
completions = _inference_route(
    "openai-completions",
    "completions",
    "Text completion (OpenAI create completion)",
    "/v1/completions",
)
embeddings = _inference_route(
    "openai-embeddings",
    "embeddings",
    "Embeddings (OpenAI create embeddings)",
    "/v1/embeddings",
)


@get(
    path=["/v1/models", "/api/v1/models"],
    responses=_HOT_ERRORS,
    security=CREDENTIALS,
    name="openai-models",
    summary="The models the caller can use (OpenAI list models)",
)
async def list_models() -> Response[bytes]:
    return _not_here()


@get(
    path=["/v1/models/{model_id:path}", "/api/v1/models/{model_id:path}"],
    responses=_HOT_ERRORS,
    security=CREDENTIALS,
    name="openai-model",
    summary="One model the caller can use (OpenAI retrieve model)",
)
async def retrieve_model(model_id: FromPath[str]) -> Response[bytes]:
    return _not_here()


OPENAI_ROUTE_HANDLERS: list[Any] = [
    chat_completions,
    completions,
    embeddings,
    list_models,
    retrieve_model,
]
