"""Fixtures of the accounts tests (imported as `accounts.conftest`: tests/accounts is a package)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from gpuproxy.accounts.service import AccountsService
from gpuproxy.config import Settings
from gpuproxy.storage.database import Database, open_database
from gpuproxy.storage.kv import KeyValueStore, open_kv
from gpuproxy.storage.migrations import apply_migrations

from .support import FAST

StartAccounts = Callable[..., Awaitable[AccountsService]]


@pytest.fixture
def fast_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(**FAST)


@pytest.fixture
async def start_accounts() -> AsyncIterator[StartAccounts]:
    """Factory: an AccountsService on (settings, db, kv) with its background tasks running.

    Databases and stores it opens are closed at teardown; pass `db`/`kv` to share them
    between two services (two workers or instances of one deployment).
    """
    tasks: list[asyncio.Task[None]] = []
    opened: list[Any] = []
    services: list[AccountsService] = []

    async def start(
        settings: Settings, db: Database | None = None, kv: KeyValueStore | None = None
    ) -> AccountsService:
        if db is None:
            db = await open_database(settings)
            opened.append(db)
            await apply_migrations(db)
        if kv is None:
            kv = await open_kv(settings)
            opened.append(kv)
        service = AccountsService(settings, db, kv)

        def supervise(name: str, loop: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
            task = asyncio.get_running_loop().create_task(loop(), name=name)  # type: ignore[arg-type]
            tasks.append(task)
            return task

        await service.start(supervise)
        services.append(service)
        return service

    yield start
    for service in services:
        await service.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for resource in reversed(opened):
        await resource.close()
