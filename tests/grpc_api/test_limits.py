"""Message size limits: a request message over GATEWAY_MAX_REQUEST_BYTES (+ framing) is
refused by the transport with RESOURCE_EXHAUSTED before any handler reads it."""

from __future__ import annotations

import grpc
import pytest

from gpuproxy.grpc_api import gpuproxy_pb2 as pb

from .support import GrpcGateway, bearer


@pytest.fixture
def grpc_env() -> dict[str, str]:
    return {"GATEWAY_MAX_REQUEST_BYTES": "4096"}


async def test_oversized_request_message_is_resource_exhausted(grpc_gateway: GrpcGateway) -> None:
    user = await grpc_gateway.http.user()
    huge = pb.ProxyRequestMessage(target_url="/v1/chat/completions", body=b"x" * 200_000)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await grpc_gateway.stub.ProxyRequest(huge, metadata=bearer(user.key), timeout=5)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # A message within the limit reaches the data plane (which answers its own 4xx here).
    small = pb.ProxyRequestMessage(target_url="/v1/chat/completions", body=b"{}")
    answer = await grpc_gateway.stub.ProxyRequest(small, metadata=bearer(user.key), timeout=5)
    assert 400 <= answer.status_code < 500
