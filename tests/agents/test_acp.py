"""ACP through the `acp-sdk` client against a real gateway: the agent listing and manifest,
sync, async and streamed runs, run status and events, cancel, failures as failed runs,
tenant isolation; and the seed's `{header, payload}` form."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from acp_sdk.client import Client
from acp_sdk.models import ACPError, Message, MessagePart, Run, RunCompletedEvent, RunStatus
from tests.gateway.support import GatewayServer, User

from gpuproxy.agents.acp import server as acp_server

pytestmark = pytest.mark.timeout(90)

AGENT = "gpuproxy"


def _ask(action: str, parameters: dict[str, Any] | None = None) -> Message:
    content = json.dumps({"action": action, "parameters": parameters or {}})
    return Message(parts=[MessagePart(content=content, content_type="application/json")])


def _result(run: Run) -> dict[str, Any]:
    assert run.status == RunStatus.COMPLETED, run.error
    content = run.output[0].parts[0].content
    assert content is not None
    data: dict[str, Any] = json.loads(content)
    return data


@contextlib.asynccontextmanager
async def acp_client(gateway: GatewayServer, user: User) -> AsyncIterator[Client]:
    headers = {"X-API-Key": user.key}
    async with Client(base_url=f"{gateway.url}/api/v1/acp", headers=headers, timeout=30) as client:
        yield client


async def test_agents_runs_events_and_isolation(gateway: GatewayServer) -> None:
    alice, bob = await gateway.user(), await gateway.user()
    async with acp_client(gateway, alice) as client:
        assert [a.name async for a in client.agents()] == [AGENT]
        manifest = await client.agent(name=AGENT)
        assert manifest.metadata.capabilities is not None
        assert "create_gpu_instance" in {c.name for c in manifest.metadata.capabilities}
        with pytest.raises(ACPError) as missing:
            await client.agent(name="nobody")
        assert missing.value.error.code == "not_found"

        local = {"provider": "local"}
        offers = await client.run_sync(_ask("list_gpu_instances", local), agent=AGENT)
        assert _result(offers)["total_count"] > 0
        as_text = await client.run_sync("list_my_instances", agent=AGENT)  # a bare tool name
        assert _result(as_text)["instances"] == []
        rent = {"provider": "local", "offer_id": "rtx-4090-24gb-1"}
        rented = _result(await client.run_sync(_ask("create_gpu_instance", rent), agent=AGENT))
        assert rented["status"] == "running"

        unknown = await client.run_sync(_ask("mine_bitcoin"), agent=AGENT)
        assert unknown.status == RunStatus.FAILED
        assert unknown.error is not None
        assert unknown.error.code == "not_found"
        assert "unknown tool 'mine_bitcoin'" in unknown.error.message
        with pytest.raises(ACPError):
            unknown.raise_for_status()
        bad = await client.run_sync(_ask("check_spending_limit", {"amount": "x"}), agent=AGENT)
        assert bad.status == RunStatus.FAILED
        assert bad.error is not None
        assert bad.error.code == "invalid_input"
        assert "amount" in bad.error.message

        async with client.session() as session:  # the SDK's session mode: no history here
            first = await session.run_sync("list_my_instances", agent=AGENT)
            second = await session.run_sync("get_spending_info", agent=AGENT)
        assert first.session_id is not None
        assert first.session_id == second.session_id
        assert second.status == RunStatus.COMPLETED

        fetched = await client.run_status(run_id=offers.run_id)
        assert fetched.status == RunStatus.COMPLETED
        assert _result(fetched) == _result(offers)
        kinds = [e.type async for e in client.run_events(run_id=offers.run_id)]
        assert kinds == [
            "run.created", "run.in-progress", "message.created", "message.part",
            "message.completed", "run.completed",
        ]  # fmt: skip
        with pytest.raises(ACPError) as finished:
            await client.run_cancel(run_id=offers.run_id)
        assert "can't be cancelled" in finished.value.error.message

    async with acp_client(gateway, bob) as other:
        with pytest.raises(ACPError) as hidden:
            await other.run_status(run_id=offers.run_id)
        assert hidden.value.error.code == "not_found"
        ref = {"provider": "local", "instance_id": rented["id"]}
        theirs = await other.run_sync(_ask("destroy_gpu_instance", ref), agent=AGENT)
        assert theirs.status == RunStatus.FAILED
        assert theirs.error is not None
        assert theirs.error.code == "not_found"

    async with acp_client(gateway, alice) as client:
        stream = client.run_stream(_ask("destroy_gpu_instance", ref), agent=AGENT)
        events = [e async for e in stream]
        assert [e.type for e in events] == [
            "run.created", "run.in-progress", "message.created", "message.part",
            "message.completed", "run.completed",
        ]  # fmt: skip
        last = events[-1]
        assert isinstance(last, RunCompletedEvent)
        assert _result(last.run)["status"] == "destroyed"


async def test_async_run_is_cancelled(gateway: GatewayServer) -> None:
    alice = await gateway.user()
    await gateway.spawn_worker(alice, "--model", "m1", "--first-token-ms", "20000")
    chat = {"model": "m1", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    async with acp_client(gateway, alice) as client:
        started = await client.run_async(_ask("chat_completion", chat), agent=AGENT)
        assert started.status == RunStatus.CREATED
        await asyncio.sleep(0.5)  # the chat is waiting for its first token upstream
        assert (await client.run_status(run_id=started.run_id)).status == RunStatus.IN_PROGRESS
        cancelled = await client.run_cancel(run_id=started.run_id)
        assert cancelled.status == RunStatus.CANCELLED
        assert (await client.run_status(run_id=started.run_id)).status == RunStatus.CANCELLED

        # A run that another worker process runs: the cancel is left in the key-value
        # store, answered `cancelling`, and the running process stops the run.
        elsewhere = await client.run_async(_ask("chat_completion", chat), agent=AGENT)
        await asyncio.sleep(0.3)
        hidden = acp_server._RUNNING.pop(str(elsewhere.run_id))
        cancelling = await client.run_cancel(run_id=elsewhere.run_id)
        assert cancelling.status == RunStatus.CANCELLING
        await asyncio.wait_for(hidden.task, 5)
        assert (await client.run_status(run_id=elsewhere.run_id)).status == RunStatus.CANCELLED
        rent = {"provider": "local", "offer_id": "rtx-4090-24gb-1"}
        renting = await client.run_async(_ask("create_gpu_instance", rent), agent=AGENT)
        with contextlib.suppress(ACPError):  # 409 while it rents; 403 once it has finished
            await client.run_cancel(run_id=renting.run_id)
        for _ in range(100):
            final = await client.run_status(run_id=renting.run_id)
            if final.status.is_terminal:
                break
            await asyncio.sleep(0.05)
        assert _result(final)["status"] == "running"  # a rent is never interrupted halfway


async def test_seed_form_auto_detection_and_errors(gateway: GatewayServer) -> None:
    alice = await gateway.user()
    seed = {
        "header": {"sender": "my-agent", "message_type": "command", "message_id": "m-1"},
        "payload": {"command": "get_spending_info", "parameters": {}},
    }
    async with httpx.AsyncClient(base_url=gateway.url, headers=alice.headers, timeout=10) as http:
        answer = await http.post("/api/v1/acp", json=seed)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["header"] == {
            "sender": "aiserve-gpuproxy",
            "receiver": "my-agent",
            "message_type": "response",
            "in_reply_to": "m-1",
        }
        assert body["payload"]["status"] == "success"
        assert body["payload"]["result"]["total_spent_24h_micros"] == 0
        detected = await http.post("/api/v1/agent", json=seed)
        assert detected.json()["payload"]["command"] == "get_spending_info"
        forced = await http.post("/api/v1/agent", json=seed, headers={"X-Agent-Protocol": "ACP"})
        assert forced.status_code == 200

        content = '{"action":"list_gpu_instances","parameters":{"provider":"local"}}'
        part = {"content_type": "application/json", "content": content}
        # the README's curl example, as raw JSON
        readme = {"agent_name": AGENT, "mode": "sync", "input": [{"role": "user", "parts": [part]}]}
        raw = await http.post("/api/v1/acp/runs", json=readme)
        assert raw.json()["status"] == "completed"
        assert raw.headers["run-id"] == raw.json()["run_id"]
        assert json.loads(raw.json()["output"][0]["parts"][0]["content"])["instances"]
        bad = await http.post("/api/v1/acp", json={"header": {}, "payload": {"parameters": {}}})
        assert bad.status_code == 400
        assert bad.json()["error"]["param"] == "payload.command"
        assert bad.json()["code"] == "invalid_input"  # ACP's error fields next to `error`
        no_agent = await http.post("/api/v1/acp/runs", json={"agent_name": "x", "input": []})
        assert no_agent.status_code == 404
        assert no_agent.json()["code"] == "not_found"
        bad_mode = await http.post(
            "/api/v1/acp/runs", json={"agent_name": AGENT, "input": [], "mode": "later"}
        )
        assert bad_mode.json()["error"]["param"] == "mode"
        not_an_id = await http.get("/api/v1/acp/runs/not-a-uuid")
        assert not_an_id.status_code == 404
    async with httpx.AsyncClient(base_url=gateway.url) as anonymous:
        refused = await anonymous.get("/api/v1/acp/agents")
        assert refused.status_code == 401
        assert refused.json()["message"] == refused.json()["error"]["message"]
