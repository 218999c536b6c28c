"""What an API key may do with keys: the `keys` scope, and never minting a broader key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from litestar.testing import AsyncTestClient
from tests.accounts.support import bearer, new_admin, new_key, new_user

Client = AsyncTestClient[Any]
KEYS = "/api/v1/auth/apikeys"


def _in(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


async def _works(accounts_client: Client, key: str) -> bool:
    return (
        await accounts_client.get("/api/v1/auth/me", headers={"X-API-Key": key})
    ).status_code == 200


async def test_an_inference_key_cannot_manage_keys(accounts_client: Client) -> None:
    _, token = await new_user(accounts_client)
    inference = await new_key(accounts_client, token, scopes=["inference"])
    other = await new_key(accounts_client, token, name="the user's other key")
    headers = {"X-API-Key": inference["key"]}
    for method, path in (
        ("POST", KEYS),
        ("GET", KEYS),
        ("GET", "/api/v1/auth/apikey"),
        ("DELETE", f"{KEYS}/{other['id']}"),
        ("DELETE", f"/api/v1/auth/apikey/{other['id']}"),
    ):
        refused = await accounts_client.request(method, path, json={"name": "x"}, headers=headers)
        assert refused.status_code == 403, (method, path, refused.text)
        error = refused.json()["error"]
        assert error["type"] == "permission_error"
        assert "'keys' scope" in error["message"]
    assert await _works(accounts_client, other["key"])
    # Giving up its own access is always allowed.
    itself = await accounts_client.delete(f"{KEYS}/{inference['id']}", headers=headers)
    assert itself.status_code == 204
    assert not await _works(accounts_client, inference["key"])


async def test_the_keys_scope_and_a_login_manage_keys(accounts_client: Client) -> None:
    _, token = await new_user(accounts_client)
    me = (await accounts_client.get("/api/v1/auth/me", headers=bearer(token))).json()
    assert "keys" in me["scopes"]
    assert "admin" not in me["scopes"]
    default = await new_key(accounts_client, token)
    assert "keys" not in default["scopes"]  # least privilege: asked for, never implied
    manager = await new_key(accounts_client, token, scopes=["inference", "keys"])
    headers = {"X-API-Key": manager["key"]}
    listed = await accounts_client.get(KEYS, headers=headers)
    assert listed.status_code == 200
    assert {k["id"] for k in listed.json()["api_keys"]} == {default["id"], manager["id"]}
    revoked = await accounts_client.delete(f"{KEYS}/{default['id']}", headers=headers)
    assert revoked.status_code == 204
    assert not await _works(accounts_client, default["key"])


async def test_a_key_cannot_mint_broader_keys(accounts_client: Client) -> None:
    _, token = await new_user(accounts_client)
    narrow = await new_key(accounts_client, token, scopes=["inference", "keys"])
    headers = {"X-API-Key": narrow["key"]}
    for scopes in (["gpu"], ["inference", "billing"], ["admin"]):
        broader = await accounts_client.post(
            KEYS, json={"name": "x", "scopes": scopes}, headers=headers
        )
        assert broader.status_code == 403, scopes
        assert broader.json()["error"]["param"] == "scopes"
    same = await accounts_client.post(
        KEYS, json={"name": "x", "scopes": ["inference"]}, headers=headers
    )
    assert same.status_code == 201
    # Without scopes: the default ones the calling key holds, not the defaults it lacks.
    unnamed = await accounts_client.post(KEYS, json={"name": "x"}, headers=headers)
    assert unnamed.status_code == 201, unnamed.text
    assert unnamed.json()["scopes"] == ["inference"]


async def test_an_expiring_key_mints_only_keys_that_expire_no_later(
    accounts_client: Client,
) -> None:
    _, token = await new_user(accounts_client)
    expiring = await new_key(
        accounts_client, token, scopes=["inference", "keys"], expires_at=_in(1)
    )
    headers = {"X-API-Key": expiring["key"]}
    for body in ({"name": "forever"}, {"name": "later", "expires_at": _in(2)}):
        refused = await accounts_client.post(KEYS, json=body, headers=headers)
        assert refused.status_code == 403, body
        error = refused.json()["error"]
        assert error["param"] == "expires_at"
        assert "expires_at" in error["message"]
    sooner = await accounts_client.post(
        KEYS, json={"name": "s", "expires_at": _in(0.5)}, headers=headers
    )
    assert sooner.status_code == 201
    same = await accounts_client.post(
        KEYS, json={"name": "s", "expires_at": expiring["expires_at"]}, headers=headers
    )
    assert same.status_code == 201, same.text
    # A key without an expiry, like a login, may create keys that never expire.
    lasting = await new_key(accounts_client, token, scopes=["inference", "keys"])
    forever = await accounts_client.post(
        KEYS, json={"name": "f"}, headers={"X-API-Key": lasting["key"]}
    )
    assert forever.status_code == 201
    assert forever.json()["expires_at"] is None


async def test_an_admin_key_is_held_to_the_same_rules_on_admin_routes(
    accounts_client: Client,
) -> None:
    _, token = await new_admin(accounts_client)
    admin_id = (await accounts_client.get("/api/v1/auth/me", headers=bearer(token))).json()["id"]
    admin_key = await new_key(
        accounts_client, token, scopes=["admin", "inference"], expires_at=_in(1)
    )
    headers = {"X-API-Key": admin_key["key"]}
    path = f"/api/v1/admin/users/{admin_id}/apikeys"
    forever = await accounts_client.post(
        path, json={"name": "x", "scopes": ["inference"]}, headers=headers
    )
    assert forever.status_code == 403
    assert forever.json()["error"]["param"] == "expires_at"
    broader = await accounts_client.post(
        path, json={"name": "x", "scopes": ["gpu"], "expires_at": _in(0.5)}, headers=headers
    )
    assert broader.status_code == 403
    assert broader.json()["error"]["param"] == "scopes"
    within = await accounts_client.post(
        path, json={"name": "x", "scopes": ["inference"], "expires_at": _in(0.5)}, headers=headers
    )
    assert within.status_code == 201, within.text
