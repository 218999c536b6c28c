"""PostgreSQL driver: an asyncpg pool bounded by DB_MAX_CONNS.

With DB_USE_PGBOUNCER the prepared-statement cache is off, so PgBouncer's transaction
pooling works (a statement may land on another server connection).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar

import asyncpg

from gpuproxy.storage.database import Executor, Row

__all__ = ["PostgresDatabase"]

T = TypeVar("T")


class _Connection:
    """Statement methods over one asyncpg connection (inside a transaction)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        return _rowcount(await self._conn.execute(sql, *args))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._conn.executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(r) for r in await self._conn.fetch(sql, *args)]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row = await self._conn.fetchrow(sql, *args)
        return None if row is None else dict(row)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._conn.fetchval(sql, *args)


def _rowcount(status: str) -> int:
    """asyncpg returns the command tag ("UPDATE 3", "INSERT 0 1"): the count is last."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresDatabase:
    dialect: Literal["postgres"] = "postgres"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def connect(cls, dsn: str, *, max_size: int, pgbouncer: bool) -> PostgresDatabase:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=1,
            max_size=max_size,
            statement_cache_size=0 if pgbouncer else 256,
            command_timeout=30,
        )
        return cls(pool)

    async def execute(self, sql: str, *args: Any) -> int:
        return _rowcount(await self._pool.execute(sql, *args))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._pool.executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(r) for r in await self._pool.fetch(sql, *args)]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row = await self._pool.fetchrow(sql, *args)
        return None if row is None else dict(row)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._pool.fetchval(sql, *args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield _Connection(conn)

    async def atomic(self, body: Callable[[Executor], Coroutine[Any, Any, T]]) -> T:
        async with self.transaction() as tx:
            return await body(tx)

    async def ping(self) -> bool:
        try:
            return bool(await self._pool.fetchval("SELECT 1") == 1)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False

    async def close(self) -> None:
        await self._pool.close()
