"""Session stores in all three SESSION_MODEs, on real PostgreSQL and Redis (and the
embedded SQLite / in-memory pair)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import pytest

from gpuproxy.accounts.sessions import (
    RefreshToken,
    RotateResult,
    Session,
    SessionStore,
    hash_refresh_token,
    open_session_store,
)
from gpuproxy.accounts.users import UserRepository
from gpuproxy.clock import now_ms
from gpuproxy.storage.database import Database
from gpuproxy.storage.kv import KeyValueStore
from gpuproxy.storage.migrations import apply_migrations

HOUR_MS = 3_600_000


@dataclass
class Setup:
    store: SessionStore
    db: Database


@pytest.fixture(
    params=[
        ("sql", "sqlite_db", "memory_kv"),
        pytest.param(("sql", "postgres_db", "memory_kv"), marks=pytest.mark.postgres),
        ("redis", "sqlite_db", "memory_kv"),
        pytest.param(("redis", "sqlite_db", "redis_kv"), marks=pytest.mark.redis),
        pytest.param(
            ("balanced", "postgres_db", "redis_kv"), marks=[pytest.mark.postgres, pytest.mark.redis]
        ),
        ("balanced", "sqlite_db", "memory_kv"),
    ],
    ids=lambda p: "-".join(x.split("_")[0] for x in p),
)
def parts(request: pytest.FixtureRequest) -> tuple[str, Database, KeyValueStore]:
    mode, db_fixture, kv_fixture = request.param
    db: Database = request.getfixturevalue(db_fixture)
    kv: KeyValueStore = request.getfixturevalue(kv_fixture)
    return mode, db, kv


@pytest.fixture
async def setup(parts: tuple[str, Database, KeyValueStore]) -> Setup:
    mode, db, kv = parts
    await apply_migrations(db)
    return Setup(open_session_store(mode, db, kv, 86_400), db)


async def _login(setup: Setup, lifetime_ms: int = HOUR_MS) -> tuple[str, str, str]:
    """A user and a session: (user id, session id, refresh token)."""
    user = await UserRepository(setup.db).create(
        email=f"{uuid.uuid4().hex}@example.com", name="", password_hash="x"
    )
    now = now_ms()
    session = Session(
        id=uuid.uuid4().hex, user_id=user.id, created_at=now, expires_at=now + lifetime_ms
    )
    token = "gpx_rt_" + uuid.uuid4().hex
    refresh = RefreshToken(
        token_hash=hash_refresh_token(token),
        session_id=session.id,
        user_id=user.id,
        created_at=now,
        expires_at=session.expires_at,
    )
    await setup.store.create(session, refresh)
    return user.id, session.id, token


async def _rotate(setup: Setup, token: str) -> tuple[RotateResult, str]:
    new = "gpx_rt_" + uuid.uuid4().hex
    outcome = await setup.store.rotate(
        hash_refresh_token(token), hash_refresh_token(new), now_ms() + HOUR_MS, now_ms()
    )
    return outcome.result, new


async def test_session_is_valid_until_revoked(setup: Setup) -> None:
    user_id, session_id, token = await _login(setup)
    state = await setup.store.state(session_id, user_id, now_ms())
    assert state is not None
    assert state.valid(now_ms())
    assert await setup.store.session_of(hash_refresh_token(token)) == session_id
    assert await setup.store.state(session_id, "someone-else", now_ms()) is None
    assert await setup.store.state("unknown", user_id, now_ms()) is None
    await setup.store.revoke(session_id, "logout", now_ms())
    state = await setup.store.state(session_id, user_id, now_ms())
    assert state is None or not state.valid(now_ms())


async def test_rotation_and_reuse_revokes_the_family(setup: Setup) -> None:
    user_id, session_id, first = await _login(setup)
    result, second = await _rotate(setup, first)
    assert result is RotateResult.ROTATED
    result, third = await _rotate(setup, second)
    assert result is RotateResult.ROTATED
    # The first token comes back: somebody kept a copy. The whole session dies...
    result, _ = await _rotate(setup, first)
    assert result is RotateResult.REUSED
    state = await setup.store.state(session_id, user_id, now_ms())
    assert state is None or not state.valid(now_ms())
    # ...including the newest token of the family.
    result, _ = await _rotate(setup, third)
    assert result is RotateResult.INVALID


async def test_unknown_and_expired_tokens(setup: Setup) -> None:
    result, _ = await _rotate(setup, "gpx_rt_never-issued")
    assert result is RotateResult.INVALID
    user_id, session_id, token = await _login(setup, lifetime_ms=50)
    await asyncio.sleep(0.1)
    result, _ = await _rotate(setup, token)
    assert result is RotateResult.INVALID
    state = await setup.store.state(session_id, user_id, now_ms())
    assert state is None or not state.valid(now_ms())


async def test_concurrent_refresh_has_one_winner(setup: Setup) -> None:
    _, _, token = await _login(setup)
    results = await asyncio.gather(*(_rotate(setup, token) for _ in range(5)))
    outcomes = [r for r, _ in results]
    assert outcomes.count(RotateResult.ROTATED) == 1
    assert all(
        r in (RotateResult.REUSED, RotateResult.INVALID)
        for r in outcomes
        if r is not RotateResult.ROTATED
    )


async def test_revoke_user_ends_every_session(setup: Setup) -> None:
    user_id, first, token = await _login(setup)
    now = now_ms()
    other = Session(id=uuid.uuid4().hex, user_id=user_id, created_at=now, expires_at=now + HOUR_MS)
    await setup.store.create(
        other,
        RefreshToken(
            token_hash=hash_refresh_token("gpx_rt_" + other.id),
            session_id=other.id,
            user_id=user_id,
            created_at=now,
            expires_at=other.expires_at,
        ),
    )
    await setup.store.revoke_user(user_id, now_ms())
    for session_id in (first, other.id):
        state = await setup.store.state(session_id, user_id, now_ms())
        assert state is None or not state.valid(now_ms())
    result, _ = await _rotate(setup, token)
    assert result is RotateResult.INVALID
