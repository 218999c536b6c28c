"""Fixtures for the GPU and load-balancer routes: the real app (real accounts, API keys and
billing) in-process, the fake vast.ai and io.net servers, and a user factory.

The app runs in the test's own event loop (its lifespan entered here, requests through
httpx's ASGI transport), so the fakes, the app and the test share one loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from tests.accounts.support import FAST, app_client
from tests.fakes.ionet import TEST_SSH_PUBLIC_KEY, FakeIoNet
from tests.fakes.vastai import FakeVastAi

from gpuproxy.app import create_app
from gpuproxy.config import Settings
from gpuproxy.providers.service import ProvidersService
from gpuproxy.services import Services

Headers = dict[str, str]
MakeUser = Callable[..., Awaitable[Headers]]

#: Fast hashing, no bootstrap admin, no rate limit, no background poll during a test.
BASE_ENV = {
    "BCRYPT_ROUNDS": "4",
    "BOOTSTRAP_ADMIN": "false",
    "RATE_LIMIT_PER_MINUTE": "0",
    "GPU_POLL_INTERVAL_SECONDS": "3600",
    "GPU_OFFER_CACHE_SECONDS": "5",
    # The fake vast.ai enforces no pacing unless a test asks it to (tests/providers).
    "VASTAI_PACING_SCALE": "0",
}


@pytest.fixture
async def fake_vast() -> AsyncIterator[FakeVastAi]:
    async with FakeVastAi() as fake:
        yield fake


@pytest.fixture
async def fake_ionet() -> AsyncIterator[FakeIoNet]:
    async with FakeIoNet() as fake:
        yield fake


@pytest.fixture
def gpu_settings(
    make_settings: Callable[..., Settings], fake_vast: FakeVastAi, fake_ionet: FakeIoNet
) -> Settings:
    return make_settings(
        **BASE_ENV,
        VASTAI_API_KEY=fake_vast.api_key,
        VASTAI_URL=fake_vast.base_url,
        IONET_API_KEY=fake_ionet.api_key,
        IONET_URL=fake_ionet.base_url,
        IONET_SSH_PUBLIC_KEY=TEST_SSH_PUBLIC_KEY,
    )


class AppClient(httpx.AsyncClient):
    """An httpx client bound to one running app (`app`)."""

    app: Litestar


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[AppClient]:
    """The app started (lifespan) and an httpx client on it; stopped on exit.

    The lifespan runs in a task of its own: Litestar enters an anyio cancel scope there,
    which must be left by the task that entered it (fixture teardown runs in another).
    """
    app = create_app(settings)
    ready, stop = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        try:
            async with app.lifespan():
                ready.set()
                await stop.wait()
        finally:
            ready.set()

    task = asyncio.get_running_loop().create_task(hold())
    await ready.wait()
    if task.done():
        task.result()  # startup failed: raise its error here
    try:
        transport = httpx.ASGITransport(app=app)
        async with AppClient(transport=transport, base_url="http://testserver", timeout=30) as http:
            http.app = app
            yield http
    finally:
        stop.set()
        await task


@pytest.fixture
async def client(gpu_settings: Settings) -> AsyncIterator[AppClient]:
    async with running_app(gpu_settings) as http:
        yield http


def services_of(client: AppClient) -> Services:
    services: Services = client.app.state.services
    return services


def providers_of(client: AppClient) -> ProvidersService:
    service = services_of(client).providers
    assert service is not None
    return service


@pytest.fixture
async def accounts_client(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[AsyncTestClient[Any]]:
    """The whole app on the embedded defaults with cheap bcrypt, for the auth route tests."""
    async with app_client(make_settings(**FAST)) as http:
        yield http


@pytest.fixture
def make_user(client: AppClient) -> MakeUser:
    return user_factory(client)


def user_factory(client: AppClient) -> MakeUser:
    """Register a user through the API and return headers carrying a new API key of theirs."""
    counter = iter(range(1, 1000))

    async def make(
        name: str = "user", *, admin: bool = False, scopes: list[str] | None = None
    ) -> Headers:
        email = f"{name}{next(counter)}@example.com"
        password = "correct horse battery staple"
        registered = await client.post(
            "/api/v1/auth/register", json={"email": email, "password": password}
        )
        assert registered.status_code == 201, registered.text
        if admin:
            accounts: Any = services_of(client).accounts
            await accounts.update_user(None, registered.json()["id"], is_admin=True)
        login = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
        bearer = {"Authorization": f"Bearer {login.json()['token']}"}
        wanted = scopes or (["inference", "gpu", "billing", "admin"] if admin else None)
        body: dict[str, Any] = {"name": "tests"}
        if wanted is not None:
            body["scopes"] = wanted
        created = await client.post("/api/v1/auth/apikey", json=body, headers=bearer)
        assert created.status_code == 201, created.text
        return {"X-API-Key": created.json()["api_key"]}

    return make
