"""Rebuild the cached balances from the ledger and report what differed.

The ledger is the truth; `credit_accounts.balance_micros / total_micros / entry_count` are
a cache kept in the same transaction as each insert, so a difference means someone wrote
around this code (or a bug). Each user is checked under the account row's lock, so a
reconcile running beside live traffic never "fixes" a balance with a stale sum.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpuproxy.clock import now_ms
from gpuproxy.storage.database import Database

__all__ = ["Mismatch", "reconcile"]


@dataclass(frozen=True, slots=True)
class Mismatch:
    user_id: str
    cached_balance: int
    ledger_balance: int
    cached_total: int
    ledger_total: int
    cached_entries: int
    ledger_entries: int


_CACHED = "SELECT balance_micros, total_micros, entry_count FROM credit_accounts WHERE user_id = $1"

_SUMS = """
SELECT COALESCE(SUM(amount_micros), 0) AS balance,
       COALESCE(SUM(CASE WHEN amount_micros > 0 THEN amount_micros ELSE 0 END), 0) AS total,
       COUNT(*) AS entries
FROM ledger_entries WHERE user_id = $1 AND status = 'completed'
"""


async def _users(db: Database) -> list[str]:
    rows = await db.fetch(
        "SELECT user_id FROM credit_accounts UNION SELECT DISTINCT user_id FROM ledger_entries"
    )
    return sorted({str(r["user_id"]) for r in rows})


async def reconcile(db: Database, *, repair: bool = True) -> tuple[int, list[Mismatch]]:
    """Check every user; with `repair`, set the cache to the ledger's sums.

    Returns (users checked, mismatches found).
    """
    # SQLite's write transaction already excludes every other writer.
    select = _CACHED + (" FOR UPDATE" if db.dialect == "postgres" else "")
    mismatches: list[Mismatch] = []
    users = await _users(db)
    for user_id in users:
        async with db.transaction() as tx:
            await tx.execute(
                "INSERT INTO credit_accounts (user_id, updated_at) VALUES ($1, $2) "
                "ON CONFLICT (user_id) DO NOTHING",
                user_id,
                now_ms(),
            )
            cached = await tx.fetchrow(select, user_id)
            sums = await tx.fetchrow(_SUMS, user_id)
            assert cached is not None
            assert sums is not None
            found = Mismatch(
                user_id,
                int(cached["balance_micros"]),
                int(sums["balance"]),
                int(cached["total_micros"]),
                int(sums["total"]),
                int(cached["entry_count"]),
                int(sums["entries"]),
            )
            if (found.cached_balance, found.cached_total, found.cached_entries) == (
                found.ledger_balance,
                found.ledger_total,
                found.ledger_entries,
            ):
                continue
            mismatches.append(found)
            if repair:
                await tx.execute(
                    "UPDATE credit_accounts SET balance_micros = $2, total_micros = $3, "
                    "entry_count = $4, updated_at = $5 WHERE user_id = $1",
                    user_id,
                    found.ledger_balance,
                    found.ledger_total,
                    found.ledger_entries,
                    now_ms(),
                )
    return len(users), mismatches
