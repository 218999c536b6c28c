"""Inference through MCP goes through the Rust data plane with the caller's credential: a
streamed chat through `proxy_inference_request` arrives as progress over SSE and is metered
and billed like a direct /v1/chat/completions call."""

from __future__ import annotations

import pytest
from tests.gateway.support import GatewayServer

from .support import mcp_session, structured

pytestmark = pytest.mark.timeout(90)

CHAT = {"model": "m1", "messages": [{"role": "user", "content": "tell me about gpus"}]}


async def test_streamed_and_whole_chats_are_metered_for_the_caller(gateway: GatewayServer) -> None:
    owner = await gateway.user()
    await gateway.spawn_worker(owner, "--model", "m1")
    await gateway.share_and_price(owner)  # bob's tokens cost money
    bob = await gateway.user()
    pieces: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        pieces.append(message or "")

    async with mcp_session(f"{gateway.url}/api/v1/mcp", {"X-API-Key": bob.key}) as session:
        models = structured(await session.call_tool("list_models", {}))
        assert "m1" in models["models"]
        streamed = structured(
            await session.call_tool(
                "proxy_inference_request",
                {"body": {**CHAT, "max_tokens": 12}, "stream": True},
                progress_callback=on_progress,
            )
        )
        assert streamed["streamed"] is True
        assert streamed["endpoint"] == "/v1/chat/completions"
        assert streamed["content"]
        assert streamed["content"] == "".join(pieces)
        assert len(pieces) > 1  # several SSE progress events before the result
        assert streamed["usage"]["completion_tokens"] > 0
        whole = structured(await session.call_tool("chat_completion", {**CHAT, "max_tokens": 5}))
        assert whole["streamed"] is False
        assert whole["content"]
        assert whole["usage"]["completion_tokens"] <= 5

    await gateway.settle()
    rows = await gateway.services.db.fetch(
        "SELECT stream, status, cost_micros, api_key_id FROM gateway_usage WHERE user_id = $1 "
        "ORDER BY created_at",
        bob.id,
    )
    assert [(r["stream"], r["status"]) for r in rows] == [(1, 200), (0, 200)]
    assert all(r["cost_micros"] > 0 and r["api_key_id"] == bob.key_id for r in rows)
    async with mcp_session(f"{gateway.url}/api/v1/mcp", bob.headers) as session:
        spending = structured(await session.call_tool("get_spending_info", {}))
    assert spending["total_spent_24h_micros"] == sum(r["cost_micros"] for r in rows)


async def test_inference_errors_keep_the_data_planes_status(gateway: GatewayServer) -> None:
    alice = await gateway.user()
    async with mcp_session(f"{gateway.url}/api/v1/mcp", alice.headers) as session:
        result = await session.call_tool(
            "proxy_inference_request", {"body": {**CHAT, "model": "no-such-model"}}
        )
        assert result.isError
        assert "error 404" in result.content[0].text  # type: ignore[union-attr]
        bad = await session.call_tool(
            "proxy_inference_request", {"endpoint": "/v1/images", "body": CHAT}
        )
        assert bad.isError
        assert "endpoint" in bad.content[0].text
