"""The batched usage writer: batches, background flush, retry after a failure, drain."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from gpuproxy.gateway.usage_writer import UsageRecord, UsageWriter
from gpuproxy.storage.database import Database
from gpuproxy.storage.migrations import apply_migrations


def row(user: str = "u1", cost: int = 5) -> UsageRecord:
    return UsageRecord(
        id=uuid.uuid4().hex,
        request_id="r",
        created_at=1,
        user_id=user,
        api_key_id=None,
        model="m",
        endpoint="chat.completions",
        worker_id="w1",
        pool="shared",
        stream=True,
        status=200,
        outcome="ok",
        prompt_tokens=3,
        completion_tokens=4,
        tokens_estimated=False,
        cost_micros=cost,
        queue_us=0,
        ttft_us=1000,
        latency_us=2000,
    )


async def test_rows_are_written_in_batches_and_drained(any_db: Database) -> None:
    await apply_migrations(any_db)
    writer = UsageWriter(any_db, batch_size=10, flush_interval_s=30)
    writer.start()
    for _ in range(25):
        writer.record(row())
    await asyncio.sleep(0.2)  # two full batches were signalled; the last 5 wait for the timer
    written = await any_db.fetchval("SELECT COUNT(*) FROM gateway_usage")
    assert written in (20, 25)
    await writer.drain()
    assert await any_db.fetchval("SELECT COUNT(*) FROM gateway_usage") == 25
    assert await any_db.fetchval("SELECT SUM(cost_micros) FROM gateway_usage") == 125
    assert writer.pending == 0


class FlakyDb:
    def __init__(self, db: Database, failures: int) -> None:
        self.db = db
        self.failures = failures
        self.batches: list[int] = []

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("database down")
        self.batches.append(len(rows))
        await self.db.executemany(sql, rows)


async def test_a_failed_write_keeps_the_rows_for_the_next_try(sqlite_db: Database) -> None:
    await apply_migrations(sqlite_db)
    flaky = FlakyDb(sqlite_db, failures=1)
    writer = UsageWriter(flaky, batch_size=100, flush_interval_s=0.05)  # type: ignore[arg-type]
    for _ in range(3):
        writer.record(row())
    assert not await writer.flush()
    assert writer.pending == 3
    await writer.drain()
    assert flaky.batches == [3]
    assert await sqlite_db.fetchval("SELECT COUNT(*) FROM gateway_usage") == 3


async def test_buffer_is_bounded(sqlite_db: Database) -> None:
    writer = UsageWriter(sqlite_db, batch_size=100, max_buffered=2)
    for _ in range(5):
        writer.record(row())
    assert writer.pending == 2
    assert writer.dropped == 3
