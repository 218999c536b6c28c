"""The MCP tools through the official `mcp` SDK client against a real gateway: discovery,
GPU rent/show/destroy with tenant isolation, billing, errors as `isError` results, and
scopes."""

from __future__ import annotations

import uuid

import pytest
from mcp.shared.exceptions import McpError
from mcp.types import LATEST_PROTOCOL_VERSION
from tests.gateway.support import GatewayServer

from gpuproxy.accounts.principal import Principal

from .support import mcp_session, structured

pytestmark = pytest.mark.timeout(90)

SEED_TOOLS = {
    "list_gpu_instances",
    "create_gpu_instance",
    "destroy_gpu_instance",
    "get_spending_info",
    "check_spending_limit",
    "get_billing_transactions",
    "proxy_inference_request",
}


async def test_initialize_and_list_tools_with_schemas(gateway: GatewayServer) -> None:
    alice = await gateway.user()
    async with mcp_session(f"{gateway.url}/api/v1/mcp", {"X-API-Key": alice.key}) as session:
        listed = await session.list_tools()
        names = {t.name for t in listed.tools}
        assert SEED_TOOLS | {"reserve_gpus", "list_models", "chat_completion"} <= names
        for tool in listed.tools:
            assert tool.inputSchema["type"] == "object"
            assert tool.outputSchema is not None
            assert tool.outputSchema["type"] == "object"
            assert tool.description
        resources = await session.list_resources()
        assert {str(r.uri) for r in resources.resources} == {
            "gpuproxy://instances",
            "gpuproxy://spending",
        }
    # The SDK asked for its newest revision, which this server speaks.
    assert LATEST_PROTOCOL_VERSION == "2025-11-25"


async def test_rent_show_destroy_and_other_users_see_nothing(gateway: GatewayServer) -> None:
    alice, bob = await gateway.user(), await gateway.user()
    url = f"{gateway.url}/mcp"  # the short path serves the same endpoint
    async with mcp_session(url, alice.headers) as session:
        offers = structured(await session.call_tool("list_gpu_instances", {"provider": "local"}))
        assert offers["total_count"] > 0
        offer = next(o for o in offers["instances"] if o["rentable"])
        rented = structured(
            await session.call_tool(
                "create_gpu_instance", {"provider": "local", "offer_id": offer["id"]}
            )
        )
        assert rented["status"] == "running"
        ref = {"provider": "local", "instance_id": rented["id"]}
        shown = structured(await session.call_tool("get_gpu_instance", ref))
        assert shown["owner_id"] == alice.id
        mine = structured(await session.call_tool("list_my_instances", {}))
        assert [i["id"] for i in mine["instances"]] == [rented["id"]]
        read = await session.read_resource("gpuproxy://instances")  # type: ignore[arg-type]
        assert rented["id"] in read.contents[0].text  # type: ignore[union-attr]

        async with mcp_session(url, {"X-API-Key": bob.key}) as other:
            for tool in ("get_gpu_instance", "destroy_gpu_instance"):
                hidden = await other.call_tool(tool, ref)
                assert hidden.isError
                assert "404" in hidden.content[0].text  # type: ignore[union-attr]
            assert structured(await other.call_tool("list_my_instances", {}))["instances"] == []

        destroyed = structured(await session.call_tool("destroy_gpu_instance", ref))
        assert destroyed["status"] == "destroyed"
    providers = gateway.services.providers
    assert providers is not None
    assert await providers.providers["local"].list_instances() == []


async def test_billing_tools(gateway: GatewayServer) -> None:
    alice = await gateway.user()
    async with mcp_session(f"{gateway.url}/api/v1/mcp", alice.headers) as session:
        spending = structured(await session.call_tool("get_spending_info", {}))
        assert spending["total_spent_24h_micros"] == 0
        assert {w["window"] for w in spending["windows"]} >= {"5min", "1440min", "72h"}
        assert "credits_remaining" in spending["credits"]
        check = structured(await session.call_tool("check_spending_limit", {"amount": "1.25"}))
        assert check["allowed"] is True
        ledger = structured(await session.call_tool("get_billing_transactions", {"limit": 5}))
        assert ledger["limit"] == 5
        assert isinstance(ledger["transactions"], list)


async def test_tool_errors_are_is_error_results_naming_the_field(gateway: GatewayServer) -> None:
    alice = await gateway.user()
    async with mcp_session(f"{gateway.url}/api/v1/mcp", alice.headers) as session:
        cases = [
            ("check_spending_limit", {"amount": "twelve"}, "amount"),
            ("check_spending_limit", {}, "amount"),
            ("get_billing_transactions", {"limit": 0}, "limit"),
            ("get_billing_transactions", {"limit": True}, "limit"),
            ("list_gpu_instances", {"surprise": 1}, "surprise"),
            ("reserve_gpus", {"count": 17}, "count"),
            ("create_gpu_instance", {"provider": "nowhere", "offer_id": "x"}, "provider"),
            ("chat_completion", {"model": "m1", "messages": []}, "messages"),
        ]
        for tool, arguments, field in cases:
            result = await session.call_tool(tool, arguments)
            text = result.content[0].text  # type: ignore[union-attr]
            assert result.isError, (tool, arguments)
            assert field in text, text
            assert "error 4" in text, text
        with pytest.raises(McpError, match="unknown tool"):
            await session.call_tool("no_such_tool", {})


async def test_a_key_without_a_scope_cannot_use_its_tools(gateway: GatewayServer) -> None:
    accounts = gateway.services.accounts
    assert accounts is not None
    email = f"s-{uuid.uuid4().hex[:8]}@example.com"
    user = await accounts.register(email=email, password="correct horse battery")
    principal = Principal(user_id=user.id, email=email)
    _key, secret = await accounts.create_api_key(principal, name="billing", scopes=["billing"])
    async with mcp_session(f"{gateway.url}/api/v1/mcp", {"X-API-Key": secret}) as session:
        names = {t.name for t in (await session.list_tools()).tools}
        assert names == {"get_spending_info", "check_spending_limit", "get_billing_transactions"}
        refused = await session.call_tool("list_gpu_instances", {})
        assert refused.isError
        assert "'gpu' scope" in refused.content[0].text  # type: ignore[union-attr]
        structured(await session.call_tool("get_spending_info", {}))


async def test_reserve_reports_progress_over_sse_and_all_or_nothing_fails(
    gateway: GatewayServer,
) -> None:
    alice = await gateway.user()
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with mcp_session(f"{gateway.url}/api/v1/mcp", alice.headers) as session:
        arguments = {"count": 2, "provider": "local", "filters": {"gpu_model": "4090"}}
        reserved = structured(
            await session.call_tool("reserve_gpus", arguments, progress_callback=on_progress)
        )
        assert reserved["reserved_count"] == 2
        assert [p for p, _total, _text in seen] == [0, 2]
        assert seen[-1][2] == "reserved 2 of 2 GPU(s)"
        for instance in reserved["reserved_instances"]:
            ref = {"provider": "local", "instance_id": instance["id"]}
            structured(await session.call_tool("destroy_gpu_instance", ref))
        too_many = await session.call_tool(
            "reserve_gpus",
            {"count": 16, "provider": "local", "all_or_nothing": True,
             "filters": {"gpu_model": "H100"}},
        )  # fmt: skip
        assert too_many.isError
        assert "error 409" in too_many.content[0].text  # type: ignore[union-attr]
