"""Helpers shared by the billing tests (tests/billing and tests/api/test_billing_*.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from litestar.testing import AsyncTestClient

from gpuproxy.app import create_app
from gpuproxy.billing.service import BillingService
from gpuproxy.config import Settings
from gpuproxy.services import Services
from gpuproxy.storage.database import Database

T = TypeVar("T")

#: Fast hashing, no bootstrap admin, no rate limit, no background GPU work, quick flushes.
BILLING_ENV = {
    "BCRYPT_ROUNDS": "4",
    "BOOTSTRAP_ADMIN": "false",
    "RATE_LIMIT_PER_MINUTE": "0",
    "GPU_POLL_INTERVAL_SECONDS": "3600",
    "LOCAL_FLEET_ENABLED": "false",
    "BILLING_FLUSH_INTERVAL_MS": "50",
}

START_MS = 1_750_000_000_000
CARD = "4242424242424242"


async def insert_user(db: Database, email: str | None = None) -> str:
    """A user row straight in the database (unit tests without the accounts service)."""
    user_id = "usr_" + uuid.uuid4().hex[:16]
    await db.execute(
        "INSERT INTO users (id, email, name, password_hash, is_admin, is_active, created_at, "
        "updated_at) VALUES ($1, $2, '', 'x', 0, 1, 0, 0)",
        user_id,
        email or f"{user_id}@example.com",
    )
    return user_id


@dataclass
class Caller:
    user_id: str
    email: str
    headers: dict[str, str]


class BillingApp:
    """The real app in-process: real accounts (JWT), real billing, test client."""

    def __init__(self, client: AsyncTestClient[Any]) -> None:
        self.client = client
        self._count = 0

    @property
    def services(self) -> Services:
        services: Services = self.client.app.state.services
        return services

    @property
    def billing(self) -> BillingService:
        billing = self.services.billing
        assert billing is not None
        return billing

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run `fn(*args)` on the app's event loop (the test client serves from another
        thread; the app's database and locks belong to that loop)."""
        portal: Any = self.client.blocking_portal
        result: T = portal.call(fn, *args)
        return result

    async def user(self, name: str = "user", *, admin: bool = False) -> Caller:
        self._count += 1
        email = f"{name}{self._count}-{uuid.uuid4().hex[:6]}@example.com"
        password = "correct horse battery staple"
        registered = await self.client.post(
            "/api/v1/auth/register", json={"email": email, "password": password}
        )
        assert registered.status_code == 201, registered.text
        user_id = registered.json()["id"]
        if admin:
            accounts: Any = self.services.accounts
            await accounts.update_user(None, user_id, is_admin=True)
        login = await self.client.post(
            "/api/v1/auth/login", json={"email": email, "password": password}
        )
        assert login.status_code == 200, login.text
        return Caller(user_id, email, {"Authorization": f"Bearer {login.json()['token']}"})

    async def api_key(self, caller: Caller, scopes: list[str]) -> dict[str, str]:
        created = await self.client.post(
            "/api/v1/auth/apikey", json={"name": "t", "scopes": scopes}, headers=caller.headers
        )
        assert created.status_code == 201, created.text
        return {"X-API-Key": created.json()["api_key"]}


@asynccontextmanager
async def billing_app(settings: Settings) -> AsyncIterator[BillingApp]:
    async with AsyncTestClient(create_app(settings), timeout=30) as client:
        yield BillingApp(client)


async def dump_database(db: Database) -> str:
    """Every text value of every table, for 'this never reached the database' checks."""
    if db.dialect == "sqlite":
        tables = [
            r["name"] for r in await db.fetch("SELECT name FROM sqlite_master WHERE type='table'")
        ]
    else:
        tables = [
            r["tablename"]
            for r in await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        ]
    parts = []
    for table in tables:
        for row in await db.fetch(f'SELECT * FROM "{table}"'):  # noqa: S608 - table names from the catalog
            parts.extend(str(v) for v in row.values())
    return "\n".join(parts)
