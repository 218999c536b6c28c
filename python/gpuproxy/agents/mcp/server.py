"""The MCP methods: initialize, ping, tools, resources. Transport-free: the HTTP layer
(`gpuproxy.api.agents.mcp`) handles sessions, headers and SSE, and calls `handle` per request."""

from __future__ import annotations

import logging
from typing import Any

from gpuproxy import __version__
from gpuproxy.agents.action import AgentContext
from gpuproxy.agents.actions import ACTIONS, BY_TOOL, run_action
from gpuproxy.agents.errors import UnknownAction
from gpuproxy.agents.mcp.resources import read_resource, resource_list
from gpuproxy.agents.mcp.rpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    RESOURCE_NOT_FOUND,
    RpcError,
)
from gpuproxy.agents.mcp.tools import error_result, success_result, tool_descriptor
from gpuproxy.agents.mcp.versions import negotiate
from gpuproxy.exceptions import ApiError

__all__ = ["SERVER_INFO", "handle", "initialize_result"]

log = logging.getLogger(__name__)

SERVER_INFO = {"name": "aiserve-gpuproxy", "title": "aiserve GPU proxy", "version": __version__}
_INSTRUCTIONS = (
    "Rent GPUs on vast.ai, io.net and a local fleet, watch spending, and run inference "
    "through the gateway. Money is in dollars (strings) and exact integer micro-dollars."
)


def initialize_result(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(negotiated version, the initialize result)."""
    requested = params.get("protocolVersion")
    if not isinstance(requested, str):
        raise RpcError(INVALID_PARAMS, "protocolVersion: required, a revision such as 2025-11-25")
    version = negotiate(requested)
    return version, {
        "protocolVersion": version,
        "capabilities": {
            "tools": {"listChanged": False},
            "resources": {"subscribe": False, "listChanged": False},
        },
        "serverInfo": SERVER_INFO,
        "instructions": _INSTRUCTIONS,
    }


async def _call_tool(ctx: AgentContext, params: dict[str, Any], version: str) -> dict[str, Any]:
    name = params.get("name")
    if not isinstance(name, str):
        raise RpcError(INVALID_PARAMS, "name: the tool name (a string) is required")
    action = BY_TOOL.get(name)
    if action is None:
        raise RpcError(INVALID_PARAMS, f"unknown tool: {name}")
    try:
        return success_result(await run_action(ctx, action, params.get("arguments")), version)
    except ApiError as exc:
        return error_result(exc)
    except Exception as exc:  # a bug: logged, answered as a 500 without internals
        log.exception("MCP tool %s failed", name)
        return error_result(exc)


async def _read(ctx: AgentContext, params: dict[str, Any]) -> dict[str, Any]:
    uri = params.get("uri")
    if not isinstance(uri, str):
        raise RpcError(INVALID_PARAMS, "uri: the resource URI (a string) is required")
    try:
        return await read_resource(ctx, uri)
    except UnknownAction as exc:
        raise RpcError(RESOURCE_NOT_FOUND, exc.message, {"uri": uri}) from None
    except ApiError as exc:
        data = {"status": exc.http_status, "code": exc.code}
        raise RpcError(INTERNAL_ERROR, exc.message, data) from None


async def handle(
    ctx: AgentContext, method: str, params: dict[str, Any], version: str
) -> dict[str, Any]:
    """The result of one request of an initialized session; RpcError for a JSON-RPC error."""
    if method == "ping":
        return {}
    if method == "tools/list":
        allowed = [a for a in ACTIONS if ctx.principal.has_scope(a.scope)]
        return {"tools": [tool_descriptor(a, version) for a in allowed]}
    if method == "tools/call":
        return await _call_tool(ctx, params, version)
    if method == "resources/list":
        return {"resources": resource_list(ctx)}
    if method == "resources/templates/list":
        return {"resourceTemplates": []}
    if method == "resources/read":
        return await _read(ctx, params)
    raise RpcError(METHOD_NOT_FOUND, f"method not found: {method}")
