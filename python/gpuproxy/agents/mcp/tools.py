"""MCP tool descriptors and results, built from the agent actions.

A tool's failure is a result with `isError: true` (the model can read it and correct
itself, as the specification asks for input errors too), carrying the same status, code
and message as the REST error; only an unknown tool is a JSON-RPC error.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gpuproxy.agents.action import Action
from gpuproxy.agents.mcp.versions import has_structured_output
from gpuproxy.api.errors import error_parts

__all__ = ["error_result", "success_result", "tool_descriptor"]

_encode = msgspec.json.Encoder().encode


def tool_descriptor(action: Action, version: str) -> dict[str, Any]:
    tool: dict[str, Any] = {
        "name": action.tool,
        "description": action.description,
        "inputSchema": dict(action.input_schema),
        "annotations": {
            "title": action.title,
            "readOnlyHint": not action.mutates,
            "destructiveHint": action.destructive,
            "idempotentHint": not action.mutates,
            "openWorldHint": True,
        },
    }
    if has_structured_output(version):
        tool["title"] = action.title
        tool["outputSchema"] = dict(action.output_schema)
    return tool


def success_result(result: dict[str, Any], version: str) -> dict[str, Any]:
    """Structured content plus its JSON as text (for clients that read only `content`)."""
    answer: dict[str, Any] = {
        "content": [{"type": "text", "text": _encode(result).decode()}],
        "isError": False,
    }
    if has_structured_output(version):
        answer["structuredContent"] = result
    return answer


def error_result(exc: BaseException) -> dict[str, Any]:
    """The REST error of `exc` as an `isError` result (a 500 stays internal: no details)."""
    status, body, _headers = error_parts(exc)
    error = dict(body.get("error", {}))
    error["status"] = status
    text = f"error {status}: {error.get('message', 'internal server error')}"
    return {"content": [{"type": "text", "text": text}], "isError": True, "_meta": {"error": error}}
