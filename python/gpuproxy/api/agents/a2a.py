"""A2A over HTTP: the agent card and the JSON-RPC endpoint, plus the seed's simple form.

- `GET  /.well-known/agent-card.json` the card (public: it names no user data).
- `POST /api/v1/a2a` a JSON-RPC 2.0 request: SendMessage, SendStreamingMessage (SSE),
  GetTask, ListTasks, CancelTask (0.3's message/send, message/stream, tasks/get,
  tasks/list, tasks/cancel too); or the seed's `{action, from_agent, parameters}`, which
  runs one action and answers `{from_agent, to_agent, status, result}` (REST errors).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Stream

from gpuproxy.agents.a2a.card import A2A_PATH, agent_card
from gpuproxy.agents.a2a.server import STREAMING, handle, run_task
from gpuproxy.agents.a2a.tasks import TaskStore
from gpuproxy.agents.action import AgentContext
from gpuproxy.agents.actions import find_action, run_action
from gpuproxy.agents.errors import ActionInvalid
from gpuproxy.agents.mcp.rpc import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    RpcError,
    check_message,
    error_response,
    result_response,
)
from gpuproxy.api.agents.mcp import credential_of
from gpuproxy.api.agents.sse import Emit, sse_answer
from gpuproxy.api.deps import ServicesDep
from gpuproxy.api.guards import principal_of, requires_auth
from gpuproxy.api.json_body import json_object
from gpuproxy.api.openapi_errors import error_responses
from gpuproxy.services import Services

__all__ = ["A2A_ROUTE_HANDLERS", "a2a_answer"]

_NAME = "aiserve-gpuproxy"


def _base_url(request: Request[Any, Any, Any], public_url: str) -> str:
    if public_url:
        return public_url
    host = request.headers.get("host") or "127.0.0.1"
    return f"{request.url.scheme}://{host}"


@get(
    "/.well-known/agent-card.json",
    tags=["agents"],
    summary="The A2A agent card: interface, security schemes, skills",
)
async def agent_card_route(
    request: Request[Any, Any, Any], services: ServicesDep
) -> dict[str, Any]:
    return agent_card(_base_url(request, services.settings.public_url))


async def _seed_form(ctx: AgentContext, body: dict[str, Any]) -> dict[str, Any]:
    action_name = body.get("action")
    if not isinstance(action_name, str) or not action_name:
        raise ActionInvalid("action", "must be a tool name (see /agent/discover)")
    sender = body.get("from_agent")
    if sender is not None and not isinstance(sender, str):
        raise ActionInvalid("from_agent", "must be a string")
    result = await run_action(ctx, find_action(action_name), body.get("parameters"))
    return {"from_agent": _NAME, "to_agent": sender, "status": "success", "result": result}


def _streamed(ctx: AgentContext, message: dict[str, Any]) -> Stream:
    request_id = message["id"]

    async def work(emit: Emit) -> None:
        async def event(payload: dict[str, Any]) -> None:
            await emit(result_response(request_id, payload))

        store = TaskStore(ctx.services.kv, ctx.principal.user_id)
        try:
            await run_task(ctx, store, message.get("params") or {}, event)
        except RpcError as exc:
            await emit(error_response(request_id, exc.code, exc.message, exc.data))

    return sse_answer(work, lambda: error_response(request_id, INTERNAL_ERROR, "internal error"))


@post(
    A2A_PATH,
    guards=[requires_auth],
    status_code=200,
    tags=["agents"],
    summary="A2A JSON-RPC (SendMessage, GetTask, ...) or the seed's {action, parameters}",
    responses=error_responses(402, 403, 404, 409, 502, 504),
)
async def a2a_post(
    request: Request[Any, Any, Any], services: ServicesDep
) -> Response[Any] | Stream:
    return await a2a_answer(request, services, await json_object(request, required=True))


async def a2a_answer(
    request: Request[Any, Any, Any], services: Services, body: dict[str, Any]
) -> Response[Any] | Stream:
    """The answer to one A2A body (JSON-RPC or the seed's form); `/api/v1/agent` too."""
    ctx = AgentContext(services, principal_of(request), credential_of(request))
    if "jsonrpc" not in body:
        return Response(await _seed_form(ctx, body))
    try:
        message = check_message(body)
        if "id" not in message or "method" not in message:
            return Response(
                error_response(None, INVALID_REQUEST, "a request needs an id and a method")
            )
        if message["method"] in STREAMING:
            return _streamed(ctx, message)
        result = await handle(ctx, message["method"], message.get("params") or {})
        return Response(result_response(message["id"], result))
    except RpcError as exc:
        return Response(error_response(body.get("id"), exc.code, exc.message, exc.data))


A2A_ROUTE_HANDLERS: list[Any] = [agent_card_route, a2a_post]
