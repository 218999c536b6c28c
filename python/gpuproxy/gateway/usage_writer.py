"""Usage rows: one per gateway request, written to the database in batches.

`record_row()` is synchronous and O(1) (a list append of a ready tuple): the request path
never waits for the database and builds no intermediate object. A background task writes
when `batch_size` rows are buffered or every `flush_interval_s` (jittered per process, so
several workers on one SQLite file do not collide in step): everything buffered, up to
`max_rows_per_write`, in ONE `executemany` (one transaction, one hop to the database).
Rows leave the buffer only after their write committed. A transient lock/busy error is
retried at once a few times with back-off (`retry_transient`); any other failure keeps the
rows for the next round, with back-off. Past `max_buffered` rows new ones are dropped and
counted (a database outage must not exhaust memory). `drain()` (a shutdown hook) writes
everything left, so nothing is lost on a graceful shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time

import msgspec

from gpuproxy.storage.database import Database
from gpuproxy.storage.retry import is_transient, retry_transient
from gpuproxy.supervisor import Supervisor

__all__ = ["UsageRecord", "UsageRow", "UsageWriter"]

#: One row in `_INSERT`'s column order (what `UsageRecord.row()` returns).
UsageRow = tuple[object, ...]

log = logging.getLogger(__name__)

_INSERT = (
    "INSERT INTO gateway_usage (id, request_id, created_at, user_id, api_key_id, model, "
    "endpoint, worker_id, pool, stream, status, outcome, prompt_tokens, completion_tokens, "
    "tokens_estimated, cost_micros, queue_us, ttft_us, latency_us, tokens_per_s) VALUES "
    "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) "
    "ON CONFLICT (id) DO NOTHING"
)


class UsageRecord(msgspec.Struct, kw_only=True):
    """One request as metered. Durations in microseconds, cost in micro-dollars."""

    id: str
    request_id: str
    created_at: int
    user_id: str
    api_key_id: str | None
    model: str
    endpoint: str
    worker_id: str | None
    pool: str
    stream: bool
    status: int
    #: ok | upstream_error | cancelled | client_error
    outcome: str
    prompt_tokens: int
    completion_tokens: int
    tokens_estimated: bool
    cost_micros: int
    queue_us: int
    ttft_us: int | None
    latency_us: int
    #: completion tokens per second of generation (None without completion tokens)
    tokens_per_s: float | None = None

    def row(self) -> UsageRow:
        return (
            self.id,
            self.request_id,
            self.created_at,
            self.user_id,
            self.api_key_id,
            self.model,
            self.endpoint,
            self.worker_id,
            self.pool,
            int(self.stream),
            self.status,
            self.outcome,
            self.prompt_tokens,
            self.completion_tokens,
            int(self.tokens_estimated),
            self.cost_micros,
            self.queue_us,
            self.ttft_us,
            self.latency_us,
            self.tokens_per_s,
        )


class UsageWriter:
    def __init__(
        self,
        db: Database,
        *,
        batch_size: int = 500,
        flush_interval_s: float = 0.5,
        max_buffered: int = 200_000,
        max_rows_per_write: int = 5_000,
    ) -> None:
        self._db = db
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_buffered = max_buffered
        self.max_rows_per_write = max(max_rows_per_write, batch_size)
        self._buffer: list[UsageRow] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.written = 0
        self.dropped = 0
        self.failures = 0

    def record(self, record: UsageRecord) -> None:
        self.record_row(record.row())

    def record_row(self, row: UsageRow) -> None:
        """Buffer one row (`_INSERT`'s column order); the hot path's call."""
        buffer = self._buffer
        if len(buffer) >= self.max_buffered:
            # The newest row is dropped, not the oldest: a batch being written is the
            # head of the buffer and must stay in place until it is committed.
            self.dropped += 1
            return
        buffer.append(row)
        if len(buffer) == self.batch_size:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def start(self, supervisor: Supervisor | None = None) -> None:
        """Write in the background; under `supervisor`, restarted should the loop fail."""
        if self._task is None:
            if supervisor is not None:
                self._task = supervisor.run("gateway-usage-writer", self._run)
            else:
                self._task = asyncio.get_running_loop().create_task(
                    self._run(), name="gateway-usage-writer"
                )

    async def _run(self) -> None:
        backoff = self.flush_interval_s
        while not self._closing:
            # +-25% per wait: workers started together drift apart instead of all taking
            # the SQLite write lock at the same instant.
            timeout = backoff * random.uniform(0.75, 1.25)  # noqa: S311 - not crypto
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
            self._wake.clear()
            if self._closing:
                break
            # Back off while the database fails, so an outage is not hammered.
            backoff = self.flush_interval_s if await self.flush() else min(30.0, backoff * 2)

    async def flush(self) -> bool:
        """Write everything buffered; False when the database failed (rows kept)."""
        while self._buffer:
            batch = self._buffer[: self.max_rows_per_write]
            count = len(batch)
            try:
                await retry_transient(functools.partial(self._db.executemany, _INSERT, batch))
            except Exception as exc:
                self.failures += 1
                if is_transient(exc):
                    log.warning("writing %d usage rows: %s; will retry", count, exc)
                else:
                    log.exception("writing %d usage rows failed; will retry", count)
                return False
            # Only the written head goes: rows recorded during the write stay queued.
            del self._buffer[:count]
            self.written += count
        return True

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Stop the background task and write what is left (shutdown hook)."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        deadline = time.monotonic() + timeout_s
        while self._buffer and time.monotonic() < deadline:
            if not await self.flush():
                await asyncio.sleep(0.2)
        if self._buffer:
            log.error("shutdown: %d usage rows could not be written", len(self._buffer))
