"""A worker process killed (SIGKILL) in the middle of a stream: the client gets a clean
error event, is billed for exactly what it received (usage row, ledger, spend windows), and
every guard, hold, allowance and counter returns to zero."""

from __future__ import annotations

import json
import os
import signal

import httpx
import pytest
from tests.gateway.support import GatewayServer

from gpuproxy.gateway.prices import cost_micros

from .support import GUARDED, assert_everything_released

pytestmark = pytest.mark.faults

#: 40 tokens/s: a 200-token answer takes 5 s, so the kill lands mid-stream.
SLOW = ("--token-rate", "40")
LONG_STREAM = {
    "model": "m1",
    "messages": [{"role": "user", "content": "Hello"}],
    "stream": True,
    "max_tokens": 200,
    "ignore_eos": True,
}


@pytest.fixture
def gateway_env() -> dict[str, str]:
    # Guard rails and credits on: the request holds spend in both, and must give it back.
    return {
        **GUARDED,
        "CREDITS_ENFORCED": "true",
        "CREDITS_DEFAULT_CAP": "100",
    }


async def test_worker_killed_mid_stream_gives_a_clean_error_bills_what_was_received_and_frees_everything(  # noqa: E501
    gateway: GatewayServer,
) -> None:
    platform = await gateway.user()
    worker = await gateway.spawn_worker(platform, "--model", "m1", *SLOW)
    await gateway.share_and_price(platform)
    bob = await gateway.user()
    billing = gateway.services.billing
    assert billing is not None
    received = b""
    killed = False
    async with (
        httpx.AsyncClient(base_url=gateway.url, timeout=10, headers=bob.headers) as client,
        client.stream("POST", "/v1/chat/completions", json=LONG_STREAM) as response,
    ):
        assert response.status_code == 200
        async for chunk in response.aiter_bytes():
            received += chunk
            if received.count(b"\n\n") >= 10 and not killed:
                # Mid-stream: a connection slot, a credit hold and a spend allowance are held.
                assert gateway.in_flight() == 1
                assert billing.gate.held(bob.id) > 0
                assert gateway.gateway.data_plane.stats()["allowances_live"] == 1
                os.killpg(worker.pid, signal.SIGKILL)
                killed = True
        # The stream ended normally for the client (no exception), with an error event.
    assert killed
    events = received.decode().strip().split("\n\n")
    error = json.loads(events[-1].removeprefix("data: "))["error"]
    assert error["type"] == "upstream_error"
    delivered = received.count(b'"content":"')
    assert 10 <= delivered < 200

    await assert_everything_released(gateway, bob)
    row = await gateway.services.db.fetchrow(
        "SELECT * FROM gateway_usage WHERE user_id = $1", bob.id
    )
    assert row is not None
    assert row["outcome"] == "upstream_error"
    assert row["tokens_estimated"] == 1
    # Counted from the text that reached the client: what it received, not the 200 asked.
    assert delivered // 2 <= row["completion_tokens"] <= 2 * delivered
    expected = cost_micros(
        gateway.gateway.prices.price("m1"), row["prompt_tokens"], row["completion_tokens"]
    )
    assert row["cost_micros"] == expected > 0
    assert max(s.spent for s in billing.guard.local_state(bob.id)) == expected
    await billing.writer.flush()
    debited = await gateway.services.db.fetchval(
        "SELECT COALESCE(SUM(amount_micros), 0) FROM ledger_entries "
        "WHERE user_id = $1 AND type = 'usage'",
        bob.id,
    )
    assert debited == -expected
