"""A2A messages and tasks as JSON (the v1.0 ProtoJSON forms), and reading the skill and
arguments an incoming message asks for.

A message names its skill in a data part `{"skill": "list_gpu_instances", "arguments":
{...}}` (also `tool`/`tool_input`, or `metadata.skill` with the data part as arguments),
or in a text part holding that JSON. Parts in the 0.3 form (`kind: "text"|"data"`) read
the same.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from gpuproxy.agents.errors import ActionInvalid
from gpuproxy.clock import utc_timestamp

__all__ = [
    "TERMINAL",
    "agent_message",
    "new_task",
    "requested_skill",
    "status",
]

TERMINAL = frozenset(
    {"TASK_STATE_COMPLETED", "TASK_STATE_FAILED", "TASK_STATE_CANCELED", "TASK_STATE_REJECTED"}
)


def agent_message(text: str, task: dict[str, Any]) -> dict[str, Any]:
    return {
        "messageId": uuid.uuid4().hex,
        "contextId": task["contextId"],
        "taskId": task["id"],
        "role": "ROLE_AGENT",
        "parts": [{"text": text}],
    }


def status(state: str, message: dict[str, Any] | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {"state": state, "timestamp": utc_timestamp()}
    if message is not None:
        value["message"] = message
    return value


def new_task(message: dict[str, Any], skill: str) -> dict[str, Any]:
    context = message.get("contextId")
    task: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "contextId": context if isinstance(context, str) and context else uuid.uuid4().hex,
        "status": status("TASK_STATE_SUBMITTED"),
        "history": [message],
        "metadata": {"skill": skill},
    }
    return task


def _from_object(data: dict[str, Any]) -> tuple[str, Any] | None:
    skill = data.get("skill", data.get("tool"))
    if isinstance(skill, str):
        return skill, data.get("arguments", data.get("tool_input"))
    return None


def requested_skill(message: Any) -> tuple[str, Any]:
    """(skill, arguments) of a user message; ActionInvalid naming the field otherwise."""
    if not isinstance(message, dict):
        raise ActionInvalid("message", "is required: {role, parts, messageId}")
    parts = message.get("parts")
    if not isinstance(parts, list) or not parts:
        raise ActionInvalid("message.parts", "needs at least one part")
    metadata = message.get("metadata")
    named = metadata.get("skill") if isinstance(metadata, dict) else None
    for part in parts:
        if not isinstance(part, dict):
            raise ActionInvalid("message.parts", "each part must be an object")
        data = part.get("data")
        if isinstance(data, dict):
            if isinstance(named, str):
                return named, data
            found = _from_object(data)
            if found:
                return found
        text = part.get("text")
        if isinstance(text, str):
            try:
                decoded = msgspec.json.decode(text)
            except msgspec.DecodeError:
                decoded = None
            if isinstance(decoded, dict) and (found := _from_object(decoded)):
                return found
            if isinstance(named, str):
                return named, {}
    raise ActionInvalid(
        "message.parts", 'name a skill: a data part {"skill": ..., "arguments": {...}}'
    )
