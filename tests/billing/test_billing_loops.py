"""Billing's background loops survive their errors (the supervisor restarts them)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from gpuproxy import _core
from gpuproxy.billing.service import BillingService
from gpuproxy.config import Settings
from gpuproxy.storage.database import Database
from gpuproxy.storage.kv import KeyValueStore
from gpuproxy.supervisor import Supervisor


async def test_the_ledger_writer_is_restarted_after_an_error(
    make_settings: Callable[..., Settings],
    db: Database,
    memory_kv: KeyValueStore,
    clock: _core.ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    supervisor = Supervisor(initial_backoff_s=0.001)
    billing = BillingService(make_settings(), db, memory_kv, clock=clock, supervisor=supervisor)
    runs = 0
    again = asyncio.Event()

    async def writer_run() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise OSError("database connection reset")
        again.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(billing.writer, "run", writer_run)
    await billing.start()
    try:
        await asyncio.wait_for(again.wait(), 5)
        state = supervisor.report()["billing:ledger-writer"]
        assert state["restarts"] == 1
        assert state["last_error"] == "OSError: database connection reset"
        assert state["state"] == "running"
        assert supervisor.report()["billing:gpu-accrual"]["state"] == "running"
    finally:
        await billing.close()
    assert supervisor.report()["billing:ledger-writer"]["state"] == "stopped"
