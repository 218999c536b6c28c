"""ACP runs: each run executes one action (`gpuproxy.agents.actions`) as the caller.

A run goes created -> in-progress -> completed (one agent message whose JSON part is the
action's result), failed (the REST error as ACP's `{code, message, data}`) or cancelled.
Its events are the SDK's: run.created, run.in-progress, message.created, message.part,
message.completed, run.completed | run.failed | run.cancelled; progress reports (GPU
reservation, streamed inference text) are `generic` events in between.

The action runs in its own asyncio task in the process that started it. A cancel served
by that process cancels the task and answers the run `cancelled`; one served by another
worker process or instance leaves a cancel request in the key-value store, which the
running process polls every `CANCEL_POLL_S`, and answers `cancelling`. Rent, destroy and
reserve are never interrupted halfway: a cancel of one answers 409 and the run finishes.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from gpuproxy.agents.acp.messages import (
    TERMINAL,
    acp_error,
    agent_message,
    event,
    new_run,
    requested_action,
)
from gpuproxy.agents.acp.runs import RunStore
from gpuproxy.agents.action import AgentContext
from gpuproxy.agents.actions import find_action, run_action
from gpuproxy.api.errors import error_parts
from gpuproxy.clock import utc_timestamp
from gpuproxy.exceptions import ApiError

__all__ = ["AcpNotFound", "RunNotCancelable", "cancel_run", "find_run", "start_run"]

Emit = Callable[[dict[str, Any]], Awaitable[None]]

#: How long a cancel request waits for the run to stop before answering `cancelling`.
CANCEL_WAIT_S = 5.0
#: How often a running run looks for a cancel request made through another process.
CANCEL_POLL_S = 0.5


class AcpNotFound(ApiError):
    """No such agent, or no run of that id for this caller (404)."""

    http_status = 404
    code = "not_found"


class RunNotCancelable(ApiError):
    """A finished run (ACP answers 403), or one this process cannot stop (409)."""

    code = "run_not_cancelable"

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.http_status = status


async def _no_emit(item: dict[str, Any]) -> None:
    return None


class _Run:
    """One run's record and the events it emits (stored with it, and sent to `emit`)."""

    def __init__(self, store: RunStore, run: dict[str, Any], cancelable: bool, emit: Emit) -> None:
        self.store = store
        self.record: dict[str, Any] = {"run": run, "events": [], "cancelable": cancelable}
        self.emit = emit

    @property
    def run(self) -> dict[str, Any]:
        run: dict[str, Any] = self.record["run"]
        return run

    async def send(self, kind: str, **fields: Any) -> None:
        item = event(kind, **copy.deepcopy(fields))
        self.record["events"].append(item)
        await self.emit(item)

    async def status(self, status: str) -> None:
        """Record the new status (stored with its event), then emit the event."""
        self.run["status"] = status
        if status in TERMINAL:
            self.run["finished_at"] = utc_timestamp()
        item = event("run." + status, run=copy.deepcopy(self.run))
        self.record["events"].append(item)
        await self.store.save(self.record)
        await self.emit(item)


class _Running(NamedTuple):
    task: asyncio.Task[dict[str, Any]]
    state: _Run
    #: Polls for a cancel request made through another process (cancelable runs only).
    watcher: asyncio.Task[None] | None


#: The runs this process is running, by run id.
_RUNNING: dict[str, _Running] = {}


async def _execute(ctx: AgentContext, state: _Run, messages: list[Any]) -> dict[str, Any]:
    try:
        await state.status("in-progress")
        name, parameters = requested_action(messages)
        result = await run_action(ctx, find_action(name), parameters)
    except asyncio.CancelledError:
        await asyncio.shield(state.status("cancelled"))
        return state.run
    except Exception as exc:  # an ApiError is the caller's to read; anything else is a 500
        code, body, _headers = error_parts(exc)
        state.run["error"] = acp_error(code, body["error"])
        await state.status("failed")
        return state.run
    message = agent_message(result)
    state.run["output"] = [message]
    await state.send("message.created", message=message)
    for part in message["parts"]:
        await state.send("message.part", part=part)
    await state.send("message.completed", message=message)
    await state.status("completed")
    return state.run


async def start_run(
    ctx: AgentContext,
    store: RunStore,
    messages: list[Any],
    session_id: str | None,
    emit: Emit = _no_emit,
) -> tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]:
    """Store a new run (created) and start it; (the run as created, its outcome to await).

    Awaiting the outcome of a run that must not be interrupted (rent, destroy, reserve) is
    shielded: a caller that goes away (a closed stream, a dropped sync request) leaves it
    running to its end, as a cancel request would."""
    try:
        name, _ = requested_action(messages)
        cancelable = not find_action(name).mutates
    except ApiError:  # the run fails at once
        cancelable = True
    state = _Run(store, new_run(session_id), cancelable, emit)
    await state.status("created")
    created = copy.deepcopy(state.run)

    async def progress(done: float, total: float | None, message: str) -> None:
        await state.send("generic", generic={"progress": done, "total": total, "message": message})

    run_ctx = AgentContext(ctx.services, ctx.principal, ctx.credential, progress)
    task = asyncio.create_task(_execute(run_ctx, state, messages), name="acp-run")
    run_id = created["run_id"]
    watcher = None
    if cancelable:
        watcher = asyncio.create_task(_watch_cancel(store, run_id, task), name="acp-cancel")
    _RUNNING[run_id] = _Running(task, state, watcher)
    task.add_done_callback(lambda _: _RUNNING.pop(run_id, None))
    return created, (task if cancelable else asyncio.shield(task))


async def _watch_cancel(store: RunStore, run_id: str, task: asyncio.Task[Any]) -> None:
    while not task.done():
        await asyncio.wait({task}, timeout=CANCEL_POLL_S)
        if not task.done() and await store.cancel_requested(run_id):
            task.cancel()
            return


async def find_run(store: RunStore, run_id: str) -> dict[str, Any]:
    record = await store.get(run_id)
    if record is None:
        raise AcpNotFound(f"run {run_id[:100]} not found")
    return record


async def cancel_run(store: RunStore, run_id: str) -> dict[str, Any]:
    """Stop the run; the run once stopped (`cancelled`), or `cancelling` if it takes long."""
    record = await find_run(store, run_id)
    run: dict[str, Any] = record["run"]
    if run["status"] in TERMINAL:
        raise RunNotCancelable(f"run {run_id} is {run['status']} and can't be cancelled", 403)
    if not record.get("cancelable", True):
        raise RunNotCancelable(
            f"run {run_id} rents, destroys or reserves GPUs and is not interrupted halfway", 409
        )
    running = _RUNNING.get(run_id)
    if running is None:  # another process runs it, and polls for this request
        await store.request_cancel(run_id)
        return {**run, "status": "cancelling"}
    running.task.cancel()
    await asyncio.wait({running.task}, timeout=CANCEL_WAIT_S)
    if running.task.cancelled():  # cancelled before it started: nothing recorded it
        await running.state.status("cancelled")
    if running.state.run["status"] in TERMINAL:
        return copy.deepcopy(running.state.run)
    return {**run, "status": "cancelling"}
