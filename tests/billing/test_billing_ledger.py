"""The append-only ledger: idempotency, cap, concurrent debits, reconciliation."""

from __future__ import annotations

import asyncio

import pytest

from gpuproxy.billing.errors import BillingConflict, PaymentRequiredError
from gpuproxy.billing.ledger import EntryType, Movement, count_entries, list_entries, post
from gpuproxy.billing.reconcile import reconcile
from gpuproxy.storage.database import Database

from .support import insert_user

DOLLAR = 1_000_000


def movement(user_id: str, amount: int, key: str, kind: EntryType = EntryType.USAGE) -> Movement:
    return Movement(user_id=user_id, type=kind, amount_micros=amount, idempotency_key=key)


async def ledger_sum(db: Database, user_id: str) -> int:
    value = await db.fetchval(
        "SELECT COALESCE(SUM(amount_micros), 0) FROM ledger_entries WHERE user_id = $1", user_id
    )
    return int(value)


async def cached(db: Database, user_id: str) -> tuple[int, int, int]:
    row = await db.fetchrow(
        "SELECT balance_micros, total_micros, entry_count FROM credit_accounts WHERE user_id = $1",
        user_id,
    )
    assert row is not None
    return int(row["balance_micros"]), int(row["total_micros"]), int(row["entry_count"])


async def test_credit_and_debit_move_the_cached_balance(db: Database) -> None:
    user = await insert_user(db)
    topup = await post(db, movement(user, 10 * DOLLAR, "t1", EntryType.TOPUP))
    usage = await post(db, movement(user, -3 * DOLLAR, "u1"))
    assert (topup.balance_micros, usage.balance_micros) == (10 * DOLLAR, 7 * DOLLAR)
    assert await cached(db, user) == (7 * DOLLAR, 10 * DOLLAR, 2)
    entries = await list_entries(db, user, limit=10, offset=0)
    assert [e.amount_micros for e in entries] == [-3 * DOLLAR, 10 * DOLLAR]  # newest first
    assert entries[0].status == "completed"
    assert entries[0].currency == "USD"


async def test_replayed_key_returns_the_original_row_and_moves_nothing(db: Database) -> None:
    user = await insert_user(db)
    first = await post(db, movement(user, 5 * DOLLAR, "same", EntryType.TOPUP))
    again = await post(db, movement(user, 5 * DOLLAR, "same", EntryType.TOPUP))
    assert again.replayed
    assert not first.replayed
    assert again.entry.id == first.entry.id
    assert await count_entries(db, user) == 1
    assert again.balance_micros == 5 * DOLLAR
    with pytest.raises(BillingConflict):
        await post(db, movement(user, 6 * DOLLAR, "same", EntryType.TOPUP))
    assert await ledger_sum(db, user) == 5 * DOLLAR


async def test_capped_debit_is_refused_and_writes_nothing(db: Database) -> None:
    user = await insert_user(db)
    await post(db, movement(user, 2 * DOLLAR, "t", EntryType.TOPUP))
    # 2 of credit + 1 of overage allowed (default cap 1 dollar): 3 fits, 3.000001 does not.
    with pytest.raises(PaymentRequiredError) as refused:
        await post(db, movement(user, -3 * DOLLAR - 1, "d1"), enforce_cap=True, default_cap=DOLLAR)
    assert refused.value.reason == "credits"
    assert "credits_cap" in refused.value.message
    assert await count_entries(db, user) == 1
    done = await post(db, movement(user, -3 * DOLLAR, "d2"), enforce_cap=True, default_cap=DOLLAR)
    assert done.balance_micros == -DOLLAR
    assert await ledger_sum(db, user) == -DOLLAR


async def test_concurrent_debits_never_spend_past_the_cap(db: Database) -> None:
    """50 concurrent 1-dollar debits against 10 dollars and a 0 cap: exactly 10 succeed."""
    user = await insert_user(db)
    await post(db, movement(user, 10 * DOLLAR, "t", EntryType.TOPUP))

    async def debit(i: int) -> bool:
        try:
            await post(db, movement(user, -DOLLAR, f"d{i}"), enforce_cap=True, default_cap=0)
        except PaymentRequiredError:
            return False
        return True

    results = await asyncio.gather(*(debit(i) for i in range(50)))
    assert sum(results) == 10
    assert await ledger_sum(db, user) == 0
    assert (await cached(db, user))[0] == 0
    assert await count_entries(db, user) == 11


async def test_concurrent_replays_of_one_key_credit_once(db: Database) -> None:
    user = await insert_user(db)
    results = await asyncio.gather(
        *(post(db, movement(user, 7 * DOLLAR, "webhook", EntryType.TOPUP)) for _ in range(20))
    )
    assert sum(not r.replayed for r in results) == 1
    assert len({r.entry.id for r in results}) == 1
    assert await ledger_sum(db, user) == 7 * DOLLAR
    assert (await cached(db, user))[0] == 7 * DOLLAR


async def test_reconcile_finds_and_repairs_a_tampered_cache(db: Database) -> None:
    a, b = await insert_user(db), await insert_user(db)
    await post(db, movement(a, 4 * DOLLAR, "a1", EntryType.TOPUP))
    await post(db, movement(b, 9 * DOLLAR, "b1", EntryType.TOPUP))
    await post(db, movement(b, -2 * DOLLAR, "b2"))
    checked, mismatches = await reconcile(db, repair=False)
    assert checked == 2
    assert mismatches == []
    await db.execute("UPDATE credit_accounts SET balance_micros = 1 WHERE user_id = $1", b)
    _, found = await reconcile(db, repair=False)
    assert [(m.user_id, m.cached_balance, m.ledger_balance) for m in found] == [(b, 1, 7 * DOLLAR)]
    assert (await cached(db, b))[0] == 1  # report only
    _, repaired = await reconcile(db, repair=True)
    assert len(repaired) == 1
    assert await cached(db, b) == (7 * DOLLAR, 9 * DOLLAR, 2)
    assert (await reconcile(db))[1] == []


@pytest.mark.postgres
async def test_ledger_rows_cannot_be_changed_on_postgres(postgres_db: Database) -> None:
    from gpuproxy.storage.migrations import apply_migrations

    await apply_migrations(postgres_db)
    user = await insert_user(postgres_db)
    await post(postgres_db, movement(user, DOLLAR, "t", EntryType.TOPUP))
    with pytest.raises(Exception, match="append-only"):
        await postgres_db.execute("UPDATE ledger_entries SET amount_micros = 5")
    with pytest.raises(Exception, match="append-only"):
        await postgres_db.execute("DELETE FROM ledger_entries")
    assert await ledger_sum(postgres_db, user) == DOLLAR
