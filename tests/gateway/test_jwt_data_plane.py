"""Access tokens on the hot path: the data plane verifies JWTs itself (signature, issuer,
expiry) and asks the control plane once per login session, not once per token; a revoked
session is refused at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from .support import GatewayServer

PASSWORD = "correct horse battery"


@pytest.fixture
def gateway_env() -> dict[str, str]:
    # Cache entries that live long enough to be reused (the shared default is 50 ms).
    return {"AUTH_CACHE_TTL_SECONDS": "30"}


def asked(gateway: GatewayServer) -> int:
    stats: dict[str, Any] = gateway.gateway.data_plane.stats()
    return int(stats["callbacks_asked"])


async def test_tokens_are_verified_in_rust_and_cached_per_session(
    gateway: GatewayServer,
) -> None:
    alice = await gateway.user()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        login = await client.post(
            "/api/v1/auth/login", json={"email": alice.email, "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        first = login.json()

        def bearer(token: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}"}

        assert (await client.get("/v1/models", headers=bearer(first["token"]))).status_code == 200
        before = asked(gateway)
        # A forged or garbled token is refused by the data plane without a question.
        forged = first["token"][:-2] + ("AA" if not first["token"].endswith("AA") else "BB")
        for bad in (forged, "a.b.c", first["token"] + "x"):
            assert (await client.get("/v1/models", headers=bearer(bad))).status_code == 401
        assert asked(gateway) == before

        # A new token of the same session (refresh rotates it) is served from the session
        # entry: no question to the control plane.
        await asyncio.sleep(1.1)  # a later iat/exp, so the token differs
        refreshed = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert refreshed.status_code == 200, refreshed.text
        second = refreshed.json()["token"]
        assert second != first["token"]
        before = asked(gateway)
        for _ in range(3):
            answer = await client.get("/v1/models", headers=bearer(second))
            assert answer.status_code == 200, answer.text
        assert asked(gateway) == before, "one entry per session, not per token"

        # Logging out revokes the session: every token of it is refused from then on.
        out = await client.post("/api/v1/auth/logout", headers=bearer(second))
        assert out.status_code == 200, out.text
        deadline = time.monotonic() + 5
        status = 200
        while status == 200 and time.monotonic() < deadline:
            status = (await client.get("/v1/models", headers=bearer(second))).status_code
        assert status == 401
        assert (await client.get("/v1/models", headers=bearer(first["token"]))).status_code == 401


async def test_an_expired_token_is_refused_by_the_data_plane(gateway: GatewayServer) -> None:
    alice = await gateway.user()
    accounts: Any = gateway.services.accounts
    codec = accounts.authenticator.jwt
    old = codec.issue(
        user_id=alice.id,
        email=alice.email,
        is_admin=False,
        session_id="no-such-session",
        now_s=int(time.time()) - codec.ttl_seconds - 60,  # expired a minute ago
    )
    before = asked(gateway)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        answer = await client.get("/v1/models", headers={"Authorization": f"Bearer {old.token}"})
    assert answer.status_code == 401
    assert asked(gateway) == before
