"""`/health/ready` reports the supervised background loops; a loop that keeps failing is a 503."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from gpuproxy.config import Settings

from .conftest import BASE_ENV, running_app, services_of


async def test_ready_lists_the_loops_and_fails_while_one_keeps_failing(
    make_settings: Callable[..., Settings],
) -> None:
    async with running_app(make_settings(**BASE_ENV)) as client:
        ready = await client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["checks"]["background"] == "ok"
        # The app's own loops are supervised (and running).
        assert body["background"]["billing:ledger-writer"]["state"] == "running"
        assert body["background"]["gpu-availability-poller"]["state"] == "running"

        supervisor = services_of(client).supervisor
        supervisor.initial_backoff_s = supervisor.max_backoff_s = 0.001

        async def broken() -> None:
            raise ConnectionError("redis went away")

        services_of(client).supervise("test-broken", broken)
        for _ in range(500):
            if supervisor.failing():
                break
            await asyncio.sleep(0.005)
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        body = ready.json()
        assert body["checks"]["background"] == "failing"
        broken_view = body["background"]["test-broken"]
        assert broken_view["last_error"] == "ConnectionError: redis went away"
        assert broken_view["restarts"] >= supervisor.failing_after
