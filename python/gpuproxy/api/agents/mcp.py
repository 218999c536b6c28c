"""MCP over Streamable HTTP at `/api/v1/mcp` (and `/mcp`).

- `POST` one JSON-RPC message (a batch too, for sessions on 2025-03-26, the only
  revision with batches). `initialize` opens a session bound to the caller and answers
  `Mcp-Session-Id`; every later request carries it (400 without, 404 unknown or
  expired: the client then initializes again). Notifications and responses get 202.
  A request answers `application/json`, or `text/event-stream` when it asked for
  progress (`_meta.progressToken`) and accepts SSE: progress notifications (reserve's
  steps, a streamed chat's text) come first, the response last.
- `DELETE` ends the session; `GET` is 405: this server sends nothing unprompted.

Authentication (X-API-Key or Bearer), rate limits and scopes are the REST ones: the
request passes the same middleware, and each tool checks the scope of its REST route.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.response import Stream

from gpuproxy.accounts.principal import Principal
from gpuproxy.agents.action import AgentContext
from gpuproxy.agents.mcp.rpc import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    PARSE_ERROR,
    RpcError,
    check_message,
    error_response,
    is_request,
    result_response,
)
from gpuproxy.agents.mcp.server import handle, initialize_result
from gpuproxy.agents.mcp.sessions import McpSession, SessionStore
from gpuproxy.api.agents.mcp_checks import (
    McpRefused,
    accepts_sse,
    check_origin,
    check_post_headers,
    header_version,
    refusal_response,
)
from gpuproxy.api.agents.sse import Emit, sse_answer
from gpuproxy.api.deps import ServicesDep
from gpuproxy.api.guards import principal_of, requires_auth
from gpuproxy.api.json_body import MAX_JSON_BODY
from gpuproxy.services import Services

__all__ = ["MCP_ROUTE_HANDLERS", "credential_of", "mcp_answer"]

_PATHS = ["/api/v1/mcp", "/mcp"]
#: JSON-RPC, not REST: left out of the OpenAPI schema (the MCP specification documents it).
_ROUTE: dict[str, Any] = {
    "guards": [requires_auth],
    "status_code": 200,
    "include_in_schema": False,
}


def _accepted() -> Response[Any]:
    """Notifications and responses: 202 with no body."""
    return Response(b"", status_code=202)


def credential_of(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The caller's own credential header(s), sent on with its inference calls."""
    return {k: v for k in ("authorization", "x-api-key") if (v := request.headers.get(k))}


async def _session(
    request: Request[Any, Any, Any], store: SessionStore, principal: Principal
) -> McpSession:
    session_id = request.headers.get("mcp-session-id")
    if not session_id:
        raise McpRefused(400, "Mcp-Session-Id: required (send initialize first)")
    session = await store.find(session_id, principal.user_id)
    if session is None:
        raise McpRefused(404, "Mcp-Session-Id: unknown or expired session; initialize again")
    return session


async def _answer(
    ctx: AgentContext, message: dict[str, Any], version: str
) -> dict[str, Any] | None:
    """The response to one message (None for a notification or a client's response)."""
    if not is_request(message):
        return None
    params = message.get("params") or {}
    try:
        return result_response(message["id"], await handle(ctx, message["method"], params, version))
    except RpcError as exc:
        return error_response(message["id"], exc.code, exc.message, exc.data)


def _streamed(ctx: AgentContext, message: dict[str, Any], version: str, token: str | int) -> Stream:
    """Run one request, sending its progress as SSE events and its response last."""

    async def work(emit: Emit) -> None:
        async def progress(done: float, total: float | None, text: str) -> None:
            params: dict[str, Any] = {"progressToken": token, "progress": done, "message": text}
            if total is not None:
                params["total"] = total
            await emit({"jsonrpc": "2.0", "method": "notifications/progress", "params": params})

        answer = await _answer(_with_progress(ctx, progress), message, version)
        if answer is not None:
            await emit(answer)

    return sse_answer(work, lambda: error_response(message["id"], INTERNAL_ERROR, "internal error"))


def _with_progress(ctx: AgentContext, progress: Any) -> AgentContext:
    return AgentContext(ctx.services, ctx.principal, ctx.credential, progress)


def _progress_token(message: dict[str, Any]) -> str | int | None:
    meta = (message.get("params") or {}).get("_meta")
    token = meta.get("progressToken") if isinstance(meta, dict) else None
    return token if isinstance(token, str | int) and not isinstance(token, bool) else None


async def _initialize(
    store: SessionStore, principal: Principal, message: dict[str, Any]
) -> Response[Any]:
    if not is_request(message):
        raise McpRefused(400, "initialize: must be a request with an id")
    params = message.get("params") or {}
    version, result = initialize_result(params)
    info = params.get("clientInfo")
    name = str(info.get("name", ""))[:100] if isinstance(info, dict) else ""
    session = await store.open(principal.user_id, version, name)
    return Response(result_response(message["id"], result), headers={"Mcp-Session-Id": session.id})


async def _batch(ctx: AgentContext, messages: list[Any], version: str) -> Response[Any]:
    if version != "2025-03-26":
        raise McpRefused(400, f"body: JSON-RPC batches are not part of MCP {version}")
    answers: list[dict[str, Any]] = []
    for raw in messages:
        try:
            message = check_message(raw)
        except RpcError as exc:
            answers.append(error_response(None, exc.code, exc.message))
            continue
        if message.get("method") == "initialize":
            answers.append(error_response(message.get("id"), INVALID_REQUEST, "initialize: alone"))
            continue
        answer = await _answer(ctx, message, version)
        if answer is not None:
            answers.append(answer)
    return Response(answers) if answers else _accepted()


async def _post(request: Request[Any, Any, Any], services: Services) -> Response[Any] | Stream:
    check_post_headers(request, services.settings.public_url)
    principal = principal_of(request)
    raw = await request.body()
    if len(raw) > MAX_JSON_BODY:
        raise McpRefused(413, f"body: larger than {MAX_JSON_BODY} bytes")
    try:
        decoded = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        body = error_response(None, PARSE_ERROR, "body: not valid JSON")
        return Response(body, status_code=400)
    store = SessionStore(services.kv)
    if isinstance(decoded, dict) and decoded.get("method") == "initialize":
        try:
            return await _initialize(store, principal, check_message(decoded))
        except RpcError as exc:
            return Response(error_response(None, exc.code, exc.message), status_code=400)
    session = await _session(request, store, principal)
    version = header_version(request, session.protocol_version)
    ctx = AgentContext(services, principal, credential_of(request))
    if isinstance(decoded, list) and decoded:
        return await _batch(ctx, decoded, version)
    try:
        message = check_message(decoded)
    except RpcError as exc:
        return Response(error_response(None, exc.code, exc.message), status_code=400)
    token = _progress_token(message)
    if is_request(message) and token is not None and accepts_sse(request):
        return _streamed(ctx, message, version, token)
    answer = await _answer(ctx, message, version)
    return Response(answer) if answer is not None else _accepted()


@post(_PATHS, name="mcp-post", summary="MCP Streamable HTTP: one JSON-RPC message", **_ROUTE)
async def mcp_post(
    request: Request[Any, Any, Any], services: ServicesDep
) -> Response[Any] | Stream:
    return await mcp_answer(request, services)


async def mcp_answer(request: Request[Any, Any, Any], services: Services) -> Response[Any] | Stream:
    """The answer to one MCP POST (`/api/v1/mcp`, and `/api/v1/agent` when it is MCP)."""
    try:
        return await _post(request, services)
    except McpRefused as exc:
        return refusal_response(exc)


@delete(_PATHS, name="mcp-delete", summary="MCP Streamable HTTP: end the session", **_ROUTE)
async def mcp_delete(request: Request[Any, Any, Any], services: ServicesDep) -> Response[Any]:
    try:
        check_origin(request, services.settings.public_url)
        store = SessionStore(services.kv)
        await store.close(await _session(request, store, principal_of(request)))
    except McpRefused as exc:
        return refusal_response(exc)
    return Response(b"", status_code=204)


@get(
    _PATHS,
    status_code=405,
    include_in_schema=False,
    name="mcp-get",
    summary="MCP Streamable HTTP: no server-initiated stream (405)",
)
async def mcp_get() -> Response[Any]:
    body = error_response(None, INVALID_REQUEST, "this server sends no unprompted messages: POST")
    return Response(body, status_code=405, headers={"Allow": "POST, DELETE"})


MCP_ROUTE_HANDLERS: list[Any] = [mcp_post, mcp_delete, mcp_get]
