"""Shared fixtures: settings, databases (SQLite, PostgreSQL), key-value stores (memory, Redis).

PostgreSQL and Redis tests skip with a reason when the server is not reachable, unless
CI=true, where a missing service is a failure.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from tests.fakes.redis_server import PrivateRedis
from tests.helpers import TEST_JWT_SECRET

from gpuproxy.config import Settings, load_settings
from gpuproxy.storage.database import Database, open_database
from gpuproxy.storage.kv import KeyValueStore

POSTGRES_DSN = os.environ.get(
    "GPUPROXY_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("GPUPROXY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def require_service(name: str, url: str, default_port: int) -> None:
    if _reachable(url, default_port):
        return
    message = f"{name} is not reachable at {url}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a missing service is a failure)")
    pytest.skip(message)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings on a temporary DATA_DIR; keyword arguments are environment variables."""

    def build(**env: str) -> Settings:
        # Credits are enforced by default (fail closed); tests of other areas run with
        # free usage, and the credit tests turn it on (tests/billing, test_starting_credit).
        values = {
            "DATA_DIR": str(tmp_path / "data"),
            "JWT_SECRET": TEST_JWT_SECRET,
            "CREDITS_ENFORCED": "false",
        }
        values.update(env)
        return load_settings(env=values, env_file=None)

    return build


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def sqlite_db(settings: Settings) -> AsyncIterator[Database]:
    db = await open_database(settings)
    yield db
    await db.close()


@pytest.fixture
def postgres_dsn() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test (dropped afterwards)."""
    require_service("PostgreSQL", POSTGRES_DSN, 5432)
    import asyncpg

    name = "gpx_test_" + uuid.uuid4().hex[:12]
    admin_dsn = POSTGRES_DSN

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    parsed = urlparse(POSTGRES_DSN)
    yield parsed._replace(path="/" + name).geturl()
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_settings(make_settings: Callable[..., Settings], postgres_dsn: str) -> Settings:
    parsed = urlparse(postgres_dsn)
    return make_settings(
        DB_TYPE="postgres",
        DB_HOST=parsed.hostname or "127.0.0.1",
        DB_PORT=str(parsed.port or 5432),
        DB_USER=parsed.username or "postgres",
        DB_PASSWORD=parsed.password or "",
        DB_NAME=parsed.path.lstrip("/"),
        DB_MAX_CONNS="5",
    )


@pytest.fixture
async def postgres_db(postgres_settings: Settings) -> AsyncIterator[Database]:
    db = await open_database(postgres_settings)
    yield db
    await db.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db(request: pytest.FixtureRequest) -> Database:
    """The same test on SQLite and on PostgreSQL."""
    fixture = "sqlite_db" if request.param == "sqlite" else "postgres_db"
    db: Database = request.getfixturevalue(fixture)
    return db


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", REDIS_URL, 6379)
    return REDIS_URL


@pytest.fixture
async def redis_kv(redis_url: str) -> AsyncIterator[KeyValueStore]:
    from gpuproxy.storage._kv_redis import RedisStore

    store = await RedisStore.connect(redis_url)
    yield store
    await store.close()


@pytest.fixture
async def memory_kv() -> AsyncIterator[KeyValueStore]:
    from gpuproxy.storage._kv_memory import MemoryStore

    store = MemoryStore()
    yield store
    await store.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def any_kv(request: pytest.FixtureRequest) -> KeyValueStore:
    """The same test on the in-memory store and on Redis."""
    store: KeyValueStore = request.getfixturevalue(f"{request.param}_kv")
    return store


def pytest_configure(config: Any) -> None:
    os.environ.setdefault("GPUPROXY_TESTING", "1")


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server of the test's own, which it may kill and restart (never the shared one)."""
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()
