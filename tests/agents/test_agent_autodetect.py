"""`/api/v1/agent` detects the protocol from the body (or X-Agent-Protocol) and answers as
that protocol's own endpoint; a body that fits none is a 400 listing what was tried."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.gateway.support import GatewayServer

pytestmark = pytest.mark.timeout(60)

AGENT = "/api/v1/agent"


async def test_each_protocol_is_detected_and_answered(gateway: GatewayServer) -> None:
    alice = await gateway.user()
    async with httpx.AsyncClient(base_url=gateway.url, headers=alice.headers, timeout=10) as http:
        init = await http.post(
            AGENT,
            json={"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                             "clientInfo": {"name": "t", "version": "0"}}},
        )  # fmt: skip
        assert init.json()["result"]["protocolVersion"] == "2025-06-18"
        session = init.headers["mcp-session-id"]
        tools = await http.post(
            AGENT,
            json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            headers={"Mcp-Session-Id": session},
        )
        assert "list_gpu_instances" in {t["name"] for t in tools.json()["result"]["tools"]}

        a2a = await http.post(
            AGENT,
            json={"jsonrpc": "2.0", "id": 3, "method": "SendMessage",
                  "params": {"message": {"messageId": "m", "role": "ROLE_USER",
                                         "parts": [{"data": {"skill": "list_my_instances"}}]}}},
        )  # fmt: skip
        assert a2a.json()["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
        seed = await http.post(AGENT, json={"action": "list_my_instances", "from_agent": "x"})
        assert seed.json()["status"] == "success"
        chain = await http.post(AGENT, json={"input": {"tool": "get_spending_info"}})
        assert chain.json()["tool"] == "get_spending_info"
        fipa = await http.post(
            AGENT, json={"performative": "request", "content": {"tool": "list_my_instances"}}
        )
        assert fipa.json()["performative"] == "inform"
        kqml = await http.post(
            AGENT, json={"performative": "ask-one", "content": "(get_spending_info)"}
        )
        assert kqml.json()["performative"] == "tell"
        forced = await http.post(
            AGENT,
            json={"input": {"tool": "get_spending_info"}},
            headers={"X-Agent-Protocol": "LangChain"},
        )
        assert forced.status_code == 200


@pytest.mark.parametrize(
    ("body", "headers", "param"),
    [
        ({"hello": "world"}, {}, "body"),
        ({"jsonrpc": "2.0", "id": 1, "method": "inform"}, {}, "method"),
        ({"input": {"tool": "x"}}, {"X-Agent-Protocol": "cuic"}, "X-Agent-Protocol"),
    ],
)
async def test_unknown_messages_are_400_listing_what_was_tried(
    gateway: GatewayServer, body: dict[str, Any], headers: dict[str, str], param: str
) -> None:
    alice = await gateway.user()
    async with httpx.AsyncClient(base_url=gateway.url, headers=alice.headers, timeout=10) as http:
        answer = await http.post(AGENT, json=body, headers=headers)
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert error["param"] == param
        if param != "X-Agent-Protocol":
            assert "tried: MCP" in error["message"]
        assert (await http.post(AGENT, content=b"[1]")).status_code == 400
