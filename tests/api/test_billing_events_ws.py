"""Billing alerts reach their owner's WebSockets (`/ws`, topic `billing`), and no one else's.

A real server (data plane on the port, the app behind it) and the `websockets` client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from tests.gateway.support import FAST_ENV, running_gateway
from websockets.asyncio.client import ClientConnection, connect

from gpuproxy.accounts.principal import Principal
from gpuproxy.billing.service import BillingService
from gpuproxy.config import Settings


async def _frame(ws: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return frame


async def _subscribe_billing(ws: ClientConnection) -> None:
    assert (await _frame(ws))["type"] == "hello"
    await ws.send(json.dumps({"type": "subscribe", "topics": ["billing"]}))
    assert await _frame(ws) == {"type": "subscribed", "topics": ["billing"]}


async def test_a_guard_rail_alert_reaches_only_its_owner(
    make_settings: Callable[..., Settings],
) -> None:
    async with running_gateway(make_settings(**FAST_ENV)) as server:
        billing: BillingService | None = server.services.billing
        assert billing is not None
        alice, bob = await server.user(), await server.user()
        url = server.url.replace("http://", "ws://") + "/ws"
        async with (
            connect(url, additional_headers=alice.headers) as alice_1,
            connect(url, additional_headers=alice.headers) as alice_2,
            connect(url, additional_headers=bob.headers) as bob_ws,
        ):
            for ws in (alice_1, alice_2, bob_ws):
                await _subscribe_billing(ws)

            # Alice's spending reaches 80% of her 60-minute limit.
            billing.alerts.observe(alice.id, [("60min", 80_000_000, 100_000_000)])

            for ws in (alice_1, alice_2):  # every socket of hers
                alert = await _frame(ws)
                assert alert["type"] == "guardrails.alert"
                assert alert["severity"] == "warning"
                assert alert["data"]["window"] == "60min"
                assert alert["data"]["threshold"] == 80
                assert "owner_id" not in alert
            await bob_ws.send(json.dumps({"type": "ping"}))
            assert await _frame(bob_ws) == {"type": "pong"}  # Bob heard nothing of it

            # Unsubscribed sockets hear no more alerts.
            await alice_2.send(json.dumps({"type": "unsubscribe"}))
            assert await _frame(alice_2) == {"type": "unsubscribed", "topics": []}
            billing.alerts.refused(alice.id, "5min", 2_000_000, 1_000_000)
            exceeded = await _frame(alice_1)
            assert exceeded["type"] == "guardrails.exceeded"
            assert exceeded["severity"] == "critical"
            await alice_2.send(json.dumps({"type": "ping"}))
            assert await _frame(alice_2) == {"type": "pong"}


async def test_the_billing_topic_needs_the_billing_scope(
    make_settings: Callable[..., Settings],
) -> None:
    async with running_gateway(make_settings(**FAST_ENV)) as server:
        accounts: Any = server.services.accounts
        created = await accounts.register(
            email="gpu-only@example.com", password="correct horse battery"
        )
        principal = Principal(user_id=created.id, email="gpu-only@example.com")
        _, secret = await accounts.create_api_key(principal, name="ws", scopes=["gpu"])
        url = server.url.replace("http://", "ws://") + "/ws"
        async with connect(url, additional_headers={"Authorization": f"Bearer {secret}"}) as ws:
            assert (await _frame(ws))["type"] == "hello"
            await ws.send(json.dumps({"type": "subscribe", "topics": ["billing"]}))
            refusal = await _frame(ws)
            assert refusal["type"] == "error"
            assert refusal["code"] == "permission_denied"
            assert "billing" in refusal["message"]
