"""ACP agent manifest, run records and events as JSON (the `acp-sdk` 1.0 models), and
reading the action an input message asks for.

The agent is `gpuproxy`. A run's input names its action in a message part whose content
is JSON: `{"action": "list_gpu_instances", "parameters": {...}}` (also `tool`/`tool_input`,
`skill`/`arguments`, or the seed's `command`/`parameters`), with content type
`application/json` or `text/plain`; a plain text part that is only a tool name runs that
tool with no arguments.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from gpuproxy import __version__
from gpuproxy.agents.actions import ACTIONS, BY_TOOL
from gpuproxy.agents.errors import ActionInvalid
from gpuproxy.clock import utc_timestamp

__all__ = [
    "AGENT_NAME",
    "TERMINAL",
    "acp_error",
    "agent_manifest",
    "agent_message",
    "event",
    "new_run",
    "requested_action",
]

AGENT_NAME = "gpuproxy"
TERMINAL = frozenset({"completed", "failed", "cancelled"})
_encode = msgspec.json.Encoder().encode


def agent_manifest() -> dict[str, Any]:
    return {
        "name": AGENT_NAME,
        "description": "Rent GPUs (vast.ai, io.net, a local fleet), watch spending and run "
        'inference. Send a message part {"action": <tool>, "parameters": {...}}.',
        "metadata": {
            "documentation": "One run runs one action; the tools are listed under "
            "capabilities (and with their input schemas at /agent/discover).",
            "framework": "aiserve-gpuproxy " + __version__,
            "natural_languages": ["en"],
            "capabilities": [{"name": a.tool, "description": a.description} for a in ACTIONS],
            "tags": sorted({a.scope for a in ACTIONS}),
        },
        "input_content_types": ["application/json", "text/plain"],
        "output_content_types": ["application/json"],
    }


def new_run(session_id: str | None) -> dict[str, Any]:
    return {
        "run_id": str(uuid.uuid4()),
        "agent_name": AGENT_NAME,
        "session_id": session_id,
        "status": "created",
        "await_request": None,
        "output": [],
        "error": None,
        "created_at": utc_timestamp(),
        "finished_at": None,
    }


def agent_message(result: dict[str, Any]) -> dict[str, Any]:
    now = utc_timestamp()
    part = {
        "content_type": "application/json",
        "content": _encode(result).decode(),
        "content_encoding": "plain",
    }
    return {"role": f"agent/{AGENT_NAME}", "parts": [part], "created_at": now, "completed_at": now}


def event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, **fields}


def acp_error(status: int, error: dict[str, Any]) -> dict[str, Any]:
    """ACP's `{code, message, data}` for a REST error: not_found, invalid_input, or
    server_error per the SDK's status mapping, else the REST code; `data` keeps the rest."""
    code = {400: "invalid_input", 404: "not_found", 422: "invalid_input"}.get(status)
    if code is None:
        code = "server_error" if status >= 500 else str(error.get("code") or "error")
    return {
        "code": code,
        "message": str(error.get("message", "")),
        "data": {**error, "status": status},
    }


def _from_object(data: dict[str, Any]) -> tuple[str, Any] | None:
    for name_key, args_key in (
        ("action", "parameters"),
        ("tool", "tool_input"),
        ("skill", "arguments"),
        ("command", "parameters"),
    ):
        name = data.get(name_key)
        if isinstance(name, str):
            return name, data.get(args_key)
    return None


def _from_part(part: Any) -> tuple[str, Any] | None:
    if not isinstance(part, dict):
        raise ActionInvalid("input.parts", "each part must be an object")
    content = part.get("content")
    if not isinstance(content, str) or part.get("content_encoding", "plain") != "plain":
        return None
    try:
        decoded = msgspec.json.decode(content)
    except msgspec.DecodeError:
        decoded = None
    if isinstance(decoded, dict):
        return _from_object(decoded)
    if content.strip() in BY_TOOL:
        return content.strip(), {}
    return None


def requested_action(messages: list[Any]) -> tuple[str, Any]:
    """(action, parameters) from the newest message that names one; ActionInvalid otherwise."""
    for message in reversed(messages):
        if not isinstance(message, dict) or not isinstance(message.get("parts"), list):
            raise ActionInvalid("input", "each message needs a list of parts")
        for part in message["parts"]:
            if found := _from_part(part):
                return found
    raise ActionInvalid(
        "input", 'name an action: a message part {"action": <tool>, "parameters": {...}}'
    )
