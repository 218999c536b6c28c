"""A key's own rate limit may only tighten its owner's: refused above the account's limit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from tests.accounts.support import FAST, app_client, bearer, new_admin, new_key, new_user

from gpuproxy.config import Settings

Client = AsyncTestClient[Any]
KEYS = "/api/v1/auth/apikeys"


async def _create(client: Client, token: str, limit: int) -> Any:
    return await client.post(
        KEYS, json={"name": "k", "rate_limit_per_minute": limit}, headers=bearer(token)
    )


@pytest.fixture
async def client(make_settings: Callable[..., Settings]) -> AsyncIterator[Client]:
    """The app with a server default of 600 requests a minute."""
    async with app_client(make_settings(**FAST, RATE_LIMIT_PER_MINUTE="600")) as http:
        yield http


def _refused_for_the_limit(response: Any) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "rate_limit_per_minute"
    assert "account's limit" in error["message"]


async def test_the_server_default_caps_a_keys_limit(client: Client) -> None:
    _, token = await new_user(client)
    for limit in (601, 1_000_000):
        _refused_for_the_limit(await _create(client, token, limit))
    assert (await _create(client, token, 600)).status_code == 201


async def test_the_admin_set_user_limit_caps_a_keys_limit(client: Client) -> None:
    admin = bearer((await new_admin(client))[1])
    _, token = await new_user(client)
    user_id = (await client.get("/api/v1/auth/me", headers=bearer(token))).json()["id"]
    lowered = await client.patch(
        f"/api/v1/admin/users/{user_id}", json={"rate_limit_per_minute": 30}, headers=admin
    )
    assert lowered.status_code == 200
    _refused_for_the_limit(await _create(client, token, 31))
    assert (await _create(client, token, 30)).status_code == 201
    by_admin = await client.post(
        f"/api/v1/admin/users/{user_id}/apikeys",
        json={"name": "k", "rate_limit_per_minute": 31},
        headers=admin,
    )
    _refused_for_the_limit(by_admin)
    # Raised above the server default: the user's own limit is the cap.
    await client.patch(
        f"/api/v1/admin/users/{user_id}", json={"rate_limit_per_minute": 5000}, headers=admin
    )
    assert (await _create(client, token, 5000)).status_code == 201
    _refused_for_the_limit(await _create(client, token, 5001))


async def test_no_server_limit_leaves_only_the_range(
    make_settings: Callable[..., Settings],
) -> None:
    async with app_client(make_settings(**FAST, RATE_LIMIT_PER_MINUTE="0")) as client:
        _, token = await new_user(client)
        assert (await _create(client, token, 1_000_000)).status_code == 201


async def test_an_admin_change_of_a_keys_limit_is_capped_too(client: Client) -> None:
    admin = bearer((await new_admin(client))[1])
    _, token = await new_user(client)
    key = await new_key(client, token, rate_limit_per_minute=100)
    path = f"/api/v1/admin/apikeys/{key['id']}"
    _refused_for_the_limit(
        await client.patch(path, json={"rate_limit_per_minute": 601}, headers=admin)
    )
    changed = await client.patch(path, json={"rate_limit_per_minute": 600}, headers=admin)
    assert changed.status_code == 200
    assert changed.json()["rate_limit_per_minute"] == 600
    cleared = await client.patch(path, json={"rate_limit_per_minute": 0}, headers=admin)
    assert cleared.json()["rate_limit_per_minute"] is None
