"""Several writers on one SQLite file (what several Granian workers are): a writer that finds
the write lock taken retries with back-off and never loses a batched row."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gpuproxy.billing.gate import CreditGate
from gpuproxy.billing.ledger import EntryType, count_entries
from gpuproxy.billing.writer import LedgerWriter
from gpuproxy.gateway.usage_writer import UsageWriter
from gpuproxy.storage._sqlite import SqliteDatabase
from gpuproxy.storage.database import Database, Executor
from gpuproxy.storage.migrations import apply_migrations
from gpuproxy.storage.retry import is_transient


def usage_row(writer: str, n: int) -> tuple[object, ...]:
    return (
        f"{writer}-{n}-{uuid.uuid4().hex[:8]}",
        "req",
        1,
        "u1",
        None,
        "m",
        "chat.completions",
        "w1",
        "shared",
        0,
        200,
        "ok",
        1,
        2,
        0,
        3,
        0,
        None,
        10,
        None,
    )


@pytest.fixture
async def two_dbs(tmp_path: Path) -> AsyncIterator[tuple[SqliteDatabase, SqliteDatabase]]:
    """Two Database objects (two connections, two threads) on one file, short busy timeout."""
    path = tmp_path / "shared.db"
    first = await SqliteDatabase.open(path, busy_timeout_ms=20)
    await apply_migrations(first)
    second = await SqliteDatabase.open(path, busy_timeout_ms=20)
    yield first, second
    await first.close()
    await second.close()


async def hold_write_lock(db: Database, seconds: float, taken: asyncio.Event) -> None:
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO gateway_usage_lock_probe DEFAULT VALUES")
        taken.set()
        await asyncio.sleep(seconds)


@pytest.fixture
async def probe(two_dbs: tuple[SqliteDatabase, SqliteDatabase]) -> None:
    await two_dbs[0].execute("CREATE TABLE gateway_usage_lock_probe (id INTEGER PRIMARY KEY)")


def test_lock_and_busy_errors_are_transient() -> None:
    assert is_transient(sqlite3.OperationalError("database is locked"))
    assert not is_transient(sqlite3.OperationalError("no such table: x"))
    assert not is_transient(ValueError("database is locked"))


@pytest.mark.usefixtures("probe")
async def test_usage_rows_wait_out_a_short_lock(
    two_dbs: tuple[SqliteDatabase, SqliteDatabase],
) -> None:
    mine, other = two_dbs
    writer = UsageWriter(mine, batch_size=1000)
    for n in range(300):
        writer.record_row(usage_row("a", n))
    taken = asyncio.Event()
    holder = asyncio.create_task(hold_write_lock(other, 0.15, taken))
    await taken.wait()
    # The lock outlives busy_timeout (20 ms): the write fails with "locked" and is retried.
    assert await writer.flush()
    await holder
    assert writer.failures == 0
    assert writer.pending == 0
    assert await mine.fetchval("SELECT COUNT(*) FROM gateway_usage") == 300


@pytest.mark.usefixtures("probe")
async def test_usage_rows_outlast_a_long_lock(
    two_dbs: tuple[SqliteDatabase, SqliteDatabase],
) -> None:
    mine, other = two_dbs
    writer = UsageWriter(mine, batch_size=1000)
    for n in range(50):
        writer.record_row(usage_row("a", n))
    taken = asyncio.Event()
    holder = asyncio.create_task(hold_write_lock(other, 2.0, taken))
    await taken.wait()
    assert not await writer.flush()  # the bounded retry gave up ...
    assert writer.failures == 1
    assert writer.pending == 50  # ... and kept every row
    writer.record_row(usage_row("a", 50))
    await holder
    assert await writer.flush()
    assert writer.pending == 0
    assert await mine.fetchval("SELECT COUNT(*) FROM gateway_usage") == 51


async def test_two_writers_on_one_file_lose_nothing(
    two_dbs: tuple[SqliteDatabase, SqliteDatabase],
) -> None:
    """Two "workers" recording and flushing at once, as fast as they can."""
    writers = [UsageWriter(db, batch_size=50) for db in two_dbs]

    async def work(index: int) -> None:
        writer = writers[index]
        for n in range(1500):
            writer.record_row(usage_row(f"w{index}", n))
            if n % 50 == 49:
                assert await writer.flush()
        assert await writer.flush()

    await asyncio.gather(work(0), work(1))
    assert [w.pending for w in writers] == [0, 0]
    assert await two_dbs[0].fetchval("SELECT COUNT(*) FROM gateway_usage") == 3000


@pytest.mark.usefixtures("probe")
async def test_ledger_batch_is_kept_through_a_long_lock(
    two_dbs: tuple[SqliteDatabase, SqliteDatabase],
) -> None:
    mine, other = two_dbs
    user = "usr_" + uuid.uuid4().hex[:16]
    await mine.execute(
        "INSERT INTO users (id, email, name, password_hash, is_admin, is_active, created_at, "
        "updated_at) VALUES ($1, $2, '', 'x', 0, 1, 0, 0)",
        user,
        f"{user}@example.com",
    )
    gate = CreditGate(mine, enforced=False, default_cap=0)
    writer = LedgerWriter(mine, gate, interval_ms=1000)
    writer.add(user, EntryType.USAGE, 70)
    taken = asyncio.Event()
    holder = asyncio.create_task(hold_write_lock(other, 2.0, taken))
    await taken.wait()
    assert await writer.flush() == 0
    assert writer.backlog == 1
    writer.add(user, EntryType.USAGE, 30)
    await holder
    assert await writer.flush() == 2  # the kept batch and the new one
    assert writer.backlog == 0
    assert await count_entries(mine, user) == 2
    balance = await mine.fetchval(
        "SELECT balance_micros FROM credit_accounts WHERE user_id = $1", user
    )
    assert balance == -100


async def test_atomic_rolls_back_and_refuses_a_foreign_await(
    two_dbs: tuple[SqliteDatabase, SqliteDatabase],
) -> None:
    db = two_dbs[0]
    await db.execute("CREATE TABLE t (v INTEGER)")

    async def insert_then_fail(tx: Executor) -> None:
        await tx.execute("INSERT INTO t VALUES (1)")
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await db.atomic(insert_then_fail)

    async def insert_then_sleep(tx: Executor) -> None:
        await tx.execute("INSERT INTO t VALUES (2)")
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="only await"):
        await db.atomic(insert_then_sleep)

    async def insert_two(tx: Executor) -> int:
        await tx.executemany("INSERT INTO t VALUES ($1)", [(3,), (4,)])
        return int(await tx.fetchval("SELECT SUM(v) FROM t"))

    assert await db.atomic(insert_two) == 7
    assert await db.fetchval("SELECT COUNT(*) FROM t") == 2
