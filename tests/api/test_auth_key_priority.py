"""A key's admission priority: set by admins only, and applied to the key's next request."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from tests.accounts.support import (
    accounts_of,
    bearer,
    in_app,
    new_admin,
    new_key,
    new_user,
)

from gpuproxy.accounts.principal import Principal

Client = AsyncTestClient[Any]


async def _admin(accounts_client: Client) -> dict[str, str]:
    return bearer((await new_admin(accounts_client))[1])


def _principal(accounts_client: Client, key: str) -> Principal:
    """The caller the data plane is told about for `key` (the authenticator's answer)."""
    principal = in_app(
        accounts_client, accounts_of(accounts_client).authenticator.authenticate_credential, key
    )
    assert isinstance(principal, Principal)
    return principal


async def test_an_admin_sets_a_keys_priority_and_caches_drop_it(accounts_client: Client) -> None:
    admin = await _admin(accounts_client)
    _, token = await new_user(accounts_client)
    key = await new_key(accounts_client, token)
    assert key["priority"] == 0
    assert _principal(accounts_client, key["key"]).priority == 0  # cached from here on
    told: list[tuple[str, str]] = []
    accounts_of(accounts_client).invalidation_listeners.append(
        lambda kind, ident: told.append((kind, ident))
    )

    changed = await accounts_client.patch(
        f"/api/v1/admin/apikeys/{key['id']}", json={"priority": 200}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["priority"] == 200
    assert changed.json()["id"] == key["id"]
    assert ("key", key["id"]) in told  # the data plane's cache drops the key
    assert _principal(accounts_client, key["key"]).priority == 200
    listed = await accounts_client.get("/api/v1/auth/apikeys", headers=bearer(token))
    assert listed.json()["api_keys"][0]["priority"] == 200
    audit = await accounts_client.get(
        "/api/v1/admin/audit", params={"action": "apikey.update"}, headers=admin
    )
    assert audit.json()["events"][0]["detail"]["priority"] == 200


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"priority": 256}, 400, "priority"),
        ({"priority": -1}, 400, "priority"),
        ({"priority": "high"}, 400, "priority"),
        ({"rate_limit_per_minute": -1}, 400, "rate_limit_per_minute"),
    ],
)
async def test_bad_priority_changes_name_the_field(
    accounts_client: Client, body: dict[str, Any], status: int, param: str
) -> None:
    admin = await _admin(accounts_client)
    _, token = await new_user(accounts_client)
    key = await new_key(accounts_client, token)
    response = await accounts_client.patch(
        f"/api/v1/admin/apikeys/{key['id']}", json=body, headers=admin
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param


async def test_unknown_keys_and_users_priorities(accounts_client: Client) -> None:
    admin = await _admin(accounts_client)
    missing = await accounts_client.patch(
        "/api/v1/admin/apikeys/0000000000000000", json={"priority": 1}, headers=admin
    )
    assert missing.status_code == 404
    # Users cannot raise their own keys' priority: the field is not theirs to set.
    _, token = await new_user(accounts_client)
    own = await new_key(accounts_client, token, priority=255)
    assert own["priority"] == 0
    user_id = (await accounts_client.get("/api/v1/auth/me", headers=bearer(token))).json()["id"]
    issued = await accounts_client.post(
        f"/api/v1/admin/users/{user_id}/apikeys", json={"name": "vip", "priority": 9}, headers=admin
    )
    assert issued.status_code == 201
    assert issued.json()["priority"] == 9
    assert _principal(accounts_client, issued.json()["key"]).priority == 9
