"""`aiserve-gpuproxy-admin reconcile | guardrails-spending | guardrails-reset` on a database."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from tests.billing.support import insert_user
from tests.helpers import TEST_JWT_SECRET

from gpuproxy.billing.ledger import EntryType, Movement, post
from gpuproxy.cli.admin import main
from gpuproxy.config import load_settings
from gpuproxy.storage.database import open_database
from gpuproxy.storage.migrations import apply_migrations

EMAIL = "spender@example.com"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An embedded database with one user who spent 0.75 and whose cached balance is wrong."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("JWT_SECRET", TEST_JWT_SECRET)
    monkeypatch.setenv("GUARDRAILS_ENABLED", "true")
    monkeypatch.setenv("GUARDRAILS_MAX_60MIN_RATE", "2.00")
    monkeypatch.delenv("REDIS_URL", raising=False)

    async def seed() -> str:
        db = await open_database(load_settings())
        try:
            await apply_migrations(db)
            user = await insert_user(db, EMAIL)
            await post(db, Movement(user, EntryType.TOPUP, 5_000_000, "t"))
            await post(db, Movement(user, EntryType.USAGE, -750_000, "u"))
            await db.execute(
                "UPDATE credit_accounts SET balance_micros = 1 WHERE user_id = $1", user
            )
        finally:
            await db.close()
        return user

    return asyncio.run(seed())


def test_reconcile_checks_then_repairs(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reconcile", "--check"]) == 1
    assert "1 differ" in capsys.readouterr().out
    assert main(["reconcile", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mismatches"][0]["ledger_balance"] == "4.250000"
    assert report["repaired"] is True
    assert main(["reconcile", "--check"]) == 0


def test_spending_and_reset_by_email(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["guardrails-spending", EMAIL, "--json"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["user_id"] == database
    windows = {w["window"]: w for w in view["windows"]}
    assert windows["60min"] == {
        "window": "60min",
        "spent": "0.750000",
        "limit": "2.000000",
        "remaining": "1.250000",
        "exceeded": False,
    }
    assert windows["5min"]["limit"] is None
    assert main(["guardrails-spending", EMAIL]) == 0
    table = capsys.readouterr().out
    assert "WINDOW" in table
    assert "72h" in table
    assert main(["guardrails-reset", EMAIL]) == 0
    capsys.readouterr()
    assert main(["guardrails-spending", EMAIL, "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert {w["spent"] for w in after["windows"]} == {"0.000000"}
    assert main(["guardrails-reset", "nobody@example.com"]) == 1
    assert "no user" in capsys.readouterr().err
