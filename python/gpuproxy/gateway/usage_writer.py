"""Usage rows: one per gateway request, written to the database in batches.

`record()` is synchronous and O(1) (an append): the request path never waits for the
database. A background task writes a batch when `batch_size` rows are buffered or every
`flush_interval_s`, with one `executemany` per batch. A failed write keeps the rows and is
retried with back-off; past `max_buffered` rows new ones are dropped and counted (a
database outage must not exhaust memory). `drain()` (a shutdown hook) writes everything left,
so nothing is lost on a graceful shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque

import msgspec

from gpuproxy.storage.database import Database

__all__ = ["UsageRecord", "UsageWriter"]

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

    def row(self) -> tuple[object, ...]:
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
    ) -> None:
        self._db = db
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_buffered = max_buffered
        self._buffer: deque[UsageRecord] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.written = 0
        self.dropped = 0
        self.failures = 0

    def record(self, record: UsageRecord) -> None:
        buffer = self._buffer
        if len(buffer) >= self.max_buffered:
            # The newest row is dropped, not the oldest: a batch being written is the
            # head of the buffer and must stay in place until it is popped.
            self.dropped += 1
            return
        buffer.append(record)
        if len(buffer) >= self.batch_size:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="gateway-usage-writer"
            )

    async def _run(self) -> None:
        backoff = self.flush_interval_s
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)
            self._wake.clear()
            if self._closing:
                break
            # Back off while the database fails, so an outage is not hammered.
            backoff = self.flush_interval_s if await self.flush() else min(30.0, backoff * 2)

    async def flush(self) -> bool:
        """Write everything buffered, batch by batch; False when the database failed."""
        while self._buffer:
            count = min(self.batch_size, len(self._buffer))
            batch = [self._buffer[i] for i in range(count)]
            try:
                await self._db.executemany(_INSERT, [r.row() for r in batch])
            except Exception:
                self.failures += 1
                log.exception("writing %d usage rows failed; will retry", count)
                return False
            for _ in range(count):
                self._buffer.popleft()
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
