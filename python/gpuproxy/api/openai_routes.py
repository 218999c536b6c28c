"""OpenAI-compatible routes: raw ASGI handlers mounted in the Litestar app.

`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`, `/v1/models`, and the seed's
`/api/v1/chat/completions` and `/api/v1/models`. Raw ASGI (not Litestar's request
objects, DI or DTOs) because they are the hot path: a Litestar route costs about three
times a raw ASGI callable before any work is done (see PERFORMANCE-NOTES). The served app
(`gpuproxy.api.fast_path`) calls them directly, doing request id, authentication and rate
limits inline; the Litestar registrations below document them and serve the rest (the
accounts middleware then sets `scope["user"]`). `/v1/models/{id}` is an ordinary route.

Errors are OpenAI-shaped: `{"error": {"message", "type", "param", "code"}}`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.types import ASGIApp

from gpuproxy.api.gateway_common import GATEWAY_EXCEPTION_HANDLERS
from gpuproxy.gateway.asgi_io import Receive, Scope, Send, send_error, send_json
from gpuproxy.gateway.errors import GatewayError
from gpuproxy.gateway.handler import authorize, handle_inference
from gpuproxy.gateway.openai_request import ENDPOINTS, Endpoint
from gpuproxy.gateway.service import Gateway

__all__ = ["OPENAI_RAW_ROUTES", "OPENAI_ROUTE_HANDLERS"]

_encode = msgspec.json.Encoder().encode
_CHAT = ENDPOINTS["chat"]
_COMPLETIONS = ENDPOINTS["completions"]
_EMBEDDINGS = ENDPOINTS["embeddings"]

RawHandler = Callable[[Scope, Receive, Send], Awaitable[None]]


def _gateway(scope: Any) -> Gateway:
    gateway = getattr(scope["app"].state.get("services"), "gateway", None)
    if gateway is None:
        raise GatewayError(503, "the inference gateway is starting", code="not_ready")
    return gateway  # type: ignore[no-any-return]


# The inference handlers are plain functions returning the gateway's coroutine: no
# coroutine frame of their own, so a held stream carries two frames fewer (~600 bytes) and
# every request skips two awaits.
def _inference(scope: Scope, receive: Receive, send: Send, endpoint: Endpoint) -> Awaitable[None]:
    try:
        gateway = _gateway(scope)
    except GatewayError as error:
        return send_error(send, error)
    return handle_inference(gateway, scope, receive, send, endpoint)


def chat_completions_asgi(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
    return _inference(scope, receive, send, _CHAT)


def completions_asgi(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
    return _inference(scope, receive, send, _COMPLETIONS)


def embeddings_asgi(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
    return _inference(scope, receive, send, _EMBEDDINGS)


def _model_object(model: str, owned_by: str, created: int) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": created, "owned_by": owned_by}


def _visible_models(gateway: Gateway, user_id: str) -> dict[str, str]:
    """model -> owned_by ("you" for the caller's own workers, else the shared pool)."""
    found: dict[str, str] = {}
    for model in gateway.pools.models_for(user_id):
        route = gateway.pools.route(user_id, model)
        if route is None:
            continue
        owners = [
            "you" if entry.owner_id == user_id else entry.scope.removeprefix("shared:")
            for entry in route.entries
            if entry.pool.snapshot().routable > 0
        ]
        found[model] = owners[0] if owners else "gpuproxy"
    return found


async def list_models_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    try:
        if scope["method"] not in ("GET", "HEAD"):
            raise GatewayError(405, "use GET for /v1/models")
        principal = authorize(scope)
        gateway = _gateway(scope)
        models = _visible_models(gateway, principal.user_id)
        created = int(gateway.metrics.started_at)
        data = [_model_object(m, owner, created) for m, owner in models.items()]
        body = _encode({"object": "list", "data": data})
    except GatewayError as error:
        await send_error(send, error)
        return
    await send_json(send, 200, body)


@get(
    path=["/v1/models/{model_id:path}", "/api/v1/models/{model_id:path}"],
    name="openai-model",
    exception_handlers=GATEWAY_EXCEPTION_HANDLERS,
    summary="One model the caller can use (OpenAI retrieve model)",
)
async def retrieve_model(
    model_id: FromPath[str], request: Request[Any, Any, Any]
) -> Response[bytes]:
    model = model_id.lstrip("/")
    principal = authorize(request.scope)  # type: ignore[arg-type]
    gateway = _gateway(request.scope)
    models = _visible_models(gateway, principal.user_id)
    if model not in models:
        raise GatewayError(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )
    body = _encode(_model_object(model, models[model], int(gateway.metrics.started_at)))
    return Response(body, media_type="application/json")


# Litestar registrations of the raw handlers: they document the routes in the OpenAPI
# schema and serve them when the fast path does not (requests with an Origin header, CORS
# preflights, an app served without `FastPathApp`). The handler returns the raw ASGI
# callable and Litestar runs it with the request's own receive/send (body unread).
_BODY_DOC = (
    "OpenAI-compatible: the JSON body is forwarded to a worker serving `model` (streamed "
    "as SSE when `stream` is true). Errors are `{error: {message, type, param, code}}`."
)


def _inference_route(raw: RawHandler, name: str, summary: str, path: str) -> HTTPRouteHandler:
    """The documented POST registration of one raw inference handler (`path` and /api`path`)."""

    async def handler() -> ASGIApp:
        return raw  # type: ignore[return-value]

    # Litestar builds the OpenAPI operationId from the handler's name: keep the names the
    # decorated functions had (chat_completions, ...) so the schema does not change.
    handler.__name__ = handler.__qualname__ = raw.__name__.removesuffix("_asgi")
    return post(
        path=[path, "/api" + path],
        name=name,
        summary=summary,
        description=_BODY_DOC,
        status_code=200,
    )(handler)


chat_completions = _inference_route(
    chat_completions_asgi,
    "openai-chat",
    "Chat completion (OpenAI create chat completion)",
    "/v1/chat/completions",
)
completions = _inference_route(
    completions_asgi,
    "openai-completions",
    "Text completion (OpenAI create completion)",
    "/v1/completions",
)
embeddings = _inference_route(
    embeddings_asgi, "openai-embeddings", "Embeddings (OpenAI create embeddings)", "/v1/embeddings"
)


@get(
    path=["/v1/models", "/api/v1/models"],
    name="openai-models",
    summary="The models the caller can use (OpenAI list models)",
)
async def list_models() -> ASGIApp:
    return list_models_asgi  # type: ignore[return-value]


OPENAI_ROUTE_HANDLERS: list[Any] = [
    chat_completions,
    completions,
    embeddings,
    list_models,
    retrieve_model,
]
#: Exact path -> raw handler, for `gpuproxy.api.fast_path`.
OPENAI_RAW_ROUTES: dict[str, Any] = {
    path: raw
    for handler, raw in (
        (chat_completions, chat_completions_asgi),
        (completions, completions_asgi),
        (embeddings, embeddings_asgi),
        (list_models, list_models_asgi),
    )
    for path in handler.paths
}
