"""SQLite driver: stdlib sqlite3 on one dedicated thread, WAL mode.

One connection serves the process; an asyncio lock gives each statement or transaction
exclusive use of it, so a transaction's statements never interleave with others.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

from gpuproxy.storage.database import Executor, Row

__all__ = ["SqliteDatabase", "translate_placeholders"]

T = TypeVar("T")

# `$1` -> `?1`, leaving quoted strings alone (the quoted branch is matched first).
_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\$(\d+)")


def translate_placeholders(sql: str) -> str:
    return _PLACEHOLDER.sub(lambda m: f"?{m.group(1)}" if m.group(1) else m.group(0), sql)


class _Statements:
    """Statement methods over the shared connection (caller holds the lock)."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def execute(self, sql: str, *args: Any) -> int:
        cursor = await self._db.run(lambda c: c.execute(translate_placeholders(sql), args))
        return cursor.rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._db.run(lambda c: c.executemany(translate_placeholders(sql), rows))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        def query(c: sqlite3.Connection) -> list[Row]:
            return [dict(r) for r in c.execute(translate_placeholders(sql), args).fetchall()]

        return await self._db.run(query)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        def query(c: sqlite3.Connection) -> Row | None:
            row = c.execute(translate_placeholders(sql), args).fetchone()
            return None if row is None else dict(row)

        return await self._db.run(query)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else next(iter(row.values()), None)


class SqliteDatabase:
    dialect: Literal["sqlite"] = "sqlite"

    def __init__(self, connection: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        self._conn = connection
        self._executor = executor
        self._lock = asyncio.Lock()
        self._statements = _Statements(self)

    @classmethod
    async def open(cls, path: Path | str) -> SqliteDatabase:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        loop = asyncio.get_running_loop()

        def connect() -> sqlite3.Connection:
            target = str(path)
            if target != ":memory:":
                Path(target).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            return conn

        return cls(await loop.run_in_executor(executor, connect), executor)

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` on the connection's thread (the caller holds the lock)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, work, self._conn)

    async def execute(self, sql: str, *args: Any) -> int:
        async with self._lock:
            return await self._statements.execute(sql, *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._lock:
            return await self._statements.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        async with self._lock:
            return await self._statements.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self._lock:
            return await self._statements.fetchval(sql, *args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._lock:
            await self.run(lambda c: c.execute("BEGIN IMMEDIATE"))
            try:
                yield self._statements
            except BaseException:
                await asyncio.shield(self.run(lambda c: c.execute("ROLLBACK")))
                raise
            await self.run(lambda c: c.execute("COMMIT"))

    async def ping(self) -> bool:
        try:
            return bool(await self.fetchval("SELECT 1") == 1)
        except sqlite3.Error:
            return False

    async def close(self) -> None:
        async with self._lock:
            await self.run(lambda c: c.close())
        self._executor.shutdown(wait=True)
