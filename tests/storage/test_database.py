from __future__ import annotations

import pytest

from gpuproxy.storage._sqlite import translate_placeholders
from gpuproxy.storage.database import Database


def test_placeholders_translate_outside_quotes() -> None:
    sql = "SELECT * FROM t WHERE a = $1 AND b = '$2 stays' AND c = $10"
    assert (
        translate_placeholders(sql) == "SELECT * FROM t WHERE a = ?1 AND b = '$2 stays' AND c = ?10"
    )


async def test_crud_and_rowcount(any_db: Database) -> None:
    await any_db.execute("CREATE TABLE items (id TEXT PRIMARY KEY, amount BIGINT NOT NULL)")
    assert await any_db.execute("INSERT INTO items VALUES ($1, $2)", "a", 5) == 1
    await any_db.executemany("INSERT INTO items VALUES ($1, $2)", [("b", 7), ("c", 9)])
    assert (
        await any_db.execute("UPDATE items SET amount = amount + $1 WHERE amount > $2", 1, 6) == 2
    )
    rows = await any_db.fetch("SELECT id, amount FROM items ORDER BY id")
    assert rows == [{"id": "a", "amount": 5}, {"id": "b", "amount": 8}, {"id": "c", "amount": 10}]
    assert await any_db.fetchrow("SELECT id FROM items WHERE id = $1", "zz") is None
    assert await any_db.fetchval("SELECT SUM(amount) FROM items") == 23
    assert await any_db.ping()


async def test_transaction_rolls_back_on_error(any_db: Database) -> None:
    await any_db.execute("CREATE TABLE ledger (id TEXT PRIMARY KEY, amount BIGINT NOT NULL)")
    with pytest.raises(RuntimeError, match="boom"):  # noqa: PT012 - the body is the transaction
        async with any_db.transaction() as tx:
            await tx.execute("INSERT INTO ledger VALUES ($1, $2)", "x", 1)
            assert await tx.fetchval("SELECT COUNT(*) FROM ledger") == 1
            raise RuntimeError("boom")
    assert await any_db.fetchval("SELECT COUNT(*) FROM ledger") == 0
    async with any_db.transaction() as tx:
        await tx.execute("INSERT INTO ledger VALUES ($1, $2)", "y", 2)
    assert await any_db.fetchval("SELECT COUNT(*) FROM ledger") == 1


async def test_large_integers_round_trip(any_db: Database) -> None:
    await any_db.execute("CREATE TABLE money (amount BIGINT NOT NULL)")
    big = 9_000_000_000_000_000  # micro-dollars near the BIGINT range
    await any_db.execute("INSERT INTO money VALUES ($1)", big)
    assert await any_db.fetchval("SELECT amount FROM money") == big
