"""LangChain (`langchain-core`) loads the tools from /api/v1/langchain/tools as
StructuredTools and calls them through /api/v1/langchain; discovery lists what is served."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from langchain_core.tools import StructuredTool, ToolException
from langchain_core.utils.function_calling import convert_to_openai_tool
from tests.gateway.support import GatewayServer, User

pytestmark = pytest.mark.timeout(60)


def _load_tools(client: httpx.AsyncClient, listed: list[dict[str, Any]]) -> dict[str, Any]:
    """StructuredTools whose coroutine posts the seed's execute message."""

    def make(name: str) -> Any:
        async def run(**tool_input: Any) -> dict[str, Any]:
            answer = await client.post(
                "/api/v1/langchain",
                json={"input": {"action": "execute", "tool": name, "tool_input": tool_input}},
            )
            if answer.status_code != 200:
                raise ToolException(answer.json()["error"]["message"])
            output: dict[str, Any] = answer.json()["output"]
            return output

        return run

    return {
        spec["function"]["name"]: StructuredTool.from_function(
            coroutine=make(spec["function"]["name"]),
            name=spec["function"]["name"],
            description=spec["function"]["description"],
            args_schema=spec["function"]["parameters"],
            handle_tool_error=True,
        )
        for spec in listed
    }


async def _client(gateway: GatewayServer, user: User) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gateway.url, headers={"X-API-Key": user.key}, timeout=30)


async def test_langchain_loads_and_calls_the_tools(gateway: GatewayServer) -> None:
    alice, bob = await gateway.user(), await gateway.user()
    async with await _client(gateway, alice) as client:
        listed = (await client.get("/api/v1/langchain/tools")).json()["tools"]
        tools = _load_tools(client, listed)
        assert {"list_gpu_instances", "create_gpu_instance", "get_spending_info"} <= set(tools)
        # LangChain reads our schema back unchanged (what bind_tools sends to a model).
        spec = next(s for s in listed if s["function"]["name"] == "create_gpu_instance")
        converted = convert_to_openai_tool(tools["create_gpu_instance"])
        assert converted["function"]["parameters"]["required"] == ["provider", "offer_id"]
        assert converted["function"]["name"] == spec["function"]["name"]

        offers = await tools["list_gpu_instances"].ainvoke({"provider": "local"})
        assert offers["total_count"] > 0
        rented = await tools["create_gpu_instance"].ainvoke(
            {"provider": "local", "offer_id": "rtx-4090-24gb-1"}
        )
        assert rented["status"] == "running"
        failed = await tools["check_spending_limit"].ainvoke({"amount": "lots"})
        assert "amount" in failed  # handle_tool_error: the message goes back to the model
    async with await _client(gateway, bob) as other:
        ref = {"provider": "local", "instance_id": rented["id"]}
        hidden = await other.post(
            "/api/v1/langchain", json={"input": {"tool": "get_gpu_instance", "tool_input": ref}}
        )
        assert hidden.status_code == 404
    async with await _client(gateway, alice) as client:
        done = await client.post(
            "/api/v1/langchain",
            json={"input": {"tool": "destroy_gpu_instance", "tool_input": ref}},
        )
        assert done.json()["output"]["status"] == "destroyed"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({}, 400, "input"),
        ({"input": []}, 400, "input"),
        ({"input": {"action": "plan", "tool": "x"}}, 400, "input.action"),
        ({"input": {"tool": 5}}, 400, "input.tool"),
        ({"input": {"tool": "nope"}}, 404, None),
        ({"input": {"tool": "get_spending_info", "tool_input": [1]}}, 400, "arguments"),
        ({"input": {"tool": "get_billing_transactions", "tool_input": {"limit": "x"}}}, 400,
         "limit"),
    ],
)  # fmt: skip
async def test_bad_execute_messages_are_4xx_naming_the_field(
    gateway: GatewayServer, body: dict[str, Any], status: int, param: str | None
) -> None:
    alice = await gateway.user()
    async with await _client(gateway, alice) as client:
        answer = await client.post("/api/v1/langchain", json=body)
        assert answer.status_code == status, answer.text
        assert answer.json()["error"].get("param") == param
        assert (await client.post("/api/v1/langchain", content=b"{")).status_code == 400
    async with httpx.AsyncClient(base_url=gateway.url) as anonymous:
        assert (await anonymous.get("/api/v1/langchain/tools")).status_code == 401


async def test_discovery_lists_protocols_and_skills(gateway: GatewayServer) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        for path in ("/agent/discover", "/api/v1/agents/discover"):
            found = (await client.get(path)).json()
            protocols = {p["name"]: p for p in found["protocols"]}
            assert protocols["mcp"]["versions"] == ["2025-11-25", "2025-06-18", "2025-03-26"]
            assert "/api/v1/mcp" in protocols["mcp"]["endpoints"]
            assert protocols["a2a"]["agent_card"] == "/.well-known/agent-card.json"
            assert protocols["acp"]["endpoints"] == ["/api/v1/acp"]
            assert found["not_available"] == ["cuic"]
            assert protocols["kqml"]["endpoints"] == ["/api/v1/kqml"]
            assert "proxy_inference_request" in {s["name"] for s in found["skills"]}
