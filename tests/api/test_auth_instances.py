"""Two instances of the app sharing PostgreSQL and Redis, in every SESSION_MODE.

Each AsyncTestClient runs its app on its own event loop and thread with its own database
pool and Redis connections: what one revokes, the other must refuse within a second.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from tests.accounts.support import FAST, app_client, bearer, login, new_key, new_user

from gpuproxy.config import Settings

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

Client = AsyncTestClient[Any]
Pair = tuple[Client, Client]


async def _refused_within_a_second(client: Client, headers: dict[str, str]) -> None:
    """Polls until refused; every request that was still accepted must have started less
    than a second after the revocation (the caller revoked just before calling this)."""
    since = time.monotonic()
    while True:
        started = time.monotonic()
        status = (await client.get("/api/v1/auth/me", headers=headers)).status_code
        if status == 401:
            return
        assert status == 200
        assert started - since < 1.0, "revocation not seen by the other instance within 1 s"


@pytest.fixture(params=["sql", "redis", "balanced"])
async def pair(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    postgres_settings: Settings,
    redis_url: str,
) -> AsyncIterator[Pair]:
    settings = make_settings(
        **FAST,
        DB_TYPE="postgres",
        DB_HOST=postgres_settings.db_host,
        DB_PORT=str(postgres_settings.db_port),
        DB_USER=postgres_settings.db_user,
        DB_NAME=postgres_settings.db_name,
        DB_MAX_CONNS="4",
        REDIS_URL=redis_url,
        SESSION_MODE=request.param,
        LOGIN_MAX_FAILURES_PER_IP="1000000",  # the Redis counter is shared by the suite
    )
    async with app_client(settings) as first, app_client(settings) as second:
        yield first, second


async def test_session_works_everywhere_and_logout_reaches_every_instance(pair: Pair) -> None:
    a, b = pair
    email, token = await new_user(a)
    assert (await b.get("/api/v1/auth/me", headers=bearer(token))).status_code == 200
    refreshed = await b.post(
        "/api/v1/auth/refresh", json={"refresh_token": (await login(a, email))["refresh_token"]}
    )
    assert refreshed.status_code == 200
    fresh = refreshed.json()["token"]
    assert (await a.get("/api/v1/auth/me", headers=bearer(fresh))).status_code == 200
    # Both instances have the session cached; log out on one.
    assert (await a.post("/api/v1/auth/logout", headers=bearer(token))).status_code == 200

    await _refused_within_a_second(b, bearer(token))
    # The other login (the refreshed session) is untouched.
    assert (await b.get("/api/v1/auth/me", headers=bearer(fresh))).status_code == 200


async def test_refresh_reuse_on_one_instance_revokes_on_the_other(pair: Pair) -> None:
    a, b = pair
    email, _ = await new_user(a)
    first = await login(a, email)
    second = (
        await b.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()
    assert (await a.get("/api/v1/auth/me", headers=bearer(second["token"]))).status_code == 200
    reuse = await a.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    await _refused_within_a_second(b, bearer(second["token"]))
    stolen = await b.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert stolen.status_code == 401


async def test_key_revoked_while_cached_is_refused_within_a_second(pair: Pair) -> None:
    a, b = pair
    _, token = await new_user(a)
    created = await new_key(a, token)
    headers = {"X-API-Key": created["key"]}
    for client in (a, b, a, b):  # cached on both
        assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 200
    revoked = await a.delete(f"/api/v1/auth/apikeys/{created['id']}", headers=bearer(token))
    assert revoked.status_code == 204
    assert (await a.get("/api/v1/auth/me", headers=headers)).status_code == 401
    await _refused_within_a_second(b, headers)


async def test_rate_limit_is_shared_by_the_instances(pair: Pair) -> None:
    a, b = pair
    _, token = await new_user(a)
    key = (await new_key(a, token, rate_limit_per_minute=4))["key"]
    headers = {"X-API-Key": key}
    codes = [
        (await client.get("/api/v1/auth/me", headers=headers)).status_code
        for client in (a, b, a, b, a, b)
    ]
    assert codes == [200, 200, 200, 200, 429, 429]
    refused = await b.get("/api/v1/auth/me", headers=headers)
    assert refused.headers["x-ratelimit-limit"] == "4"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert 1 <= int(refused.headers["retry-after"]) <= 15  # one slot per 15 s
