"""ProxyRequest and StreamProxyRequest go through the data plane's HTTP routes with the
caller's credential: metered and billed like HTTP; a cancelled stream is billed for what
was delivered and leaves nothing held."""

from __future__ import annotations

import asyncio
import time

import grpc
import msgspec
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from tests.gateway.support import GatewayServer, User

from gpuproxy.gateway.prices import cost_micros
from gpuproxy.grpc_api import gpuproxy_pb2 as pb

from .support import GrpcGateway, bearer

SLOW = ("--token-rate", "40")  # 40 tokens/s: a 200-token answer takes 5 s


def chat(**extra: object) -> bytes:
    body = {"model": "m1", "messages": [{"role": "user", "content": "Hello"}], **extra}
    return msgspec.json.encode(body)


def message(body: bytes, path: str = "/v1/chat/completions") -> pb.ProxyRequestMessage:
    return pb.ProxyRequestMessage(
        target_url=path, method="POST", headers={"content-type": "application/json"}, body=body
    )


async def shared_worker(http: GatewayServer, *args: str) -> tuple[User, object]:
    platform = await http.user()
    worker = await http.spawn_worker(platform, "--model", "m1", *args)
    await http.share_and_price(platform)
    return platform, worker


@pytest.fixture
def grpc_env() -> dict[str, str]:
    return {"GUARDRAILS_ENABLED": "true", "GUARDRAILS_MAX_1440MIN_RATE": "1000.00"}


async def test_unary_proxy_request_is_metered_and_billed_like_http(
    grpc_gateway: GrpcGateway,
) -> None:
    http = grpc_gateway.http
    await shared_worker(http)
    bob = await http.user()
    answer = await grpc_gateway.stub.ProxyRequest(
        message(chat(max_tokens=8)), metadata=bearer(bob.key), timeout=20
    )
    assert answer.status_code == 200, answer.body
    assert answer.headers["content-type"].startswith("application/json")
    usage = msgspec.json.decode(answer.body)["usage"]
    await http.settle()
    row = await http.services.db.fetchrow(
        "SELECT outcome, cost_micros, completion_tokens FROM gateway_usage WHERE user_id = $1",
        bob.id,
    )
    assert row is not None
    assert row["completion_tokens"] == usage["completion_tokens"]
    expected = cost_micros(
        http.gateway.prices.price("m1"), usage["prompt_tokens"], usage["completion_tokens"]
    )
    assert expected > 0
    assert row["cost_micros"] == expected


async def test_bidirectional_stream_answers_each_request_in_order(
    grpc_gateway: GrpcGateway,
) -> None:
    http = grpc_gateway.http
    await shared_worker(http)
    bob = await http.user()

    async def requests() -> object:
        yield message(chat(max_tokens=4))
        yield message(chat(max_tokens=6, stream=True))
        yield pb.ProxyRequestMessage(target_url="/v1/models", method="GET")

    parts: dict[int, list[pb.ProxyResponse]] = {}
    call = grpc_gateway.stub.StreamProxyRequest(requests(), metadata=bearer(bob.key), timeout=30)
    async for part in call:
        parts.setdefault(part.sequence, []).append(part)
    assert sorted(parts) == [0, 1, 2]
    for answer in parts.values():
        assert answer[0].status_code == 200
        assert answer[-1].done
        assert not any(p.done for p in answer[:-1])
    streamed = b"".join(p.body for p in parts[1])
    assert streamed.count(b"data: ") >= 3
    assert b"[DONE]" in streamed
    models = msgspec.json.decode(b"".join(p.body for p in parts[2]))
    assert "m1" in {m["id"] for m in models["data"]}


async def test_cancelled_stream_is_billed_for_what_was_delivered(
    grpc_gateway: GrpcGateway,
) -> None:
    http = grpc_gateway.http
    await shared_worker(http, *SLOW)
    bob = await http.user()

    async def one() -> object:
        yield message(chat(stream=True, max_tokens=200, ignore_eos=True))
        await asyncio.sleep(30)  # keep the request side open: the client cancels

    started = time.monotonic()
    call = grpc_gateway.stub.StreamProxyRequest(one(), metadata=bearer(bob.key), timeout=30)
    received = b""
    async for part in call:
        received += part.body
        if received.count(b'"content":"') >= 10:
            call.cancel()
            break
    await http.wait_for(lambda: http.in_flight() == 0, what="in-flight back to 0")
    assert time.monotonic() - started < 4  # the whole answer would take 5 s
    await http.settle()
    row = await http.services.db.fetchrow(
        "SELECT outcome, completion_tokens, cost_micros FROM gateway_usage WHERE user_id = $1",
        bob.id,
    )
    assert row is not None
    assert row["outcome"] == "cancelled"
    assert 5 <= row["completion_tokens"] <= 150
    billing = http.services.billing
    assert billing is not None
    state = {s.name: (s.spent, s.reserved) for s in billing.guard.local_state(bob.id)}
    assert state["1440min"] == (row["cost_micros"], 0)


async def test_refusals_are_statuses(grpc_gateway: GrpcGateway) -> None:
    stub = grpc_gateway.stub
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await stub.ProxyRequest(message(chat()), timeout=5)
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as bad_key:
        await stub.ProxyRequest(message(chat()), metadata=bearer("gpx_bogus_key"), timeout=5)
    assert bad_key.value.code() == grpc.StatusCode.UNAUTHENTICATED
    bob = await grpc_gateway.http.user()
    bad = pb.ProxyRequestMessage(target_url="/v1/chat/completions", timeout=9999)
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await stub.ProxyRequest(bad, metadata=bearer(bob.key), timeout=5)
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "timeout" in (invalid.value.details() or "")


@pytest.mark.parametrize(
    "grpc_env",
    [{"GUARDRAILS_ENABLED": "true", "GUARDRAILS_MAX_5MIN_RATE": "0.010000"}],
)
async def test_spend_limit_is_resource_exhausted_naming_the_windows(
    grpc_gateway: GrpcGateway,
) -> None:
    http = grpc_gateway.http
    await shared_worker(http)
    bob = await http.user()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await grpc_gateway.stub.ProxyRequest(
            message(chat(max_tokens=1000)), metadata=bearer(bob.key), timeout=10
        )
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(refused.value)
    assert status is not None
    quota = error_details_pb2.QuotaFailure()
    assert any(detail.Unpack(quota) for detail in status.details)
    assert "spend_window:5min" in {v.subject for v in quota.violations}


async def test_deadline_ends_the_request_and_releases_everything(
    grpc_gateway: GrpcGateway,
) -> None:
    http = grpc_gateway.http
    await shared_worker(http, *SLOW)
    bob = await http.user()
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await grpc_gateway.stub.ProxyRequest(
            message(chat(max_tokens=200, ignore_eos=True)), metadata=bearer(bob.key), timeout=1
        )
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await http.wait_for(lambda: http.in_flight() == 0, what="in-flight back to 0")
    assert time.monotonic() - started < 4  # the whole answer would take 5 s
    await http.settle()
    billing = http.services.billing
    assert billing is not None
    reserved = {s.name: s.reserved for s in billing.guard.local_state(bob.id)}
    assert reserved["1440min"] == 0


async def test_absolute_target_goes_through_the_generic_proxy(grpc_gateway: GrpcGateway) -> None:
    http = grpc_gateway.http
    platform, worker = await shared_worker(http)
    own = bearer(platform.key)
    endpoint = worker.endpoint  # type: ignore[attr-defined]
    request = pb.ProxyRequestMessage(
        protocol="http", target_url=f"{endpoint}/v1/models", method="GET"
    )
    answer = await grpc_gateway.stub.ProxyRequest(request, metadata=own, timeout=10)
    assert answer.status_code == 200
    assert "m1" in {m["id"] for m in msgspec.json.decode(answer.body)["data"]}

    async def one() -> object:
        yield request

    parts = [p async for p in grpc_gateway.stub.StreamProxyRequest(one(), metadata=own)]
    assert parts[0].status_code == 200
    assert parts[-1].done
    assert b'"m1"' in b"".join(p.body for p in parts)
    # Not the caller's worker and not allowlisted: refused by the same SSRF policy as HTTP.
    metadata_ip = pb.ProxyRequestMessage(
        protocol="http", target_url="http://169.254.169.254/latest/meta-data", method="GET"
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await grpc_gateway.stub.ProxyRequest(metadata_ip, metadata=own, timeout=10)
    assert refused.value.code() in (
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.INVALID_ARGUMENT,
    )
