"""`aiserve-gpuproxy-client mcp` driven by the official SDK's stdio client, as a desktop
MCP client would start it, relaying to a real gateway."""

from __future__ import annotations

import os
import sys

import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from tests.gateway.support import GatewayServer

from .support import structured

pytestmark = pytest.mark.timeout(60)


async def test_the_sdk_stdio_client_uses_the_gateway_through_the_bridge(
    gateway: GatewayServer,
) -> None:
    alice, bob = await gateway.user(), await gateway.user()
    rented = None
    for user, key in ((alice, alice.key), (bob, bob.key)):
        server = StdioServerParameters(
            command=sys.executable,
            args=["-m", "gpuproxy.cli.client", "--url", gateway.url, "-key", key, "mcp"],
            env=dict(os.environ),
        )
        async with (
            stdio_client(server) as (read, write),
            ClientSession(read, write) as session,
        ):
            initialized = await session.initialize()
            assert initialized.protocolVersion == "2025-11-25"
            assert initialized.serverInfo.name == "aiserve-gpuproxy"
            tools = {t.name for t in (await session.list_tools()).tools}
            assert "create_gpu_instance" in tools
            if user is alice:
                rented = structured(
                    await session.call_tool(
                        "create_gpu_instance",
                        {"provider": "local", "offer_id": "rtx-4090-24gb-1"},
                    )
                )
                mine = structured(await session.call_tool("list_my_instances", {}))
                assert [i["id"] for i in mine["instances"]] == [rented["id"]]
                bad = await session.call_tool("check_spending_limit", {"amount": "x"})
                assert bad.isError
            else:
                assert rented is not None
                ref = {"provider": "local", "instance_id": rented["id"]}
                assert (await session.call_tool("destroy_gpu_instance", ref)).isError
                assert (
                    structured(await session.call_tool("list_my_instances", {}))["instances"] == []
                )
