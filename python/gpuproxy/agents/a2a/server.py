"""The A2A JSON-RPC methods (v1.0 names; the 0.3 names map to the same handlers).

Every message runs one action as a task: submitted, working, then completed with the
result as a data artifact, or failed with the REST error as the status message. Tasks
finish within the call (no input-required turns), so a task that exists is already
terminal or about to be, and `CancelTask` answers TaskNotCancelable.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from gpuproxy.agents.a2a.messages import (
    TERMINAL,
    agent_message,
    new_task,
    requested_skill,
    status,
)
from gpuproxy.agents.a2a.tasks import TaskStore
from gpuproxy.agents.action import AgentContext
from gpuproxy.agents.actions import find_action, run_action
from gpuproxy.agents.errors import ActionInvalid, UnknownAction
from gpuproxy.agents.mcp.rpc import INVALID_PARAMS, METHOD_NOT_FOUND, RpcError
from gpuproxy.api.errors import error_parts

__all__ = ["METHODS", "STREAMING", "TASK_NOT_CANCELABLE", "TASK_NOT_FOUND", "handle", "run_task"]

TASK_NOT_FOUND = -32001
TASK_NOT_CANCELABLE = -32002

#: method -> handler name; v1.0 first, then the 0.3 names.
METHODS = {
    "SendMessage": "send",
    "SendStreamingMessage": "stream",
    "GetTask": "get",
    "ListTasks": "list",
    "CancelTask": "cancel",
    "message/send": "send",
    "message/stream": "stream",
    "tasks/get": "get",
    "tasks/list": "list",
    "tasks/cancel": "cancel",
}
STREAMING = frozenset(m for m, kind in METHODS.items() if kind == "stream")

Emit = Callable[[dict[str, Any]], Awaitable[None]]


async def _no_emit(event: dict[str, Any]) -> None:
    return None


def _update(task: dict[str, Any]) -> dict[str, Any]:
    return {"statusUpdate": {"taskId": task["id"], "contextId": task["contextId"],
                             "status": task["status"]}}  # fmt: skip


async def run_task(
    ctx: AgentContext, store: TaskStore, params: dict[str, Any], emit: Emit = _no_emit
) -> dict[str, Any]:
    """Run the message's skill as a task; events go to `emit` as they happen."""
    message = params.get("message")
    try:
        skill, arguments = requested_skill(message)
        action = find_action(skill)
    except (ActionInvalid, UnknownAction) as exc:
        raise RpcError(INVALID_PARAMS, exc.message) from None
    assert isinstance(message, dict)  # requested_skill checked it
    task = new_task(message, action.tool)
    message.update(taskId=task["id"], contextId=task["contextId"])
    await store.save(task)
    await emit({"task": copy.deepcopy(task)})  # sent later: as it is now, not as it ends
    task["status"] = status("TASK_STATE_WORKING")
    await emit(_update(task))
    try:
        result = await run_action(ctx, action, arguments)
    except Exception as exc:  # an ApiError is the caller's to read; anything else is a 500
        code, body, _headers = error_parts(exc)
        error = body["error"]
        text = f"error {code}: {error['message']}"
        task["status"] = status("TASK_STATE_FAILED", agent_message(text, task))
        task["metadata"]["error"] = {**error, "status": code}
    else:
        artifact = {
            "artifactId": uuid.uuid4().hex,
            "name": action.tool,
            "parts": [{"data": result, "mediaType": "application/json"}],
        }
        task["artifacts"] = [artifact]
        await emit({"artifactUpdate": {"taskId": task["id"], "contextId": task["contextId"],
                                       "artifact": artifact, "lastChunk": True}})  # fmt: skip
        task["status"] = status("TASK_STATE_COMPLETED")
    await store.save(task)
    await emit(_update(task))
    return task


def _trimmed(task: dict[str, Any], history_length: Any) -> dict[str, Any]:
    if isinstance(history_length, int) and history_length >= 0:
        history = task.get("history", [])
        return {**task, "history": history[-history_length:] if history_length else []}
    return task


async def _found(store: TaskStore, params: dict[str, Any]) -> dict[str, Any]:
    task_id = params.get("id")
    task = await store.get(task_id) if isinstance(task_id, str) else None
    if task is None:
        raise RpcError(TASK_NOT_FOUND, f"task not found: {str(task_id)[:100]}")
    return task


async def _list(store: TaskStore, params: dict[str, Any]) -> dict[str, Any]:
    size = params.get("pageSize", 50)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 100:
        raise RpcError(INVALID_PARAMS, "pageSize: expected 1 to 100")
    token = params.get("pageToken") or "0"
    if not isinstance(token, str) or not token.isdigit():
        raise RpcError(INVALID_PARAMS, "pageToken: not a token this server gave")
    tasks = [t for i in await store.ids() if (t := await store.get(i)) is not None]
    if isinstance(params.get("contextId"), str) and params["contextId"]:
        tasks = [t for t in tasks if t["contextId"] == params["contextId"]]
    if isinstance(params.get("status"), str) and params["status"] != "TASK_STATE_UNSPECIFIED":
        tasks = [t for t in tasks if t["status"]["state"] == params["status"]]
    start = int(token)
    page = [_trimmed(t, params.get("historyLength")) for t in tasks[start : start + size]]
    more = start + size < len(tasks)
    return {
        "tasks": page,
        "nextPageToken": str(start + size) if more else "",
        "pageSize": size,
        "totalSize": len(tasks),
    }


async def handle(ctx: AgentContext, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """The result of one non-streaming request."""
    kind = METHODS.get(method)
    store = TaskStore(ctx.services.kv, ctx.principal.user_id)
    if kind == "send":
        return {"task": await run_task(ctx, store, params)}
    if kind == "get":
        return _trimmed(await _found(store, params), params.get("historyLength"))
    if kind == "list":
        return await _list(store, params)
    if kind == "cancel":
        task = await _found(store, params)
        state = task["status"]["state"]
        detail = "it has finished" if state in TERMINAL else "it runs to completion"
        raise RpcError(TASK_NOT_CANCELABLE, f"task {task['id']} cannot be canceled: {detail}")
    raise RpcError(METHOD_NOT_FOUND, f"method not found: {method}")
