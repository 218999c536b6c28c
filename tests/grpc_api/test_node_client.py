"""A client nobody here wrote: Node's @grpc/grpc-js loading the shipped .proto (as the seed's
examples do) against the real server. Its packages are pinned in node/package-lock.json
(`npm ci --prefix tests/grpc_api/node`, which .ci/run does)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import grpc
import msgspec
import pytest

from gpuproxy.grpc_api import PROTO_PATH

from .support import GrpcGateway

NODE_DIR = Path(__file__).with_name("node")


def _node() -> str:
    node = shutil.which("node")
    installed = (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir()
    if node is None or not installed:
        reason = "node or tests/grpc_api/node/node_modules missing (npm ci --prefix ...)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return node


async def test_grpc_js_client_with_the_shipped_proto(grpc_gateway: GrpcGateway) -> None:
    node = _node()
    user = await grpc_gateway.http.user()
    process = await asyncio.create_subprocess_exec(
        node, str(NODE_DIR / "client.mjs"), str(PROTO_PATH), grpc_gateway.target,
        user.email, "correct horse battery",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    answer = msgspec.json.decode(stdout.strip().splitlines()[-1])
    assert answer == {
        "health": "healthy",
        "login_email": user.email,
        "windows": 17,
        "anonymous_code": grpc.StatusCode.UNAUTHENTICATED.value[0],
    }
