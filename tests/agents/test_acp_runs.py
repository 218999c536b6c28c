"""ACP runs in one process: what a caller that goes away does to a run (no server)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest

from gpuproxy.accounts.principal import Principal
from gpuproxy.agents.acp import server
from gpuproxy.agents.acp.runs import RunStore
from gpuproxy.agents.action import AgentContext
from gpuproxy.storage._kv_memory import MemoryStore


def _ask(tool: str) -> list[dict[str, Any]]:
    content = json.dumps({"action": tool, "parameters": {}})
    return [{"role": "user", "parts": [{"content_type": "application/json", "content": content}]}]


@pytest.mark.parametrize(
    ("tool", "survives"), [("create_gpu_instance", True), ("list_gpu_instances", False)]
)
async def test_a_caller_going_away_interrupts_only_an_interruptible_run(
    monkeypatch: pytest.MonkeyPatch, tool: str, survives: bool
) -> None:
    release = asyncio.Event()

    async def slow_action(ctx: AgentContext, action: Any, parameters: Any) -> dict[str, Any]:
        await release.wait()
        return {"done": True}

    monkeypatch.setattr(server, "run_action", slow_action)
    store = RunStore(MemoryStore(), "u1")
    ctx = AgentContext(None, Principal(user_id="u1", email="u@example.com"), {})  # type: ignore[arg-type]
    created, outcome = await server.start_run(ctx, store, _ask(tool), None)

    async def caller() -> None:
        await outcome

    waiting = asyncio.create_task(caller())
    await asyncio.sleep(0.05)
    waiting.cancel()  # the client closed its stream / dropped its request
    with contextlib.suppress(asyncio.CancelledError):  # an interrupted run answers itself
        await waiting
    release.set()
    for _ in range(100):
        record = await store.get(created["run_id"])
        assert record is not None
        if record["run"]["status"] in ("completed", "cancelled", "failed"):
            break
        await asyncio.sleep(0.01)
    assert record["run"]["status"] == ("completed" if survives else "cancelled")
