"""The rate limit counts RPCs in the caller's REST bucket: over it is RESOURCE_EXHAUSTED."""

from __future__ import annotations

import grpc
import pytest

from gpuproxy.grpc_api import gpuproxy_pb2 as pb

from .support import GrpcGateway, bearer


@pytest.fixture
def grpc_env() -> dict[str, str]:
    return {"RATE_LIMIT_PER_MINUTE": "2"}


async def test_rate_limit_is_resource_exhausted(grpc_gateway: GrpcGateway) -> None:
    user = await grpc_gateway.http.user()
    codes = []
    for _ in range(4):
        try:
            await grpc_gateway.stub.GetSpendingInfo(
                pb.GetSpendingInfoRequest(), metadata=bearer(user.key), timeout=5
            )
            codes.append(grpc.StatusCode.OK)
        except grpc.aio.AioRpcError as exc:
            codes.append(exc.code())
    assert codes[0] == grpc.StatusCode.OK
    assert codes[-1] == grpc.StatusCode.RESOURCE_EXHAUSTED
