"""A worker that accepts and never answers, stalls after its head, or trickles bytes forever:
every exchange is bounded by the gateway's timeouts (first byte, stall, total), the client
gets a clean error, and nothing stays held."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from tests.fakes.hanging_upstream import HangingUpstream, Mode, hanging_upstream
from tests.gateway.support import GatewayServer, User

from gpuproxy.worker.protocol import RegisterMsg

from .support import GUARDED, assert_everything_released

pytestmark = pytest.mark.faults

FIRST_BYTE_S = 1.0
STALL_S = 1.0
TOTAL_S = 2.0
#: A timeout fires within this much of its setting on a loaded 2-core machine.
SLACK_S = 1.5

STREAM = {
    "model": "m1",
    "messages": [{"role": "user", "content": "Hello"}],
    "stream": True,
    "max_tokens": 50,
}


@pytest.fixture
def gateway_env() -> dict[str, str]:
    return {
        "GATEWAY_FIRST_BYTE_TIMEOUT_SECONDS": str(FIRST_BYTE_S),
        "GATEWAY_STALL_TIMEOUT_SECONDS": str(STALL_S),
        "GATEWAY_TOTAL_TIMEOUT_SECONDS": str(TOTAL_S),
        **GUARDED,
    }


async def route_to(gateway: GatewayServer, user: User, upstream: HangingUpstream) -> None:
    """Register `upstream` as `user`'s worker for m1 (as a worker agent's first frame would)."""
    registry = gateway.gateway.registry
    token = await registry.issue_token(user.id)
    await registry.register(RegisterMsg(address=upstream.url, token=token, models=["m1"]))
    gateway.gateway.sync()


async def streamed(gateway: GatewayServer, user: User) -> tuple[int, bytes, float]:
    """(status, body, seconds) of one streaming chat completion."""
    started = time.monotonic()
    # A bound of the test's own: a trickle resets every read timeout the client has.
    async with (
        asyncio.timeout(TOTAL_S + 10),
        httpx.AsyncClient(base_url=gateway.url, timeout=30, headers=user.headers) as client,
        client.stream("POST", "/v1/chat/completions", json=STREAM) as response,
    ):
        body = await response.aread()
    return response.status_code, body, time.monotonic() - started


def last_error_event(body: bytes) -> dict[str, object]:
    last = body.decode().strip().split("\n\n")[-1]
    error: dict[str, object] = json.loads(last.removeprefix("data: "))["error"]
    return error


async def usage_outcome(gateway: GatewayServer, user: User) -> tuple[str, int, int]:
    rows = await gateway.services.db.fetch(
        "SELECT outcome, status, cost_micros FROM gateway_usage WHERE user_id = $1", user.id
    )
    assert len(rows) == 1, rows
    return rows[0]["outcome"], rows[0]["status"], rows[0]["cost_micros"]


async def run_against(
    gateway: GatewayServer, mode: Mode
) -> tuple[HangingUpstream, User, int, bytes, float]:
    alice = await gateway.user()
    async with hanging_upstream(mode) as upstream:
        await route_to(gateway, alice, upstream)
        status, body, elapsed = await streamed(gateway, alice)
        await assert_everything_released(gateway, alice)
        # The gateway hung up on the worker (its slot and socket are not kept).
        await gateway.wait_for(lambda: upstream.closed == 1, what="the upstream connection closed")
    assert upstream.requests == 1  # a timeout is not retried on another attempt
    return upstream, alice, status, body, elapsed


async def test_an_upstream_that_never_answers_gets_504_at_the_first_byte_timeout(
    gateway: GatewayServer,
) -> None:
    _, alice, status, body, elapsed = await run_against(gateway, "silent")
    assert status == 504
    error = json.loads(body)["error"]
    assert error["code"] == "upstream_timeout"
    assert FIRST_BYTE_S - 0.05 <= elapsed < FIRST_BYTE_S + SLACK_S
    assert await usage_outcome(gateway, alice) == ("upstream_error", 504, 0)


async def test_an_upstream_that_stalls_after_its_head_is_cut_at_the_stall_timeout(
    gateway: GatewayServer,
) -> None:
    _, alice, status, body, elapsed = await run_against(gateway, "stall")
    assert status == 200  # the head was out before the stall
    error = last_error_event(body)
    assert (error["type"], error["code"]) == ("upstream_error", "upstream_timeout")
    assert STALL_S - 0.05 <= elapsed < STALL_S + SLACK_S
    outcome, _, cost = await usage_outcome(gateway, alice)
    assert (outcome, cost) == ("upstream_error", 0)


async def test_an_upstream_that_trickles_forever_is_cut_at_the_total_timeout(
    gateway: GatewayServer,
) -> None:
    upstream, alice, status, body, elapsed = await run_against(gateway, "trickle")
    assert status == 200
    # Bytes kept coming (no stall timeout could fire: one every 0.2 s < STALL_S) ...
    assert upstream.bytes_sent > 5 * len(b": still thinking\n\n")
    # ... and the whole exchange still ended at the total timeout, with an error event.
    error = last_error_event(body)
    assert (error["type"], error["code"]) == ("upstream_error", "upstream_timeout")
    assert TOTAL_S - 0.05 <= elapsed < TOTAL_S + SLACK_S
    outcome, _, cost = await usage_outcome(gateway, alice)
    assert (outcome, cost) == ("upstream_error", 0)
