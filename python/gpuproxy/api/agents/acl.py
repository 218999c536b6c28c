"""FIPA ACL at `POST /api/v1/fipa` and KQML at `POST /api/v1/kqml`.

A body sent as `application/json` is the seed's JSON form (`{performative, sender,
content, reply_with, conversation_id, ...}`) and is answered in JSON; anything else is the
standard s-expression syntax, answered as `text/plain` s-expressions. A message that
cannot be read is a 400 with not-understood (FIPA) or error (KQML) naming the position.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, post

from gpuproxy.agents.acl import DIALECTS, NotUnderstood, answer, from_json, from_sexpr
from gpuproxy.agents.acl import not_understood as not_understood_reply
from gpuproxy.agents.action import AgentContext
from gpuproxy.api.agents.mcp import credential_of
from gpuproxy.api.deps import ServicesDep
from gpuproxy.api.guards import principal_of, requires_auth
from gpuproxy.api.json_body import MAX_JSON_BODY
from gpuproxy.services import Services

__all__ = ["ACL_ROUTE_HANDLERS", "acl_json_answer"]


async def _acl(request: Request[Any, Any, Any], services: Services, name: str) -> Response[Any]:
    dialect = DIALECTS[name]
    raw = await request.body()
    is_json = request.headers.get("content-type", "").lower().startswith("application/json")
    syntax = "json" if is_json else "sexpr"
    media = "application/json" if is_json else "text/plain"
    try:
        if len(raw) > MAX_JSON_BODY:
            raise NotUnderstood(f"body: larger than {MAX_JSON_BODY} bytes")
        if is_json:
            try:
                body = msgspec.json.decode(raw)
            except msgspec.DecodeError:
                raise NotUnderstood("body: not valid JSON") from None
            if not isinstance(body, dict):
                raise NotUnderstood("body: must be a JSON object")
            message = from_json(body)
        else:
            try:
                text = raw.decode()
            except UnicodeDecodeError as exc:
                raise NotUnderstood(f"at byte {exc.start}: not UTF-8") from None
            message = from_sexpr(text)
    except NotUnderstood as exc:
        reply = not_understood_reply(dialect, syntax, str(exc))
        return Response(reply, status_code=400, media_type=media)
    return await _answer(request, services, name, message, media)


async def _answer(
    request: Request[Any, Any, Any], services: Services, name: str, message: Any, media: str
) -> Response[Any]:
    ctx = AgentContext(services, principal_of(request), credential_of(request))
    status, reply = await answer(ctx, DIALECTS[name], message)
    return Response(reply, status_code=status, media_type=media)


async def acl_json_answer(
    request: Request[Any, Any, Any], services: Services, name: str, body: dict[str, Any]
) -> Response[Any]:
    """The answer to a FIPA ACL or KQML message in the seed's JSON form (`/api/v1/agent`)."""
    try:
        message = from_json(body)
    except NotUnderstood as exc:
        reply = not_understood_reply(DIALECTS[name], "json", str(exc))
        return Response(reply, status_code=400)
    return await _answer(request, services, name, message, "application/json")


# Not in the OpenAPI schema: the bodies are s-expressions or ACL JSON (README documents them).
@post("/api/v1/fipa", guards=[requires_auth], status_code=200, include_in_schema=False)
async def fipa_post(request: Request[Any, Any, Any], services: ServicesDep) -> Response[Any]:
    return await _acl(request, services, "fipa")


@post("/api/v1/kqml", guards=[requires_auth], status_code=200, include_in_schema=False)
async def kqml_post(request: Request[Any, Any, Any], services: ServicesDep) -> Response[Any]:
    return await _acl(request, services, "kqml")


ACL_ROUTE_HANDLERS: list[Any] = [fipa_post, kqml_post]
