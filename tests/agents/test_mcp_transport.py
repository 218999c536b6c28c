"""The Streamable HTTP transport at the HTTP level: version negotiation, sessions, the
protocol-version header, Origin, content types, batches, and malformed input (never 500)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.gateway.support import GatewayServer, User

pytestmark = pytest.mark.timeout(60)

MCP = "/api/v1/mcp"
ACCEPT = {"Accept": "application/json, text/event-stream"}


def _init(version: str, request_id: int = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "raw-test", "version": "0"},
        },
    }


def _call(method: str, params: dict[str, Any] | None = None, request_id: int = 2) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}


async def _open(client: httpx.AsyncClient, user: User, version: str) -> tuple[str, dict[str, Any]]:
    response = await client.post(MCP, json=_init(version), headers={**user.headers, **ACCEPT})
    assert response.status_code == 200, response.text
    return response.headers["mcp-session-id"], response.json()["result"]


def _headers(user: User, session: str, version: str | None = None) -> dict[str, str]:
    headers = {**user.headers, **ACCEPT, "Mcp-Session-Id": session}
    if version is not None:
        headers["MCP-Protocol-Version"] = version
    return headers


async def test_version_negotiation_and_what_each_revision_gets(gateway: GatewayServer) -> None:
    alice = await gateway.user()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        for asked, answered in [
            ("2025-11-25", "2025-11-25"),
            ("2025-06-18", "2025-06-18"),
            ("2025-03-26", "2025-03-26"),
            ("1999-01-01", "2025-11-25"),  # unknown: the server offers its newest
        ]:
            session, result = await _open(client, alice, asked)
            assert result["protocolVersion"] == answered
            assert result["capabilities"]["tools"] == {"listChanged": False}
            assert result["serverInfo"]["name"] == "aiserve-gpuproxy"
            listed = await client.post(
                MCP, json=_call("tools/list"), headers=_headers(alice, session, answered)
            )
            tools = listed.json()["result"]["tools"]
            called = await client.post(
                MCP,
                json=_call("tools/call", {"name": "get_spending_info", "arguments": {}}),
                headers=_headers(alice, session, answered),
            )
            result = called.json()["result"]
            assert result["isError"] is False
            structured = answered != "2025-03-26"  # outputSchema arrived in 2025-06-18
            assert all(("outputSchema" in t) == structured for t in tools)
            assert ("structuredContent" in result) == structured


async def test_sessions_headers_and_origin(gateway: GatewayServer) -> None:
    alice, bob = await gateway.user(), await gateway.user()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        session, _ = await _open(client, alice, "2025-11-25")
        ping = _call("ping")

        async def post(headers: dict[str, str], body: Any = ping) -> httpx.Response:
            return await client.post(MCP, json=body, headers=headers)

        assert (await post(_headers(alice, session))).json()["result"] == {}
        assert (await post({**ACCEPT})).status_code == 401
        assert (await post({**alice.headers, **ACCEPT})).status_code == 400  # no session id
        assert (await post(_headers(alice, "not-a-session"))).status_code == 404
        assert (await post(_headers(bob, session))).status_code == 404  # not bob's session
        wrong = await post(_headers(alice, session, "2024-01-01"))
        assert wrong.status_code == 400
        assert "MCP-Protocol-Version" in wrong.text
        other = await post(_headers(alice, session, "2025-06-18"))
        assert other.status_code == 400  # not the session's revision
        evil = await post({**_headers(alice, session), "Origin": "https://evil.example"})
        assert evil.status_code == 403
        assert "Origin" in evil.json()["error"]["message"]
        local = await post({**_headers(alice, session), "Origin": "http://localhost:6274"})
        assert local.status_code == 200
        text = await client.post(
            MCP, content=b"{}", headers={**_headers(alice, session), "Content-Type": "text/plain"}
        )
        assert text.status_code == 415
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        accepted = await post(_headers(alice, session), note)
        assert accepted.status_code == 202
        assert accepted.content == b""
        unknown = await post(_headers(alice, session), _call("prompts/get"))
        assert unknown.json()["error"]["code"] == -32601
        assert (await client.get(MCP, headers=_headers(alice, session))).status_code == 405

        gone = await client.delete(MCP, headers=_headers(alice, session))
        assert gone.status_code == 204
        assert (await post(_headers(alice, session))).status_code == 404


async def test_batches_only_on_2025_03_26(gateway: GatewayServer) -> None:
    alice = await gateway.user()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        old, _ = await _open(client, alice, "2025-03-26")
        batch = [_call("ping", request_id=1), _call("tools/list", request_id=2), "junk"]
        answered = await client.post(MCP, json=batch, headers=_headers(alice, old))
        assert answered.status_code == 200
        replies = answered.json()
        assert [r.get("id") for r in replies] == [1, 2, None]
        assert replies[2]["error"]["code"] == -32600
        new, _ = await _open(client, alice, "2025-11-25")
        refused = await client.post(MCP, json=batch, headers=_headers(alice, new))
        assert refused.status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"null",
        b"[]",
        b"42",
        b'"x"',
        b'{"jsonrpc": "1.0", "id": 1, "method": "ping"}',
        b'{"jsonrpc": "2.0", "id": true, "method": "ping"}',
        b'{"jsonrpc": "2.0", "id": 1, "method": 7}',
        b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": []}',
        b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": 3}}',
        b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_spend'
        b'ing_info", "arguments": [1]}}',
        b'{"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": "x://y"}}',
        b'{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 5}}',
        b'{"jsonrpc": "2.0", "method": "initialize"}',
    ],
)
async def test_malformed_messages_are_client_errors(gateway: GatewayServer, body: bytes) -> None:
    alice = await gateway.user()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        session, _ = await _open(client, alice, "2025-11-25")
        headers = {**_headers(alice, session), "Content-Type": "application/json"}
        response = await client.post(MCP, content=body, headers=headers)
        assert response.status_code < 500, response.text
        if response.status_code == 200:
            answer = response.json()
            assert "error" in answer or answer["result"].get("isError") is True, answer
