"""A2A through the official `a2a-sdk` client against a real gateway: card resolution,
send, streamed send, get, list, cancel, failures as failed tasks, tenant isolation, and
the seed's simple `{action, from_agent, parameters}` form."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from a2a.client import A2ACardResolver, Client, ClientConfig, ClientFactory
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    Task,
    TaskState,
)
from a2a.utils.errors import TaskNotCancelableError, TaskNotFoundError
from google.protobuf import json_format, struct_pb2
from tests.gateway.support import GatewayServer, User

pytestmark = pytest.mark.timeout(60)


def _ask(skill: str, arguments: dict[str, Any]) -> SendMessageRequest:
    part = Part()
    part.data.CopyFrom(
        json_format.ParseDict({"skill": skill, "arguments": arguments}, struct_pb2.Value())
    )
    message = Message(message_id=uuid.uuid4().hex, role=Role.ROLE_USER, parts=[part])
    return SendMessageRequest(message=message)


def _result(task: Task) -> dict[str, Any]:
    assert task.status.state == TaskState.TASK_STATE_COMPLETED, task.status
    data: dict[str, Any] = json_format.MessageToDict(task.artifacts[0].parts[0].data)
    return data


@contextlib.asynccontextmanager
async def a2a_client(
    gateway: GatewayServer, user: User, *, streaming: bool = False
) -> AsyncIterator[Client]:
    async with httpx.AsyncClient(headers={"X-API-Key": user.key}, timeout=30) as http:
        factory = ClientFactory(ClientConfig(httpx_client=http, streaming=streaming))
        client = await factory.create_from_url(gateway.url)  # resolves the card first
        try:
            yield client
        finally:
            await client.close()


async def _send(client: Client, request: SendMessageRequest) -> list[StreamResponse]:
    return [event async for event in client.send_message(request)]


async def test_card_send_get_list_cancel_and_isolation(gateway: GatewayServer) -> None:
    alice, bob = await gateway.user(), await gateway.user()
    async with a2a_client(gateway, alice) as client:
        async with httpx.AsyncClient() as anonymous:  # the card is public
            card = await A2ACardResolver(anonymous, gateway.url).get_agent_card()
        assert card.name == "aiserve-gpuproxy"
        assert card.supported_interfaces[0].url == f"{gateway.url}/api/v1/a2a"
        assert "create_gpu_instance" in {s.id for s in card.skills}
        assert card.security_schemes["apiKey"].api_key_security_scheme.name == "X-API-Key"

        events = await _send(client, _ask("list_gpu_instances", {"provider": "local"}))
        offers = _result(events[-1].task)
        assert offers["total_count"] > 0
        rented = _result(
            (
                await _send(
                    client,
                    _ask(
                        "create_gpu_instance", {"provider": "local", "offer_id": "rtx-4090-24gb-1"}
                    ),
                )
            )[-1].task
        )
        assert rented["status"] == "running"
        failed = (await _send(client, _ask("check_spending_limit", {"amount": "x"})))[-1].task
        assert failed.status.state == TaskState.TASK_STATE_FAILED
        assert "amount" in failed.status.message.parts[0].text

        fetched = await client.get_task(GetTaskRequest(id=events[-1].task.id))
        assert fetched.status.state == TaskState.TASK_STATE_COMPLETED
        listed = await client.list_tasks(ListTasksRequest())
        assert len(listed.tasks) == 3
        with pytest.raises(TaskNotCancelableError):
            await client.cancel_task(CancelTaskRequest(id=fetched.id))

    async with a2a_client(gateway, bob) as other:
        with pytest.raises(TaskNotFoundError):
            await other.get_task(GetTaskRequest(id=fetched.id))
        assert len((await other.list_tasks(ListTasksRequest())).tasks) == 0
        ref = {"provider": "local", "instance_id": rented["id"]}
        hidden = (await _send(other, _ask("destroy_gpu_instance", ref)))[-1].task
        assert hidden.status.state == TaskState.TASK_STATE_FAILED
        assert "error 404" in hidden.status.message.parts[0].text

    async with a2a_client(gateway, alice, streaming=True) as streaming:
        events = await _send(streaming, _ask("destroy_gpu_instance", ref))
        kinds = [e.WhichOneof("payload") for e in events]
        assert kinds == ["task", "status_update", "artifact_update", "status_update"]
        assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
        destroyed = json_format.MessageToDict(events[2].artifact_update.artifact.parts[0].data)
        assert destroyed["status"] == "destroyed"


async def test_seed_form_and_bad_messages(gateway: GatewayServer) -> None:
    alice = await gateway.user()
    async with httpx.AsyncClient(base_url=gateway.url, headers=alice.headers, timeout=10) as http:
        seed = await http.post(
            "/api/v1/a2a",
            json={"action": "get_spending_info", "from_agent": "planner", "parameters": {}},
        )
        assert seed.status_code == 200
        assert seed.json()["to_agent"] == "planner"
        assert seed.json()["result"]["total_spent_24h_micros"] == 0
        bad = await http.post("/api/v1/a2a", json={"action": "", "parameters": {}})
        assert bad.status_code == 400
        assert bad.json()["error"]["param"] == "action"
        no_skill = await http.post(
            "/api/v1/a2a",
            json={"jsonrpc": "2.0", "id": 1, "method": "SendMessage",
                  "params": {"message": {"messageId": "m", "role": "ROLE_USER",
                                         "parts": [{"text": "hello"}]}}},
        )  # fmt: skip
        assert no_skill.json()["error"]["code"] == -32602
        old_name = await http.post(
            "/api/v1/a2a",
            json={"jsonrpc": "2.0", "id": 2, "method": "message/send",
                  "params": {"message": {"messageId": "m", "role": "user", "parts": [
                      {"kind": "data", "data": {"skill": "list_my_instances"}}]}}},
        )  # fmt: skip
        assert old_name.json()["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
        unknown = await http.post(
            "/api/v1/a2a", json={"jsonrpc": "2.0", "id": 3, "method": "tasks/resubscribe"}
        )
        assert unknown.json()["error"]["code"] == -32601
