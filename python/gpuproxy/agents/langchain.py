"""LangChain's forms of the actions: tool definitions and the seed's execute message.

`GET /api/v1/langchain/tools` lists each tool in the OpenAI function-tool form
(`{"type": "function", "function": {name, description, parameters}}`), which LangChain
accepts as it is (`bind_tools`, `convert_to_openai_tool`) and whose `parameters` is the JSON
Schema a `StructuredTool` takes as `args_schema`. `POST /api/v1/langchain` runs
`{"input": {"action": "execute", "tool": ..., "tool_input": {...}}}`.
"""

from __future__ import annotations

from typing import Any

from gpuproxy.accounts.principal import Principal
from gpuproxy.agents.action import Action
from gpuproxy.agents.actions import ACTIONS, find_action
from gpuproxy.agents.errors import ActionInvalid

__all__ = ["langchain_tool", "langchain_tools", "parse_execute"]


def langchain_tool(action: Action) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": action.tool,
            "description": action.description,
            "parameters": dict(action.input_schema),
        },
    }


def langchain_tools(principal: Principal) -> list[dict[str, Any]]:
    """The tools the caller's scopes allow."""
    return [langchain_tool(a) for a in ACTIONS if principal.has_scope(a.scope)]


def parse_execute(body: dict[str, Any]) -> tuple[Action, Any]:
    """(action, its arguments) of an execute message; 400/404 naming the field."""
    message = body.get("input")
    if not isinstance(message, dict):
        raise ActionInvalid("input", "must be an object {action, tool, tool_input}")
    verb = message.get("action", "execute")
    if verb != "execute":
        raise ActionInvalid("input.action", 'must be "execute"')
    tool = message.get("tool")
    if not isinstance(tool, str) or not tool:
        raise ActionInvalid("input.tool", "must be a tool name from /api/v1/langchain/tools")
    return find_action(tool), message.get("tool_input")
