"""Batched ledger writes for hot-path spending (no database write per request).

Commits add to an in-memory sum per (user, entry type); every BILLING_FLUSH_INTERVAL_MS the
writer turns each sum into one ledger row (with the request count in its metadata) in one
transaction (`db.atomic`: on SQLite one hop to the connection's thread, so the write lock
shared by several workers is held for the SQL only). A transient lock/busy error is retried
at once with back-off (`retry_transient`); any failure keeps the batch for the next flush.
Each batch gets its idempotency keys before the first attempt, so a retry after an
ambiguous failure (commit sent, answer lost) cannot debit twice. `drain()` writes everything
left at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from gpuproxy.billing.gate import CreditGate
from gpuproxy.billing.ledger import EntryType, Movement, Posted, post_in
from gpuproxy.clock import now_ms
from gpuproxy.storage.database import Database, Executor
from gpuproxy.storage.retry import is_transient, retry_transient

__all__ = ["LedgerWriter"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Sum:
    amount: int = 0
    count: int = 0
    first_at: int = 0
    last_at: int = 0
    refs: list[str] = field(default_factory=list)


_MAX_REFS = 20


class LedgerWriter:
    def __init__(
        self,
        db: Database,
        gate: CreditGate,
        *,
        interval_ms: int,
        on_posted: Callable[[Posted], None] | None = None,
    ) -> None:
        self._db = db
        self._gate = gate
        self._interval = interval_ms / 1000
        self._on_posted = on_posted
        self._pending: dict[tuple[str, EntryType], _Sum] = {}
        self._retry: list[tuple[Movement, int]] = []
        self._writer_id = os.urandom(6).hex()
        self._seq = 0
        self._lock = asyncio.Lock()
        self.rows_written = 0

    def add(self, user_id: str, kind: EntryType, amount: int, ref: str | None = None) -> None:
        """Queue a debit of `amount` micro-dollars (sync, O(1))."""
        if amount <= 0:
            return
        now = now_ms()
        entry = self._pending.get((user_id, kind))
        if entry is None:
            entry = self._pending[(user_id, kind)] = _Sum(first_at=now)
        entry.amount += amount
        entry.count += 1
        entry.last_at = now
        if ref is not None and len(entry.refs) < _MAX_REFS:
            entry.refs.append(ref)

    @property
    def backlog(self) -> int:
        return len(self._pending) + len(self._retry)

    def _take(self) -> list[tuple[Movement, int]]:
        pending, self._pending = self._pending, {}
        self._seq += 1
        batch: list[tuple[Movement, int]] = []
        for (user_id, kind), entry in sorted(pending.items()):
            movement = Movement(
                user_id=user_id,
                type=kind,
                amount_micros=-entry.amount,
                idempotency_key=f"{kind}:{self._writer_id}:{self._seq}:{user_id}",
                provider="gateway" if kind is EntryType.USAGE else "gpu",
                description=f"{entry.count} request(s)" if kind is EntryType.USAGE else "",
                metadata={
                    "count": entry.count,
                    "first_at": entry.first_at,
                    "last_at": entry.last_at,
                    "refs": entry.refs,
                },
            )
            self._gate.begin_flush(user_id, entry.amount)
            batch.append((movement, entry.amount))
        return batch

    async def flush(self) -> int:
        """Write what is queued; returns rows written. A failed batch is kept and written
        again, alone, before anything newer is taken: while the database is down, new
        spending keeps adding to one sum per (user, entry type) instead of piling up one
        more row per user every interval (a long outage must not grow memory or the
        transaction that ends it)."""
        async with self._lock:
            written = 0
            if self._retry:
                if not await self._write(self._retry):
                    return 0
                written, self._retry = len(self._retry), []
            batch = self._take()
            if batch:
                if await self._write(batch):
                    written += len(batch)
                else:
                    self._retry = batch
            return written

    async def _write(self, batch: list[tuple[Movement, int]]) -> bool:
        """One transaction for `batch`; False (and logged) when it failed."""
        # Sorted by user so concurrent writers of several instances lock rows in one order.
        batch.sort(key=lambda item: item[0].user_id)

        async def write(tx: Executor) -> list[Posted]:
            return [await post_in(tx, movement) for movement, _ in batch]

        try:
            posted = await retry_transient(lambda: self._db.atomic(write))
        except Exception as exc:
            if is_transient(exc):
                log.warning("ledger batch of %d rows: %s; will retry", len(batch), exc)
            else:
                log.exception("ledger batch of %d rows failed; will retry", len(batch))
            return False
        for (movement, amount), result in zip(batch, posted, strict=True):
            self._gate.end_flush(movement.user_id, amount, result.balance_micros)
            if self._on_posted is not None:
                self._on_posted(result)
        self.rows_written += len(batch)
        return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()

    async def drain(self, attempts: int = 5) -> None:
        """Flush until nothing is left (shutdown); gives up after `attempts` failures."""
        for _ in range(attempts):
            await self.flush()
            if not self.backlog:
                return
            await asyncio.sleep(0.2)
        log.error("ledger writer could not drain %d pending rows at shutdown", self.backlog)
