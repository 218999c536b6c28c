"""SQLite driver: stdlib sqlite3 on one dedicated thread, WAL mode.

One connection serves the process; an asyncio lock gives each statement or transaction
exclusive use of it, so a transaction's statements never interleave with others.

Several processes (Granian workers) share the file and take turns on its one write lock.
Batched writes (`executemany`, `atomic`) therefore run BEGIN ... COMMIT in ONE hop to the
connection's thread: the lock is held for the SQLite work only, never across event-loop
turns of a busy process (which made other workers wait past `busy_timeout` and fail with
"database is locked").
"""

from __future__ import annotations

import asyncio
import functools
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

from gpuproxy.storage.database import Executor, Row

__all__ = ["SqliteDatabase", "translate_placeholders"]

T = TypeVar("T")

# `$1` -> `?1`, leaving quoted strings alone (the quoted branch is matched first).
_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\$(\d+)")


@functools.lru_cache(maxsize=1024)
def translate_placeholders(sql: str) -> str:
    # Cached: the same few hundred statements are translated on every call otherwise.
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


class _InlineStatements:
    """Statements run at once on the connection's thread (inside `atomic`): their coroutines
    never suspend, so a whole transaction body completes in one `send()`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        return self._conn.execute(translate_placeholders(sql), args).rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(translate_placeholders(sql), rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(r) for r in self._conn.execute(translate_placeholders(sql), args).fetchall()]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row = self._conn.execute(translate_placeholders(sql), args).fetchone()
        return None if row is None else dict(row)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else next(iter(row.values()), None)


def _in_write_transaction(conn: sqlite3.Connection, work: Callable[[], T]) -> T:
    """BEGIN IMMEDIATE, `work`, COMMIT on the calling (connection) thread; ROLLBACK on error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work()
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


def _drive(coro: Coroutine[Any, Any, T]) -> T:
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("an atomic() body may only await its executor's statements")


class SqliteDatabase:
    dialect: Literal["sqlite"] = "sqlite"

    def __init__(self, connection: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        self._conn = connection
        self._executor = executor
        self._lock = asyncio.Lock()
        self._statements = _Statements(self)

    @classmethod
    async def open(cls, path: Path | str, *, busy_timeout_ms: int = 5000) -> SqliteDatabase:
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
            conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
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
        """All rows in one write transaction, in one hop to the connection's thread."""
        statement = translate_placeholders(sql)

        def work(c: sqlite3.Connection) -> None:
            _in_write_transaction(c, lambda: c.executemany(statement, rows))

        async with self._lock:
            await self.run(work)

    async def atomic(self, body: Callable[[Executor], Coroutine[Any, Any, T]]) -> T:
        """Run `body(tx)` as one transaction. Here the whole body runs on the connection's
        thread in one hop (it must await only `tx`'s statements), so the file's write lock
        is never held across event-loop turns."""

        def work(c: sqlite3.Connection) -> T:
            return _in_write_transaction(c, lambda: _drive(body(_InlineStatements(c))))

        async with self._lock:
            return await self.run(work)

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
