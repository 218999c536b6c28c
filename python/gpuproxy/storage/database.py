"""The data-access layer both dialects pass through (no ORM).

SQL is written once with PostgreSQL-style `$1, $2` placeholders; the SQLite driver
translates them. Rows come back as plain dicts. Conventions for portable schemas:
ids are TEXT, money is BIGINT micro-dollars, times are BIGINT unix milliseconds,
JSON is TEXT, booleans are INTEGER 0/1 (compare with `= 1`, read with `bool()`).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol, TypeVar

from gpuproxy.config import Settings

__all__ = ["Database", "Executor", "Row", "open_database"]

Row = dict[str, Any]
T = TypeVar("T")
Dialect = Literal["sqlite", "postgres"]


class Executor(Protocol):
    """Statements on a database or inside one transaction."""

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; returns the number of rows it changed."""

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each argument row (batched writes)."""

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """All rows of a query."""

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        """The first row of a query, or None."""

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """The first column of the first row, or None."""


class Database(Executor, Protocol):
    @property
    def dialect(self) -> Dialect:
        """Which SQL dialect runs underneath ("sqlite" or "postgres")."""

    def transaction(self) -> AbstractAsyncContextManager[Executor]:
        """A transaction: committed when the block exits normally, rolled back on error."""

    async def atomic(self, body: Callable[[Executor], Coroutine[Any, Any, T]]) -> T:
        """`body(tx)` in one transaction, returning its result. `body` must await only
        `tx`'s statements: on SQLite the whole body then runs on the connection's thread in
        one hop, so the shared file's write lock is held for the SQL work only."""

    async def ping(self) -> bool:
        """True when the database answers a trivial query."""

    async def close(self) -> None: ...


async def open_database(settings: Settings) -> Database:
    """Open the configured database (SQLite file under DATA_DIR, or a PostgreSQL pool)."""
    if settings.db_type == "postgres":
        from gpuproxy.storage._postgres import PostgresDatabase

        return await PostgresDatabase.connect(
            settings.postgres_dsn,
            max_size=settings.db_max_conns,
            pgbouncer=settings.db_use_pgbouncer,
        )
    from gpuproxy.storage._sqlite import SqliteDatabase

    return await SqliteDatabase.open(settings.sqlite_path)
