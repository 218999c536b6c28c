"""Login, CreateAPIKey, HealthCheck and the authentication errors, with the generated
asyncio stubs against a real server."""

from __future__ import annotations

import grpc
import pytest
from grpc_status import rpc_status

from gpuproxy.grpc_api import gpuproxy_pb2 as pb

from .support import GrpcGateway, bearer

PASSWORD = "correct horse battery"


async def test_health_check_is_open_and_reports_readiness(grpc_gateway: GrpcGateway) -> None:
    answer = await grpc_gateway.stub.HealthCheck(pb.HealthCheckRequest(), timeout=5)
    assert answer.status == "healthy"
    assert answer.details["database"] == "ok"
    assert answer.timestamp > 0


async def test_login_then_create_api_key_then_use_it(grpc_gateway: GrpcGateway) -> None:
    user = await grpc_gateway.http.user()
    login = await grpc_gateway.stub.Login(
        pb.LoginRequest(email=user.email, password=PASSWORD), timeout=5
    )
    assert (login.user_id, login.email) == (user.id, user.email)
    assert login.token
    assert login.refresh_token
    assert login.expires_at > 0
    created = await grpc_gateway.stub.CreateAPIKey(
        pb.CreateAPIKeyRequest(name="grpc key", scopes=["billing"]),
        metadata=bearer(login.token),
        timeout=5,
    )
    assert created.api_key
    assert created.name == "grpc key"
    assert list(created.scopes) == ["billing"]
    # The seed's way: the JWT in the request message instead of the metadata.
    seed_style = await grpc_gateway.stub.CreateAPIKey(
        pb.CreateAPIKeyRequest(name="seed", token=login.token), timeout=5
    )
    assert seed_style.api_key != created.api_key
    # The new key authenticates through x-api-key; it lacks the gpu scope.
    spending = await grpc_gateway.stub.GetSpendingInfo(
        pb.GetSpendingInfoRequest(), metadata=(("x-api-key", created.api_key),), timeout=5
    )
    assert len(spending.windows) == 17
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await grpc_gateway.stub.GetLoadInfo(
            pb.GetLoadInfoRequest(), metadata=(("x-api-key", created.api_key),), timeout=5
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "gpu" in (denied.value.details() or "")


async def test_wrong_password_and_missing_credentials_are_unauthenticated(
    grpc_gateway: GrpcGateway,
) -> None:
    user = await grpc_gateway.http.user()
    with pytest.raises(grpc.aio.AioRpcError) as wrong:
        await grpc_gateway.stub.Login(pb.LoginRequest(email=user.email, password="nope"), timeout=5)
    assert wrong.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await grpc_gateway.stub.Login(pb.LoginRequest(email=user.email), timeout=5)
    assert missing.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "password" in (missing.value.details() or "")
    for metadata in ((), bearer("not-a-token"), (("x-api-key", "gpx_bogus"),)):
        with pytest.raises(grpc.aio.AioRpcError) as anonymous:
            await grpc_gateway.stub.GetSpendingInfo(
                pb.GetSpendingInfoRequest(), metadata=metadata, timeout=5
            )
        assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_bad_input_names_the_field_in_the_status_details(grpc_gateway: GrpcGateway) -> None:
    user = await grpc_gateway.http.user()
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await grpc_gateway.stub.GetTransactions(
            pb.GetTransactionsRequest(limit=1000), metadata=bearer(user.key), timeout=5
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(bad.value)
    assert status is not None
    from google.rpc import error_details_pb2

    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.metadata["param"] == "limit"
