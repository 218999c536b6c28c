"""OpenAI-compatible routes: raw ASGI handlers mounted in the Litestar app.

`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`, `/v1/models`, and the seed's
`/api/v1/chat/completions` and `/api/v1/models`. Raw ASGI (not Litestar's request
objects, DI or DTOs) because they are the hot path: a Litestar route costs about three
times a raw ASGI callable before any work is done (see PERFORMANCE-NOTES). The accounts
middleware still runs in front of them and sets `scope["user"]`. `/v1/models/{id}` is an
ordinary route (Litestar's raw ASGI handlers take no path parameters; it is not hot).

Errors are OpenAI-shaped: `{"error": {"message", "type", "param", "code"}}`.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, asgi, get
from litestar.params import FromPath

from gpuproxy.api.gateway_common import GATEWAY_EXCEPTION_HANDLERS
from gpuproxy.gateway.asgi_io import Receive, Scope, Send, send_error, send_json
from gpuproxy.gateway.errors import GatewayError
from gpuproxy.gateway.handler import authorize, handle_inference
from gpuproxy.gateway.openai_request import ENDPOINTS, Endpoint
from gpuproxy.gateway.service import Gateway

__all__ = ["OPENAI_ROUTE_HANDLERS"]

_encode = msgspec.json.Encoder().encode
_CHAT = ENDPOINTS["chat"]
_COMPLETIONS = ENDPOINTS["completions"]
_EMBEDDINGS = ENDPOINTS["embeddings"]


def _gateway(scope: Any) -> Gateway:
    gateway = getattr(scope["app"].state.get("services"), "gateway", None)
    if gateway is None:
        raise GatewayError(503, "the inference gateway is starting", code="not_ready")
    return gateway  # type: ignore[no-any-return]


async def _inference(scope: Scope, receive: Receive, send: Send, endpoint: Endpoint) -> None:
    try:
        gateway = _gateway(scope)
    except GatewayError as error:
        await send_error(send, error)
        return
    await handle_inference(gateway, scope, receive, send, endpoint)


@asgi(
    path=["/v1/chat/completions", "/api/v1/chat/completions"], name="openai-chat", copy_scope=False
)
async def chat_completions(scope: Scope, receive: Receive, send: Send) -> None:
    await _inference(scope, receive, send, _CHAT)


@asgi(path=["/v1/completions", "/api/v1/completions"], name="openai-completions", copy_scope=False)
async def completions(scope: Scope, receive: Receive, send: Send) -> None:
    await _inference(scope, receive, send, _COMPLETIONS)


@asgi(path=["/v1/embeddings", "/api/v1/embeddings"], name="openai-embeddings", copy_scope=False)
async def embeddings(scope: Scope, receive: Receive, send: Send) -> None:
    await _inference(scope, receive, send, _EMBEDDINGS)


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


@asgi(path=["/v1/models", "/api/v1/models"], name="openai-models", copy_scope=False)
async def list_models(scope: Scope, receive: Receive, send: Send) -> None:
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


OPENAI_ROUTE_HANDLERS: list[Any] = [
    chat_completions,
    completions,
    embeddings,
    list_models,
    retrieve_model,
]
