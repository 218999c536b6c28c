"""Rate limits (429 with a correct Retry-After), hostile input, Redis outages."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

import pytest
from tests.accounts.support import (
    FAST,
    PASSWORD,
    accounts_of,
    app_client,
    bearer,
    in_app,
    login,
    new_key,
    new_user,
    register,
)

from gpuproxy.config import Settings

INJECTIONS = [
    "' OR '1'='1",
    "'; DROP TABLE users; --",
    '" OR ""="',
    "1; DELETE FROM api_keys WHERE 1=1",
    "x' UNION SELECT password_hash FROM users --",
    "$1",
    "\\'; --",
    "%_%",
]


async def test_429_after_the_burst_with_a_correct_retry_after(
    make_settings: Callable[..., Settings],
) -> None:
    async with app_client(make_settings(**FAST, RATE_LIMIT_PER_MINUTE="60")) as client:
        _, token = await new_user(client)
        headers = bearer(token)
        remaining = []
        for _ in range(60):  # the burst: a minute's worth at once
            response = await client.get("/api/v1/auth/me", headers=headers)
            assert response.status_code == 200
            assert response.headers["x-ratelimit-limit"] == "60"
            remaining.append(int(response.headers["x-ratelimit-remaining"]))
        assert remaining[0] == 59
        assert remaining[-1] == 0
        assert remaining == sorted(remaining, reverse=True)
        refused = await client.get("/api/v1/auth/me", headers=headers)
        assert refused.status_code == 429
        assert refused.json()["error"]["type"] == "rate_limit_error"
        retry_after = int(refused.headers["retry-after"])
        assert retry_after == 1  # one request per second refills
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert 55 <= int(refused.headers["x-ratelimit-reset"]) <= 60
        await asyncio.sleep(retry_after)
        assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 200


async def test_key_limit_wins_and_users_do_not_share_buckets(
    make_settings: Callable[..., Settings],
) -> None:
    async with app_client(make_settings(**FAST, RATE_LIMIT_PER_MINUTE="1000")) as client:
        _, token = await new_user(client)
        limited = (await new_key(client, token, rate_limit_per_minute=3))["key"]
        shared = (await new_key(client, token))["key"]
        codes = [
            (await client.get("/api/v1/auth/me", headers={"X-API-Key": limited})).status_code
            for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        refused = await client.get("/api/v1/auth/me", headers={"X-API-Key": limited})
        assert refused.headers["x-ratelimit-limit"] == "3"
        assert math.isclose(int(refused.headers["retry-after"]), 20, abs_tol=1)
        # A key without its own limit counts against the user's (1000/min).
        ok = await client.get("/api/v1/auth/me", headers={"X-API-Key": shared})
        assert ok.status_code == 200
        assert ok.headers["x-ratelimit-limit"] == "1000"
        _, other = await new_user(client)
        assert (await client.get("/api/v1/auth/me", headers=bearer(other))).status_code == 200


async def test_sql_injection_strings_are_harmless(make_settings: Callable[..., Settings]) -> None:
    async with app_client(make_settings(**FAST)) as client:
        email, token = await new_user(client)
        for text in INJECTIONS:
            # As an email: refused as an email, nothing else happens.
            as_email = await client.post(
                "/api/v1/auth/register", json={"email": text, "password": PASSWORD}
            )
            assert as_email.status_code == 400
            as_login = await client.post(
                "/api/v1/auth/login", json={"email": text, "password": text}
            )
            assert as_login.status_code in (400, 401)
            # As a password and a name: stored and compared as plain data.
            stranger = await register(client)
            made = await client.post(
                "/api/v1/auth/register",
                json={
                    "email": f"x{abs(hash(text))}@example.com",
                    "password": text + " padding!",
                    "name": text,
                },
            )
            assert made.status_code == 201
            assert made.json()["name"] == text
            assert (await login(client, made.json()["email"], text + " padding!"))["token"]
            wrong = await client.post(
                "/api/v1/auth/login", json={"email": stranger, "password": text + " padding!"}
            )
            assert wrong.status_code == 401
            # As a key name, a key id, a token, a refresh token, an admin search.
            key = await client.post(
                "/api/v1/auth/apikeys", json={"name": text}, headers=bearer(token)
            )
            assert key.status_code == 201
            assert key.json()["name"] == text
            revoke = await client.delete(f"/api/v1/auth/apikeys/{text}", headers=bearer(token))
            assert revoke.status_code in (404, 405)
            assert (await client.get("/api/v1/auth/me", headers=bearer(text))).status_code == 401
            assert (
                await client.get("/api/v1/auth/me", headers={"X-API-Key": text})
            ).status_code == 401
            refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": text})
            assert refresh.status_code == 401
        db = accounts_of(client).db
        assert in_app(client, db.fetchval, "SELECT COUNT(*) FROM users") == 1 + 2 * len(INJECTIONS)
        assert in_app(client, db.fetchval, "SELECT COUNT(*) FROM api_keys") == len(INJECTIONS)
        me = await client.get("/api/v1/auth/me", headers=bearer(token))
        assert me.status_code == 200
        assert me.json()["email"] == email
        listed = await client.get("/api/v1/auth/apikeys", headers=bearer(token))
        assert len(listed.json()["api_keys"]) == len(INJECTIONS)


@pytest.mark.redis
async def test_redis_down_rate_limits_locally_and_logs_it(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(
        **FAST, REDIS_URL="redis://127.0.0.1:1/0", RATE_LIMIT_PER_MINUTE="3", SESSION_MODE="sql"
    )
    async with app_client(settings) as client:
        _, token = await new_user(client)
        codes = [
            (await client.get("/api/v1/auth/me", headers=bearer(token))).status_code
            for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429]
    assert any("limiting per process" in r.getMessage() for r in caplog.records)


@pytest.mark.redis
async def test_redis_only_sessions_fail_closed_when_redis_is_down(
    make_settings: Callable[..., Settings], redis_url: str
) -> None:
    """SESSION_MODE=redis cannot check a token without Redis: 503, never a guess."""
    # Same DATA_DIR (SQLite file, users) for both apps; only Redis differs.
    async with app_client(make_settings(**FAST, REDIS_URL=redis_url, SESSION_MODE="redis")) as up:
        email, token = await new_user(up)
    down = make_settings(**FAST, REDIS_URL="redis://127.0.0.1:1/0", SESSION_MODE="redis")
    async with app_client(down) as client:
        response = await client.get("/api/v1/auth/me", headers=bearer(token))
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        login_attempt = await client.post(
            "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
        )
        assert login_attempt.status_code == 503
