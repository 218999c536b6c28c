"""The per-request credential check: caching, bcrypt avoidance, revocation everywhere."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from gpuproxy.accounts.passwords import PasswordHasher
from gpuproxy.accounts.principal import ALL_SCOPES, Principal
from gpuproxy.accounts.service import AccountsService
from gpuproxy.config import Settings

from .conftest import StartAccounts
from .support import FAST, PASSWORD, QueryCounter, eventually, new_email


@pytest.fixture(
    params=[
        "sqlite-memory",
        pytest.param("postgres-redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
    ]
)
def deployment(request: pytest.FixtureRequest, make_settings: Callable[..., Settings]) -> Settings:
    """Settings of one deployment: the embedded default, or PostgreSQL + Redis."""
    if request.param == "sqlite-memory":
        return make_settings(**FAST)
    base: Settings = request.getfixturevalue("postgres_settings")
    redis_url: str = request.getfixturevalue("redis_url")
    return make_settings(
        **FAST,
        DB_TYPE="postgres",
        DB_HOST=base.db_host,
        DB_PORT=str(base.db_port),
        DB_USER=base.db_user,
        DB_NAME=base.db_name,
        DB_MAX_CONNS="4",
        REDIS_URL=redis_url,
        SESSION_MODE="balanced",
    )


class BcryptCounter:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = PasswordHasher.verify_sync

        def counted(secret: str, hashed: str) -> bool:
            self.calls += 1
            return original(secret, hashed)

        monkeypatch.setattr(PasswordHasher, "verify_sync", staticmethod(counted))


async def _user_with_key(accounts: AccountsService, **key: Any) -> tuple[Principal, str, str]:
    """(owner principal, key id, full key)."""
    user = await accounts.register(email=new_email(), password=PASSWORD)
    owner = Principal(user_id=user.id, email=user.email, scopes=ALL_SCOPES - {"admin"})
    created, full = await accounts.create_api_key(owner, name="k", **key)
    return owner, created.id, full


def _headers(key: str) -> list[tuple[bytes, bytes]]:
    return [(b"x-api-key", key.encode())]


async def test_cached_key_costs_no_query_and_no_bcrypt(
    deployment: Settings, start_accounts: StartAccounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = await start_accounts(deployment)
    _, key_id, key = await _user_with_key(accounts)
    bcrypt_calls = BcryptCounter(monkeypatch)
    first = await accounts.authenticate(_headers(key))
    assert first is not None
    assert first.api_key_id == key_id
    assert bcrypt_calls.calls == 1
    with QueryCounter(accounts.db) as queries:
        for _ in range(200):
            principal = await accounts.authenticate(_headers(key))
            assert principal == first
            bearer = await accounts.authenticate([(b"authorization", b"Bearer " + key.encode())])
            assert bearer == first
    assert queries.count == 0
    assert bcrypt_calls.calls == 1
    assert accounts.usage.pending[key_id] == 401


async def test_stale_entry_rechecks_the_database_but_not_bcrypt(
    make_settings: Callable[..., Settings],
    start_accounts: StartAccounts,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    accounts = await start_accounts(make_settings(**FAST, AUTH_CACHE_TTL_SECONDS="0.05"))
    _, _, key = await _user_with_key(accounts)
    bcrypt_calls = BcryptCounter(monkeypatch)
    assert await accounts.authenticate(_headers(key)) is not None
    await asyncio.sleep(0.1)
    with QueryCounter(accounts.db) as queries:
        assert await accounts.authenticate(_headers(key)) is not None
    assert queries.count == 1  # one lookup by key id
    assert bcrypt_calls.calls == 1


async def test_concurrent_first_uses_share_one_bcrypt(
    fast_settings: Settings, start_accounts: StartAccounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = await start_accounts(fast_settings)
    _, _, key = await _user_with_key(accounts)
    bcrypt_calls = BcryptCounter(monkeypatch)
    results = await asyncio.gather(*(accounts.authenticate(_headers(key)) for _ in range(25)))
    assert all(r is not None for r in results)
    assert bcrypt_calls.calls == 1


async def test_wrong_secret_is_refused_and_remembered(
    fast_settings: Settings, start_accounts: StartAccounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = await start_accounts(fast_settings)
    _, _, key = await _user_with_key(accounts)
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    bcrypt_calls = BcryptCounter(monkeypatch)
    for _ in range(5):
        assert await accounts.authenticate(_headers(forged)) is None
    assert bcrypt_calls.calls == 1
    assert await accounts.authenticate(_headers("gpx_garbage")) is None
    assert await accounts.authenticate(_headers(key)) is not None


async def test_revoked_key_is_refused_by_every_instance_within_a_second(
    deployment: Settings, start_accounts: StartAccounts
) -> None:
    """Two instances (own pools, own Redis connections); the key is cached on both."""
    first = await start_accounts(deployment)
    second = await start_accounts(
        deployment, db=None if deployment.db_type == "postgres" else first.db
    )
    owner, key_id, key = await _user_with_key(first)
    assert await first.authenticate(_headers(key)) is not None
    assert await second.authenticate(_headers(key)) is not None
    await first.revoke_api_key(owner, key_id)
    assert await first.authenticate(_headers(key)) is None  # at once where it was revoked

    async def refused() -> bool:
        return await second.authenticate(_headers(key)) is None

    took = await eventually(refused, within_s=1.0)
    if deployment.redis_url:
        assert took < 0.5  # pub/sub, not the 30 s TTL


async def test_disabled_user_loses_keys_and_sessions(
    fast_settings: Settings, start_accounts: StartAccounts
) -> None:
    accounts = await start_accounts(fast_settings)
    owner, _, key = await _user_with_key(accounts)
    login = await accounts.login(email=owner.email, password=PASSWORD)
    jwt_headers = [(b"authorization", f"Bearer {login.access.token}".encode())]
    assert await accounts.authenticate(_headers(key)) is not None
    assert await accounts.authenticate(jwt_headers) is not None
    await accounts.update_user(None, owner.user_id, is_active=False)
    assert await accounts.authenticate(_headers(key)) is None
    assert await accounts.authenticate(jwt_headers) is None


async def test_demotion_applies_without_waiting_for_token_expiry(
    fast_settings: Settings, start_accounts: StartAccounts
) -> None:
    accounts = await start_accounts(fast_settings)
    user = await accounts.register(email=new_email(), password=PASSWORD, is_admin=True)
    token = (await accounts.login(email=user.email, password=PASSWORD)).access.token
    headers = [(b"authorization", f"Bearer {token}".encode())]
    principal = await accounts.authenticate(headers)
    assert principal is not None
    assert principal.is_admin
    assert "admin" in principal.scopes
    await accounts.update_user(None, user.id, is_admin=False)
    principal = await accounts.authenticate(headers)
    assert principal is not None
    assert not principal.is_admin
    assert "admin" not in principal.scopes


async def test_expired_key_is_refused_even_from_cache(
    fast_settings: Settings, start_accounts: StartAccounts
) -> None:
    accounts = await start_accounts(fast_settings)
    _, _, key = await _user_with_key(accounts, expires_at_ms=int(time.time() * 1000) + 300)
    assert await accounts.authenticate(_headers(key)) is not None
    await asyncio.sleep(0.35)
    assert await accounts.authenticate(_headers(key)) is None


async def test_usage_is_written_in_batches(
    fast_settings: Settings, start_accounts: StartAccounts
) -> None:
    accounts = await start_accounts(fast_settings)
    _, key_id, key = await _user_with_key(accounts)
    for _ in range(30):
        assert await accounts.authenticate(_headers(key)) is not None
    stored = await accounts.keys.get(key_id)
    assert stored is not None
    assert stored.request_count == 0
    assert stored.last_used_at is None
    with QueryCounter(accounts.db) as queries:
        assert await accounts.usage.flush() == 1
    # One executemany for every key (SQLite runs it inside a transaction of its own).
    assert queries.calls.get("executemany") == 1
    assert not {"execute", "fetch", "fetchrow", "fetchval"} & set(queries.calls)
    stored = await accounts.keys.get(key_id)
    assert stored is not None
    assert stored.request_count == 30
    assert stored.last_used_at is not None


async def test_credentials_are_read_from_either_header(
    fast_settings: Settings, start_accounts: StartAccounts
) -> None:
    accounts = await start_accounts(fast_settings)
    _, key_id, key = await _user_with_key(accounts)
    for headers in (
        [(b"x-api-key", key.encode())],
        [(b"authorization", b"Bearer " + key.encode())],
        [(b"authorization", b"bearer  " + key.encode())],
    ):
        principal = await accounts.authenticate(headers)
        assert principal is not None
        assert principal.api_key_id == key_id
    for headers in (
        [],
        [(b"authorization", b"Basic " + key.encode())],
        [(b"authorization", b"Bearer")],
        [(b"x-api-key", b"")],
        [(b"authorization", b"Bearer not.a.jwt")],
    ):
        assert await accounts.authenticate(headers) is None
