"""`POST /api/v1/agent`: one endpoint for every agent protocol served here, chosen by
`X-Agent-Protocol` or detected from the body (`gpuproxy.agents.detect`), then answered
exactly as the protocol's own endpoint answers it."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.response import Stream

from gpuproxy.agents.detect import detect_protocol
from gpuproxy.api.agents.a2a import a2a_answer
from gpuproxy.api.agents.acl import acl_json_answer
from gpuproxy.api.agents.acp import acp_answer
from gpuproxy.api.agents.langchain import langchain_answer
from gpuproxy.api.agents.mcp import mcp_answer
from gpuproxy.api.deps import ServicesDep
from gpuproxy.api.guards import requires_auth
from gpuproxy.api.json_body import json_object

__all__ = ["agent_auto"]


@post(
    "/api/v1/agent",
    guards=[requires_auth],
    status_code=200,
    # Its answers are the protocols' own (JSON-RPC, SSE, REST errors): documented in the
    # README per protocol rather than as one OpenAPI operation.
    include_in_schema=False,
    name="agent-auto",
)
async def agent_auto(
    request: Request[Any, Any, Any], services: ServicesDep
) -> Response[Any] | Stream:
    body = await json_object(request, required=True)
    protocol = detect_protocol(request.headers.get("x-agent-protocol"), body)
    if protocol == "mcp":
        return await mcp_answer(request, services)
    if protocol == "a2a":
        return await a2a_answer(request, services, body)
    if protocol == "acp":
        return Response(await acp_answer(request, services, body))
    if protocol in ("fipa", "kqml"):
        return await acl_json_answer(request, services, protocol, body)
    return Response(await langchain_answer(request, services, body))
