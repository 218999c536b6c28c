"""Agent routes over plain HTTP: LangChain tools and execution, and discovery.

- `GET  /api/v1/langchain/tools` the caller's tools in the OpenAI function-tool form.
- `POST /api/v1/langchain` `{"input": {"action": "execute", "tool", "tool_input"}}` ->
  `{"tool", "output"}`; errors are the REST ones (status and `{"error": ...}`).
- `GET  /agent/discover`, `/api/v1/agents/discover` protocols, endpoints, revisions and
  skills (public: it names no user data).
MCP is served by `gpuproxy.api.agents.mcp`.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.status_codes import HTTP_200_OK

from gpuproxy.agents.action import AgentContext
from gpuproxy.agents.actions import run_action
from gpuproxy.agents.discovery import discovery_document
from gpuproxy.agents.langchain import langchain_tools, parse_execute
from gpuproxy.api.agents.mcp import credential_of
from gpuproxy.api.deps import ServicesDep
from gpuproxy.api.guards import principal_of, requires_auth
from gpuproxy.api.json_body import json_object
from gpuproxy.api.openapi_errors import error_responses
from gpuproxy.services import Services

__all__ = ["LangChainController", "agent_discover", "langchain_answer"]


class LangChainController(Controller):
    path = "/api/v1/langchain"
    guards = [requires_auth]  # noqa: RUF012 - Litestar reads a plain list
    tags = ["agents"]  # noqa: RUF012

    @get("/tools", summary="The caller's tools, in the OpenAI function-tool form")
    async def tools(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        return {"tools": langchain_tools(principal_of(request))}

    @post(
        "/",
        status_code=HTTP_200_OK,
        summary="Run one tool: {input: {action: execute, tool, tool_input}}",
        responses=error_responses(402, 403, 404, 409, 502, 504),
    )
    async def execute(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> dict[str, Any]:
        return await langchain_answer(request, services, await json_object(request, required=True))


async def langchain_answer(
    request: Request[Any, Any, Any], services: Services, body: dict[str, Any]
) -> dict[str, Any]:
    """The answer to one LangChain execute message (`/api/v1/langchain`, `/api/v1/agent`)."""
    action, arguments = parse_execute(body)
    ctx = AgentContext(services, principal_of(request), credential_of(request))
    return {"tool": action.tool, "output": await run_action(ctx, action, arguments)}


@get(
    ["/agent/discover", "/api/v1/agents/discover"],
    tags=["agents"],
    summary="Agent protocols, endpoints, revisions and skills",
)
async def agent_discover() -> dict[str, Any]:
    return discovery_document()
