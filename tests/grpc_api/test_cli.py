"""`aiserve-gpuproxy-client --grpc HOST:PORT`: the commands that have an RPC, over gRPC."""

from __future__ import annotations

import asyncio
import json

import pytest

from gpuproxy.cli.client import main

from .support import GrpcGateway


@pytest.fixture
def grpc_env() -> dict[str, str]:
    return {"GPU_POLL_INTERVAL_SECONDS": "3600"}


async def test_client_commands_over_grpc(
    grpc_gateway: GrpcGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    user = await grpc_gateway.http.user()
    target = grpc_gateway.target

    def run(*argv: str) -> int:
        # A blocking client in a thread: the server runs on this test's event loop.
        return main([*argv, "--grpc", target, "-key", user.key, "--timeout", "20"])

    assert await asyncio.to_thread(run, "list", "local", "--gpu-model", "4090") == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["total_count"] == len(listing["instances"]) > 0
    assert all("4090" in i["gpu_model"] for i in listing["instances"])

    assert await asyncio.to_thread(run, "load", "provider") == 0
    assert "local" in {p["provider"] for p in json.loads(capsys.readouterr().out)["provider"]}

    assert await asyncio.to_thread(run, "show", "local", "local-000000000000") == 1
    assert "NOT_FOUND" in capsys.readouterr().err
    assert await asyncio.to_thread(run, "mine") == 2
    assert "has no RPC" in capsys.readouterr().err
