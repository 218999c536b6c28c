"""MCP resources: the caller's instances and spending, read through the same actions."""

from __future__ import annotations

from typing import Any

import msgspec

from gpuproxy.agents.action import AgentContext
from gpuproxy.agents.actions import BY_NAME, run_action
from gpuproxy.agents.errors import UnknownAction

__all__ = ["RESOURCES", "read_resource", "resource_list"]

#: uri -> (name, description, action)
RESOURCES: dict[str, tuple[str, str, str]] = {
    "gpuproxy://instances": (
        "instances",
        "The caller's rented GPU instances",
        "my_instances",
    ),
    "gpuproxy://spending": (
        "spending",
        "The caller's spending over the guard-rail windows and credit balance",
        "spending_info",
    ),
}


def resource_list(ctx: AgentContext) -> list[dict[str, Any]]:
    """The resources the caller's scopes can read."""
    return [
        {"uri": uri, "name": name, "description": text, "mimeType": "application/json"}
        for uri, (name, text, action) in RESOURCES.items()
        if ctx.principal.has_scope(BY_NAME[action].scope)
    ]


async def read_resource(ctx: AgentContext, uri: str) -> dict[str, Any]:
    entry = RESOURCES.get(uri)
    if entry is None:
        raise UnknownAction(f"unknown resource {uri!r}")
    data = await run_action(ctx, BY_NAME[entry[2]], {})
    text = msgspec.json.encode(data).decode()
    return {"contents": [{"uri": uri, "mimeType": "application/json", "text": text}]}
