"""Helpers shared by the accounts tests and the auth route tests (tests/api/test_auth_*)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from litestar.testing import AsyncTestClient

from gpuproxy.accounts.service import AccountsService
from gpuproxy.app import create_app
from gpuproxy.config import Settings
from gpuproxy.services import Services
from gpuproxy.storage.database import Database

PASSWORD = "correct horse battery"

T = TypeVar("T")

#: Settings every accounts test uses: cheap bcrypt, no bootstrap admin unless asked.
FAST = {"BCRYPT_ROUNDS": "4", "BOOTSTRAP_ADMIN": "false"}


def new_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextlib.asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    """The whole app (lifespan included) behind an in-process HTTP client."""
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


def services_of(client: AsyncTestClient[Any]) -> Services:
    services: Services = client.app.state.services
    return services


def accounts_of(client: AsyncTestClient[Any]) -> AccountsService:
    """The app's AccountsService. It lives on the app's event loop (the test client runs the
    app in a thread of its own): await its methods through `in_app`, not directly."""
    accounts = services_of(client).accounts
    assert accounts is not None
    return accounts


def in_app(client: AsyncTestClient[Any], fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run `fn(*args)` on the app's event loop and wait for it."""
    return client.blocking_portal.call(fn, *args)


async def register(
    client: AsyncTestClient[Any], email: str | None = None, password: str = PASSWORD
) -> str:
    email = email or new_email()
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": password, "name": "Test"}
    )
    assert response.status_code == 201, response.text
    return email


async def login(
    client: AsyncTestClient[Any], email: str, password: str = PASSWORD
) -> dict[str, Any]:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def new_user(client: AsyncTestClient[Any], prefix: str = "user") -> tuple[str, str]:
    """Register and log in a fresh user: (email, access token)."""
    email = await register(client, new_email(prefix))
    return email, (await login(client, email))["token"]


async def new_admin(client: AsyncTestClient[Any]) -> tuple[str, str]:
    """An admin account (made through the service, as the CLI would): (email, access token)."""
    email = new_email("admin")
    in_app(
        client,
        lambda: accounts_of(client).register(email=email, password=PASSWORD, is_admin=True),
    )
    return email, (await login(client, email))["token"]


async def new_key(client: AsyncTestClient[Any], token: str, **body: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/auth/apikeys", json={"name": "test key", **body}, headers=bearer(token)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


class QueryCounter:
    """Counts every statement a Database instance runs (wraps its methods in place)."""

    METHODS = ("execute", "executemany", "fetch", "fetchrow", "fetchval", "transaction")

    def __init__(self, db: Database) -> None:
        self.count = 0
        self.calls: dict[str, int] = {}
        self._db = db
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> QueryCounter:
        for name in self.METHODS:
            original = getattr(self._db, name)
            self._saved[name] = original
            setattr(self._db, name, self._wrap(name, original))
        return self

    def __exit__(self, *exc: object) -> None:
        for name in self.METHODS:
            delattr(self._db, name)

    def _wrap(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            self.calls[name] = self.calls.get(name, 0) + 1
            return original(*args, **kwargs)

        return counted


async def eventually(
    check: Callable[[], Awaitable[bool]], within_s: float, every_s: float = 0.02
) -> float:
    """Seconds until `check()` is true. AssertionError when a check that started `within_s`
    or more after the first one is still false (a slow check on a loaded machine is judged
    by when it started, not when it answered)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        began = loop.time()
        if await check():
            return began - start
        if began - start >= within_s:
            raise AssertionError(f"condition not met within {within_s} s")
        await asyncio.sleep(every_s)
