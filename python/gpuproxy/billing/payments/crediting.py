"""What a payment provider needs from billing: credit a payment exactly once."""

from __future__ import annotations

import sqlite3
from typing import Any, Protocol

from gpuproxy.billing.ledger import Posted
from gpuproxy.billing.payments.records import PaymentRecord

__all__ = ["Crediter", "is_unique_violation"]


class Crediter(Protocol):
    async def __call__(
        self,
        payment: PaymentRecord,
        amount_micros: int,
        *,
        key: str,
        external_id: str | None,
        ledger_external_id: str,
        description: str,
        metadata: dict[str, Any],
    ) -> Posted:
        """Post a top-up with idempotency `key` and mark the payment succeeded (one
        transaction). A replayed key credits nothing and returns the original row."""


def is_unique_violation(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.IntegrityError):
        return "UNIQUE" in str(exc)
    try:
        import asyncpg
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, asyncpg.UniqueViolationError)
