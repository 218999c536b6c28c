"""The append-only credits ledger (integer micro-dollars) and the balance cache beside it.

Every movement of money is one `ledger_entries` row with an idempotency key (unique): a
replay of the same key returns the original row and moves nothing. In the same database
transaction the user's `credit_accounts` row (the cached balance) is updated, so the cache
always equals the sum of the user's rows; `reconcile` proves or repairs that.

Concurrency: the row insert and the conditional balance update run in one transaction.
PostgreSQL serialises writers on the account row (`UPDATE` takes its lock and re-checks the
`WHERE` after waiting); SQLite serialises whole write transactions (`BEGIN IMMEDIATE`). A
capped debit is a conditional update, so concurrent debits can never spend past the cap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gpuproxy.billing._util import dumps, loads_object, new_id
from gpuproxy.billing.errors import BillingConflict, PaymentRequiredError
from gpuproxy.clock import now_ms
from gpuproxy.money import micros_to_dollars
from gpuproxy.storage.database import Database, Executor, Row

__all__ = [
    "AutoRenewDue",
    "EntryType",
    "LedgerEntry",
    "Movement",
    "Posted",
    "count_entries",
    "list_entries",
    "post",
    "post_in",
]


class EntryType(StrEnum):
    TOPUP = "topup"
    USAGE = "usage"
    GPU_TIME = "gpu_time"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: str
    user_id: str
    type: str
    amount_micros: int
    currency: str
    status: str
    provider: str
    external_id: str
    idempotency_key: str
    actor_id: str | None
    description: str
    metadata: dict[str, Any]
    created_at: int

    @classmethod
    def from_row(cls, row: Row) -> LedgerEntry:
        return cls(
            id=row["id"],
            user_id=row["user_id"],
            type=row["type"],
            amount_micros=int(row["amount_micros"]),
            currency=row["currency"],
            status=row["status"],
            provider=row["provider"],
            external_id=row["external_id"],
            idempotency_key=row["idempotency_key"],
            actor_id=row["actor_id"],
            description=row["description"],
            metadata=loads_object(row["metadata"]),
            created_at=int(row["created_at"]),
        )

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "amount": micros_to_dollars(self.amount_micros),
            "amount_micros": self.amount_micros,
            "currency": self.currency,
            "status": self.status,
            "provider": self.provider,
            "external_id": self.external_id or None,
            "description": self.description,
            "metadata": self.metadata,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class Movement:
    """A request to move money: positive credits the user, negative debits."""

    user_id: str
    type: EntryType
    amount_micros: int
    idempotency_key: str
    provider: str = ""
    external_id: str = ""
    actor_id: str | None = None
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AutoRenewDue:
    """A debit crossed the auto-renew threshold: charge `amount_micros` once (`seq`)."""

    user_id: str
    seq: int
    amount_micros: int
    customer_id: str
    payment_method_id: str


@dataclass(frozen=True, slots=True)
class Posted:
    entry: LedgerEntry
    #: True when the idempotency key was used before: nothing moved this time.
    replayed: bool
    balance_micros: int
    auto_renew: AutoRenewDue | None = None


_INSERT = """
INSERT INTO ledger_entries (id, user_id, type, amount_micros, currency, status, provider,
    external_id, idempotency_key, actor_id, description, metadata, created_at)
VALUES ($1, $2, $3, $4, 'USD', 'completed', $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (idempotency_key) DO NOTHING
"""

_ENSURE_ACCOUNT = """
INSERT INTO credit_accounts (user_id, updated_at) VALUES ($1, $2)
ON CONFLICT (user_id) DO NOTHING
"""

# $4 = 1: refuse when the balance would fall below -cap (cap NULL -> $5, the default).
_APPLY = """
UPDATE credit_accounts
SET balance_micros = balance_micros + $2,
    total_micros = total_micros + $3,
    entry_count = entry_count + 1,
    updated_at = $6
WHERE user_id = $1
  AND ($4 = 0 OR $2 >= 0 OR balance_micros + $2 >= -COALESCE(cap_micros, $5))
"""

# A debit that takes the balance below the threshold fires auto-renew once; the flag stays
# down until a credit brings the balance back to the threshold or above.
_FIRE_RENEWAL = """
UPDATE credit_accounts
SET auto_renew_armed = 0, auto_renew_seq = auto_renew_seq + 1
WHERE user_id = $1 AND auto_renew = 1 AND auto_renew_armed = 1
  AND balance_micros < auto_renew_threshold_micros
  AND auto_renew_amount_micros > 0
  AND payment_method_id IS NOT NULL AND stripe_customer_id IS NOT NULL
RETURNING auto_renew_seq, auto_renew_amount_micros, stripe_customer_id, payment_method_id
"""

_REARM_RENEWAL = """
UPDATE credit_accounts SET auto_renew_armed = 1
WHERE user_id = $1 AND auto_renew_armed = 0 AND balance_micros >= auto_renew_threshold_micros
"""


async def post_in(
    tx: Executor, movement: Movement, *, enforce_cap: bool = False, default_cap: int = 0
) -> Posted:
    """Append `movement` inside the caller's transaction (see `post`)."""
    if movement.amount_micros == 0:
        raise ValueError("a ledger movement needs a non-zero amount")
    now = now_ms()
    await tx.execute(_ENSURE_ACCOUNT, movement.user_id, now)
    entry_id = new_id("le")
    inserted = await tx.execute(
        _INSERT,
        entry_id,
        movement.user_id,
        str(movement.type),
        movement.amount_micros,
        movement.provider,
        movement.external_id,
        movement.idempotency_key,
        movement.actor_id,
        movement.description,
        dumps(movement.metadata),
        now,
    )
    if not inserted:
        return await _replay(tx, movement)
    credit = max(movement.amount_micros, 0)
    applied = await tx.execute(
        _APPLY,
        movement.user_id,
        movement.amount_micros,
        credit,
        1 if enforce_cap else 0,
        default_cap,
        now,
    )
    if not applied:
        # Raising rolls the transaction back, taking the inserted row with it.
        raise PaymentRequiredError(
            f"credit limit reached: this charge of {micros_to_dollars(-movement.amount_micros)} "
            "would take the overage past credits_cap; add credits (POST /api/v1/billing/payment)",
            reason="credits",
        )
    renewal: AutoRenewDue | None = None
    if movement.amount_micros < 0:
        fired = await tx.fetchrow(_FIRE_RENEWAL, movement.user_id)
        if fired is not None:
            renewal = AutoRenewDue(
                user_id=movement.user_id,
                seq=int(fired["auto_renew_seq"]),
                amount_micros=int(fired["auto_renew_amount_micros"]),
                customer_id=str(fired["stripe_customer_id"]),
                payment_method_id=str(fired["payment_method_id"]),
            )
    else:
        await tx.execute(_REARM_RENEWAL, movement.user_id)
    balance = await tx.fetchval(
        "SELECT balance_micros FROM credit_accounts WHERE user_id = $1", movement.user_id
    )
    row = await tx.fetchrow("SELECT * FROM ledger_entries WHERE id = $1", entry_id)
    assert row is not None
    return Posted(LedgerEntry.from_row(row), False, int(balance), renewal)


async def _replay(tx: Executor, movement: Movement) -> Posted:
    row = await tx.fetchrow(
        "SELECT * FROM ledger_entries WHERE idempotency_key = $1", movement.idempotency_key
    )
    if row is None:  # pragma: no cover - the conflicting row is committed or we waited on it
        raise BillingConflict("idempotency key is in use by a concurrent request; retry")
    entry = LedgerEntry.from_row(row)
    if entry.user_id != movement.user_id or entry.amount_micros != movement.amount_micros:
        raise BillingConflict(
            "this idempotency key was already used with different parameters",
            param="idempotency_key",
            code="idempotency_key_reused",
        )
    balance = await tx.fetchval(
        "SELECT balance_micros FROM credit_accounts WHERE user_id = $1", movement.user_id
    )
    return Posted(entry, True, int(balance or 0))


async def post(
    db: Database, movement: Movement, *, enforce_cap: bool = False, default_cap: int = 0
) -> Posted:
    """Append one movement and update the cached balance, atomically and idempotently.

    With `enforce_cap`, a debit that would take the balance below `-credits_cap` raises
    `PaymentRequiredError` and nothing is written.
    """
    async with db.transaction() as tx:
        return await post_in(tx, movement, enforce_cap=enforce_cap, default_cap=default_cap)


async def list_entries(db: Database, user_id: str, *, limit: int, offset: int) -> list[LedgerEntry]:
    rows = await db.fetch(
        "SELECT * FROM ledger_entries WHERE user_id = $1 "
        "ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
        user_id,
        limit,
        offset,
    )
    return [LedgerEntry.from_row(r) for r in rows]


async def count_entries(db: Database, user_id: str) -> int:
    value = await db.fetchval("SELECT COUNT(*) FROM ledger_entries WHERE user_id = $1", user_id)
    return int(value or 0)
