"""Admin routes, scopes and the audit log, through the whole app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from litestar import get
from litestar.testing import AsyncTestClient
from tests.accounts.support import (
    FAST,
    PASSWORD,
    app_client,
    bearer,
    login,
    new_admin,
    new_email,
    new_key,
    new_user,
)

import gpuproxy.app
from gpuproxy.api.guards import requires_scope
from gpuproxy.config import Settings

Client = AsyncTestClient[Any]


def _scoped(scope: str) -> Any:
    @get(f"/test-scope/{scope}", guards=[requires_scope(scope)], sync_to_thread=False)
    def handler() -> dict[str, str]:
        return {"scope": scope}

    return handler


@pytest.fixture
async def client(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Client]:
    # Extra routes guarded by each scope, next to the real ones.
    routes = [*gpuproxy.app.ROUTE_HANDLERS, *(_scoped(s) for s in ("inference", "gpu", "billing"))]
    monkeypatch.setattr(gpuproxy.app, "ROUTE_HANDLERS", routes)
    async with app_client(make_settings(**FAST)) as c:
        yield c


ADMIN_ROUTES = [
    ("GET", "/api/v1/admin/users"),
    ("POST", "/api/v1/admin/users"),
    ("GET", "/api/v1/admin/users/some-id"),
    ("PATCH", "/api/v1/admin/users/some-id"),
    ("POST", "/api/v1/admin/users/some-id/logout"),
    ("GET", "/api/v1/admin/users/some-id/apikeys"),
    ("POST", "/api/v1/admin/users/some-id/apikeys"),
    ("PATCH", "/api/v1/admin/apikeys/some-id"),
    ("DELETE", "/api/v1/admin/apikeys/some-id"),
    ("GET", "/api/v1/admin/audit"),
    ("GET", "/api/v1/admin/stats"),
]


async def test_admin_routes_refuse_everyone_else(client: Client) -> None:
    _, user = await new_user(client)
    _, admin = await new_admin(client)
    admin_key_without_scope = (await new_key(client, admin))["key"]
    bodies = {"POST": {"name": "x", "email": new_email(), "password": PASSWORD}, "PATCH": {}}
    for method, path in ADMIN_ROUTES:
        body = bodies.get(method)
        anonymous = await client.request(method, path, json=body)
        assert anonymous.status_code == 401, (method, path)
        for headers in (bearer(user), {"X-API-Key": admin_key_without_scope}):
            refused = await client.request(method, path, json=body, headers=headers)
            assert refused.status_code == 403, (method, path, refused.text)
            assert refused.json()["error"]["type"] == "permission_error"
    admin_key = (await new_key(client, admin, scopes=["admin"]))["key"]
    stats = await client.get("/api/v1/admin/stats", headers={"X-API-Key": admin_key})
    assert stats.status_code == 200
    assert stats.json()["admins"] == 1


async def test_keys_without_a_scope_get_403(client: Client) -> None:
    _, token = await new_user(client)
    only_inference = (await new_key(client, token, scopes=["inference"]))["key"]
    headers = {"X-API-Key": only_inference}
    assert (await client.get("/test-scope/inference", headers=headers)).status_code == 200
    for scope in ("gpu", "billing"):
        refused = await client.get(f"/test-scope/{scope}", headers=headers)
        assert refused.status_code == 403
        assert scope in refused.json()["error"]["message"]
    # A logged-in user (JWT) holds every non-admin scope.
    for scope in ("inference", "gpu", "billing"):
        assert (await client.get(f"/test-scope/{scope}", headers=bearer(token))).status_code == 200


async def test_user_management(client: Client) -> None:
    _, admin = await new_admin(client)
    headers = bearer(admin)
    created = await client.post(
        "/api/v1/admin/users",
        json={
            "email": new_email("made"),
            "password": PASSWORD,
            "name": "Made",
            "rate_limit_per_minute": 30,
        },
        headers=headers,
    )
    assert created.status_code == 201
    user = created.json()
    assert user["rate_limit_per_minute"] == 30
    assert user["is_admin"] is False
    user_token = (await login(client, user["email"]))["token"]
    user_key = (await new_key(client, user_token))["key"]

    fetched = await client.get(f"/api/v1/admin/users/{user['id']}", headers=headers)
    assert fetched.json()["email"] == user["email"]
    listed = await client.get("/api/v1/admin/users", params={"search": "made-"}, headers=headers)
    assert [u["id"] for u in listed.json()["users"]] == [user["id"]]
    keys = await client.get(f"/api/v1/admin/users/{user['id']}/apikeys", headers=headers)
    assert len(keys.json()["api_keys"]) == 1

    patched = await client.patch(
        f"/api/v1/admin/users/{user['id']}",
        json={"name": "Renamed", "rate_limit_per_minute": 0},
        headers=headers,
    )
    assert patched.status_code == 200
    assert patched.json()["name"] == "Renamed"
    assert patched.json()["rate_limit_per_minute"] is None

    disabled = await client.patch(
        f"/api/v1/admin/users/{user['id']}", json={"is_active": False}, headers=headers
    )
    assert disabled.json()["is_active"] is False
    assert (await client.get("/api/v1/auth/me", headers=bearer(user_token))).status_code == 401
    assert (await client.get("/api/v1/auth/me", headers={"X-API-Key": user_key})).status_code == 401
    relogin = await client.post(
        "/api/v1/auth/login", json={"email": user["email"], "password": PASSWORD}
    )
    assert relogin.status_code == 401

    me = (await client.get("/api/v1/auth/me", headers=headers)).json()
    self_demote = await client.patch(
        f"/api/v1/admin/users/{me['id']}", json={"is_admin": False}, headers=headers
    )
    assert self_demote.status_code == 403
    missing = await client.get("/api/v1/admin/users/no-such-user", headers=headers)
    assert missing.status_code == 404
    bad = await client.patch(
        f"/api/v1/admin/users/{user['id']}", json={"rate_limit_per_minute": -1}, headers=headers
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "rate_limit_per_minute"


async def test_admin_acts_on_other_users_keys_and_sessions(client: Client) -> None:
    _, admin = await new_admin(client)
    headers = bearer(admin)
    email, user_token = await new_user(client)
    me = (await client.get("/api/v1/auth/me", headers=bearer(user_token))).json()
    made = await client.post(
        f"/api/v1/admin/users/{me['id']}/apikeys",
        json={"name": "issued by admin", "scopes": ["inference"]},
        headers=headers,
    )
    assert made.status_code == 201
    key = made.json()["key"]
    owner_view = await client.get("/api/v1/auth/me", headers={"X-API-Key": key})
    assert owner_view.json()["email"] == email
    revoked = await client.delete(f"/api/v1/admin/apikeys/{made.json()['id']}", headers=headers)
    assert revoked.status_code == 204
    assert (await client.get("/api/v1/auth/me", headers={"X-API-Key": key})).status_code == 401
    ended = await client.post(f"/api/v1/admin/users/{me['id']}/logout", headers=headers)
    assert ended.status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=bearer(user_token))).status_code == 401


async def test_audit_log_records_security_events(client: Client) -> None:
    admin_email, admin = await new_admin(client)
    email, token = await new_user(client)
    failed = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": "wrong-pass"}
    )
    assert failed.status_code == 401
    created = await new_key(client, token)
    await client.delete(f"/api/v1/auth/apikeys/{created['id']}", headers=bearer(token))
    page = await client.get("/api/v1/admin/audit", params={"limit": 50}, headers=bearer(admin))
    assert page.status_code == 200
    events = page.json()["events"]
    seen = [(e["action"], e["success"], e["actor_email"]) for e in events]
    assert ("login", False, email) in seen
    assert ("login", True, email) in seen
    assert ("login", True, admin_email) in seen
    assert ("apikey.create", True, email) in seen
    assert ("apikey.revoke", True, email) in seen
    assert all(e["ip"] for e in events if e["action"] == "login")
    assert [e["at"] for e in events] == sorted((e["at"] for e in events), reverse=True)
    only_logins = await client.get(
        "/api/v1/admin/audit", params={"action": "login", "limit": 2}, headers=bearer(admin)
    )
    body = only_logins.json()
    assert {e["action"] for e in body["events"]} == {"login"}
    assert body["next_before"] is not None
    assert PASSWORD not in page.text
    assert "wrong-pass" not in page.text
