"""The `payments` table (one row per payment attempt and its state) and `payment_events`
(the provider callbacks received)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpuproxy.billing._util import dumps, loads_object, new_id
from gpuproxy.billing.errors import BillingConflict
from gpuproxy.clock import now_ms
from gpuproxy.money import micros_to_dollars
from gpuproxy.storage.database import Database, Executor, Row

__all__ = ["FINAL_STATES", "PaymentRecord", "PaymentStore"]

FINAL_STATES = frozenset({"succeeded", "failed", "canceled"})


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    id: str
    user_id: str
    provider: str
    method: str
    amount_micros: int
    currency: str
    status: str
    external_id: str | None
    idempotency_key: str
    details: dict[str, Any]
    ledger_entry_id: str | None
    failure_reason: str | None
    created_at: int
    updated_at: int

    @classmethod
    def from_row(cls, row: Row) -> PaymentRecord:
        return cls(
            id=row["id"],
            user_id=row["user_id"],
            provider=row["provider"],
            method=row["method"],
            amount_micros=int(row["amount_micros"]),
            currency=row["currency"],
            status=row["status"],
            external_id=row["external_id"],
            idempotency_key=row["idempotency_key"],
            details=loads_object(row["details"]),
            ledger_entry_id=row["ledger_entry_id"],
            failure_reason=row["failure_reason"],
            created_at=int(row["created_at"]),
            updated_at=int(row["updated_at"]),
        )

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "method": self.method,
            "amount": micros_to_dollars(self.amount_micros),
            "amount_micros": self.amount_micros,
            "currency": self.currency,
            "status": self.status,
            "external_id": self.external_id,
            "credited": self.ledger_entry_id is not None,
            "transaction_id": self.ledger_entry_id,
            "failure_reason": self.failure_reason,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            **{k: v for k, v in self.details.items() if not k.startswith("_")},
        }


class PaymentStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        *,
        user_id: str,
        provider: str,
        method: str,
        amount_micros: int,
        currency: str,
        idempotency_key: str,
        details: dict[str, Any] | None = None,
    ) -> tuple[PaymentRecord, bool]:
        """Insert a pending payment; a reused key returns the first one (created=False)."""
        now = now_ms()
        inserted = await self._db.execute(
            "INSERT INTO payments (id, user_id, provider, method, amount_micros, currency, "
            "status, idempotency_key, details, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9, $9) "
            "ON CONFLICT (idempotency_key) DO NOTHING",
            new_id("pay"),
            user_id,
            provider,
            method,
            amount_micros,
            currency,
            idempotency_key,
            dumps(details or {}),
            now,
        )
        row = await self._db.fetchrow(
            "SELECT * FROM payments WHERE idempotency_key = $1", idempotency_key
        )
        assert row is not None
        record = PaymentRecord.from_row(row)
        if not inserted and (
            record.user_id != user_id
            or record.provider != provider
            or record.amount_micros != amount_micros
        ):
            raise BillingConflict(
                "Idempotency-Key was already used for a different payment",
                param="Idempotency-Key",
                code="idempotency_key_reused",
            )
        return record, bool(inserted)

    async def get(self, payment_id: str) -> PaymentRecord | None:
        row = await self._db.fetchrow("SELECT * FROM payments WHERE id = $1", payment_id)
        return None if row is None else PaymentRecord.from_row(row)

    async def by_key(self, idempotency_key: str) -> PaymentRecord | None:
        row = await self._db.fetchrow(
            "SELECT * FROM payments WHERE idempotency_key = $1", idempotency_key
        )
        return None if row is None else PaymentRecord.from_row(row)

    async def by_external(self, provider: str, external_id: str) -> PaymentRecord | None:
        row = await self._db.fetchrow(
            "SELECT * FROM payments WHERE provider = $1 AND external_id = $2",
            provider,
            external_id,
        )
        return None if row is None else PaymentRecord.from_row(row)

    async def list_for(self, user_id: str, limit: int, offset: int) -> list[PaymentRecord]:
        rows = await self._db.fetch(
            "SELECT * FROM payments WHERE user_id = $1 ORDER BY created_at DESC, id DESC "
            "LIMIT $2 OFFSET $3",
            user_id,
            limit,
            offset,
        )
        return [PaymentRecord.from_row(r) for r in rows]

    async def update(
        self,
        payment_id: str,
        *,
        status: str | None = None,
        external_id: str | None = None,
        details: dict[str, Any] | None = None,
        failure_reason: str | None = None,
        executor: Executor | None = None,
    ) -> None:
        """Move a payment on; a final state (succeeded/failed/canceled) never changes again,
        except failed -> succeeded (a retried card can still succeed)."""
        db = executor or self._db
        row = await db.fetchrow("SELECT status, details FROM payments WHERE id = $1", payment_id)
        if row is None:
            return
        current = row["status"]
        # A final state never changes, except failed -> succeeded (a retried card).
        final = status is not None and current in FINAL_STATES and status != current
        if final and not (current == "failed" and status == "succeeded"):
            status = None
        merged = loads_object(row["details"])
        if details:
            merged.update(details)
        await db.execute(
            "UPDATE payments SET status = COALESCE($2, status), "
            "external_id = COALESCE($3, external_id), details = $4, "
            "failure_reason = COALESCE($5, failure_reason), updated_at = $6 WHERE id = $1",
            payment_id,
            status,
            external_id,
            dumps(merged),
            failure_reason,
            now_ms(),
        )

    async def mark_credited(
        self, tx: Executor, payment_id: str, ledger_entry_id: str, external_id: str | None
    ) -> None:
        await tx.execute(
            "UPDATE payments SET status = 'succeeded', ledger_entry_id = $2, "
            "external_id = COALESCE($3, external_id), failure_reason = NULL, updated_at = $4 "
            "WHERE id = $1",
            payment_id,
            ledger_entry_id,
            external_id,
            now_ms(),
        )

    async def record_event(self, provider: str, event_id: str, event_type: str) -> None:
        """Note a provider callback once; a redelivered event id is left as it is."""
        await self._db.execute(
            "INSERT INTO payment_events (provider, event_id, type, received_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (provider, event_id) DO NOTHING",
            provider,
            event_id,
            event_type,
            now_ms(),
        )
