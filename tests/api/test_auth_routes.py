"""/api/v1/auth on the embedded default (SQLite, in-memory state), through the whole app."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import jwt
import pytest
from litestar import Litestar
from litestar.di import Provide
from litestar.testing import AsyncTestClient
from tests.accounts.support import (
    FAST,
    PASSWORD,
    accounts_of,
    app_client,
    bearer,
    in_app,
    login,
    new_email,
    new_key,
    new_user,
    register,
)

from gpuproxy.accounts.passwords import PasswordHasher
from gpuproxy.accounts.tokens import ISSUER
from gpuproxy.api.accounts.admin import AdminController
from gpuproxy.api.accounts.auth import AuthController
from gpuproxy.config import Settings

Client = AsyncTestClient[Any]


@pytest.fixture
async def client(make_settings: Callable[..., Settings]) -> AsyncIterator[Client]:
    async with app_client(make_settings(**FAST)) as c:
        yield c


def _error(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


async def test_register_normalises_and_refuses_duplicates(client: Client) -> None:
    email = new_email("Reg").upper()
    response = await client.post(
        "/api/v1/auth/register", json={"email": f"  {email} ", "password": PASSWORD, "name": "R"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == email.lower()
    assert body["is_admin"] is False
    assert "password" not in response.text
    assert "password_hash" not in body
    again = await client.post(
        "/api/v1/auth/register", json={"email": email.lower(), "password": PASSWORD + "x"}
    )
    assert again.status_code == 409
    assert _error(again) == {
        "message": "an account with this email already exists",
        "type": "conflict_error",
        "code": "email_taken",
    }


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "a@example.com", "password": "short"}, "password"),
        ({"email": "same-as@example.com", "password": "Same-As@Example.com"}, "password"),
        ({"password": PASSWORD}, "email"),
        ({"email": "a@example.com"}, "password"),
        ({"email": "a@example.com", "password": PASSWORD, "name": "x" * 201}, "name"),
        ({"email": 5, "password": PASSWORD}, "email"),
    ],
)
async def test_register_bad_input_names_the_field(
    client: Client, body: dict[str, Any], param: str
) -> None:
    response = await client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 400, response.text
    error = _error(response)
    # A missing field is reported by Litestar on the body as a whole ("data"); the
    # message still names the field.
    assert error["param"] == param or (
        error["param"] == "data" and f"`{param}`" in error["message"]
    )


async def test_login_returns_tokens_with_the_claims(client: Client) -> None:
    email = await register(client)
    tokens = await login(client, email)
    assert tokens["token"] == tokens["access_token"]
    assert tokens["token_type"] == "Bearer"
    assert 86_300 <= tokens["expires_in"] <= 86_400
    assert tokens["refresh_token"].startswith("gpx_rt_")
    claims = jwt.decode(tokens["token"], options={"verify_signature": False})
    assert claims["sub"] == tokens["user_id"]
    assert claims["email"] == email
    assert claims["is_admin"] is False
    assert claims["iss"] == ISSUER
    assert claims["exp"] - claims["iat"] == 86_400
    assert claims["jti"]
    assert claims["sid"]
    me = await client.get("/api/v1/auth/me", headers=bearer(tokens["token"]))
    assert me.status_code == 200
    assert me.json()["email"] == email
    assert me.json()["auth"] == "jwt"
    assert me.json()["last_login_at"] is not None


async def test_wrong_password_and_unknown_email_look_the_same(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = await register(client)
    checks: list[str] = []
    original = PasswordHasher.verify_sync

    def counted(secret: str, hashed: str) -> bool:
        checks.append(secret)
        return original(secret, hashed)

    monkeypatch.setattr(PasswordHasher, "verify_sync", staticmethod(counted))
    wrong = await client.post("/api/v1/auth/login", json={"email": email, "password": "nope" * 3})
    unknown = await client.post(
        "/api/v1/auth/login", json={"email": new_email(), "password": "nope" * 3}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert _error(wrong)["message"] == "invalid email or password"
    # Both paths ran one bcrypt check: the unknown account costs the same time.
    assert checks == ["nope" * 3, "nope" * 3]


async def test_failed_logins_are_throttled_per_account(
    make_settings: Callable[..., Settings],
) -> None:
    async with app_client(make_settings(**FAST, LOGIN_MAX_FAILURES="3")) as client:
        email = await register(client)
        for _ in range(3):
            response = await client.post(
                "/api/v1/auth/login", json={"email": email, "password": "wrong-password"}
            )
            assert response.status_code == 401
        blocked = await client.post(
            "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
        )
        assert blocked.status_code == 429
        assert 800 <= int(blocked.headers["retry-after"]) <= 901
        assert _error(blocked)["code"] == "login_throttled"
        # Unknown accounts are throttled alike (no way to tell them apart).
        ghost = new_email()
        codes = [
            (
                await client.post("/api/v1/auth/login", json={"email": ghost, "password": "x"})
            ).status_code
            for _ in range(4)
        ]
        assert codes == [401, 401, 401, 429]
        other = await register(client)
        assert (await login(client, other))["token"]


async def test_failed_logins_are_throttled_per_ip(make_settings: Callable[..., Settings]) -> None:
    async with app_client(make_settings(**FAST, LOGIN_MAX_FAILURES_PER_IP="4")) as client:
        codes = [
            (
                await client.post(
                    "/api/v1/auth/login", json={"email": new_email(), "password": "wrong-password"}
                )
            ).status_code
            for _ in range(5)
        ]
        assert codes == [401, 401, 401, 401, 429]


async def test_refresh_rotates_and_reuse_revokes_the_session(client: Client) -> None:
    email = await register(client)
    first = await login(client, email)
    rotated = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["token"] != first["token"]
    claims = [jwt.decode(t["token"], options={"verify_signature": False}) for t in (first, second)]
    assert claims[0]["sid"] == claims[1]["sid"]
    assert claims[0]["jti"] != claims[1]["jti"]
    assert (await client.get("/api/v1/auth/me", headers=bearer(second["token"]))).status_code == 200

    reuse = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert reuse.status_code == 401
    assert "revoked" in _error(reuse)["message"]
    # The thief's copy and the legitimate newest tokens are all dead now.
    for token in (first["token"], second["token"]):
        assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status_code == 401
    later = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert later.status_code == 401
    events = in_app(client, accounts_of(client).audit.list)
    assert any(e.action == "refresh_reuse" and not e.success for e in events)
    # A fresh login still works.
    assert (await login(client, email))["token"]


async def test_bad_refresh_tokens(client: Client) -> None:
    for token in ("", "x" * 600, "gpx_rt_never-issued", "eyJhbGciOi.not.refresh"):
        response = await client.post("/api/v1/auth/refresh", json={"refresh_token": token})
        assert response.status_code in (400, 401), token
    assert (await client.post("/api/v1/auth/refresh", json={})).status_code == 400


async def test_logout_revokes_the_session(client: Client) -> None:
    email = await register(client)
    tokens = await login(client, email)
    other_device = await login(client, email)
    assert (await client.post("/api/v1/auth/logout")).status_code == 401
    out = await client.post("/api/v1/auth/logout", headers=bearer(tokens["token"]))
    assert out.status_code == 200
    assert (
        out.json()["revoked_session"]
        == jwt.decode(tokens["token"], options={"verify_signature": False})["sid"]
    )
    assert (await client.get("/api/v1/auth/me", headers=bearer(tokens["token"]))).status_code == 401
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 401
    # Only that session: the other device stays logged in.
    assert (
        await client.get("/api/v1/auth/me", headers=bearer(other_device["token"]))
    ).status_code == 200


async def test_logout_with_an_api_key_names_the_session(client: Client) -> None:
    email, token = await new_user(client)
    key = (await new_key(client, token))["key"]
    headers = {"X-API-Key": key}
    missing = await client.post("/api/v1/auth/logout", headers=headers)
    assert missing.status_code == 400
    assert _error(missing)["param"] == "refresh_token"
    session = await login(client, email)
    _, stranger = await new_user(client)
    strangers_refresh = (
        await login(
            client, (await client.get("/api/v1/auth/me", headers=bearer(stranger))).json()["email"]
        )
    )["refresh_token"]
    foreign = await client.post(
        "/api/v1/auth/logout", headers=headers, json={"refresh_token": strangers_refresh}
    )
    assert foreign.status_code == 401
    own = await client.post(
        "/api/v1/auth/logout", headers=headers, json={"refresh_token": session["refresh_token"]}
    )
    assert own.status_code == 200
    assert (
        await client.get("/api/v1/auth/me", headers=bearer(session["token"]))
    ).status_code == 401


async def test_tampered_expired_and_foreign_tokens_are_refused(
    client: Client, make_settings: Callable[..., Settings]
) -> None:
    email = await register(client)
    token = (await login(client, email))["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    secret = make_settings().jwt_secret
    now = int(time.time())
    forged_admin = jwt.encode({**claims, "is_admin": True}, "x" * 48, algorithm="HS256")
    expired = jwt.encode(
        {**claims, "iat": now - 7200, "exp": now - 3600}, secret, algorithm="HS256"
    )
    other_session = jwt.encode({**claims, "sid": "no-such-session"}, secret, algorithm="HS256")
    other_user = jwt.encode({**claims, "sub": "someone-else"}, secret, algorithm="HS256")
    head, payload, signature = token.split(".")
    for bad in (
        forged_admin,
        expired,
        other_session,
        other_user,
        f"{head}.{payload}.{signature[::-1]}",
        "garbage",
        token + "x",
    ):
        response = await client.get("/api/v1/auth/me", headers=bearer(bad))
        assert response.status_code == 401, bad
        assert _error(response)["type"] == "authentication_error"
    assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status_code == 200


async def test_api_key_lifecycle(client: Client) -> None:
    _, token = await new_user(client)
    created = await new_key(client, token, name="prod", rate_limit_per_minute=100)
    key = created["key"]
    assert key == created["api_key"]
    assert key.startswith(created["prefix"])
    assert created["prefix"] == f"gpx_{created['id']}_"
    assert len(key) >= len(created["prefix"]) + 43
    assert created["scopes"] == ["billing", "gpu", "inference"]
    assert created["active"] is True
    for headers in ({"X-API-Key": key}, bearer(key)):
        me = await client.get("/api/v1/auth/me", headers=headers)
        assert me.status_code == 200
        assert me.json()["api_key_id"] == created["id"]
        assert me.json()["auth"] == "api_key"

    listed = await client.get("/api/v1/auth/apikeys", headers=bearer(token))
    assert listed.status_code == 200
    assert [k["id"] for k in listed.json()["api_keys"]] == [created["id"]]
    assert key.split("_", 2)[2] not in listed.text  # never the secret again
    seeds_path = await client.get("/api/v1/auth/apikey", headers=bearer(token))
    assert seeds_path.json() == listed.json()

    revoked = await client.delete(f"/api/v1/auth/apikeys/{created['id']}", headers=bearer(token))
    assert revoked.status_code == 204
    assert (await client.get("/api/v1/auth/me", headers={"X-API-Key": key})).status_code == 401
    listed = await client.get("/api/v1/auth/apikeys", headers=bearer(token))
    entry = listed.json()["api_keys"][0]
    assert entry["active"] is False
    assert entry["revoked_at"] is not None


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"name": ""}, 400, "name"),
        ({"name": "k", "scopes": ["everything"]}, 400, "scopes"),
        ({"name": "k", "scopes": []}, 400, "scopes"),
        ({"name": "k", "rate_limit_per_minute": 0}, 400, "rate_limit_per_minute"),
        ({"name": "k", "expires_at": "2001-01-01T00:00:00Z"}, 400, "expires_at"),
        ({"name": "k", "expires_at": "2999-01-01T00:00:00"}, 400, "expires_at"),
        ({"name": "k", "scopes": ["admin"]}, 403, "scopes"),
    ],
)
async def test_api_key_bad_requests(
    client: Client, body: dict[str, Any], status: int, param: str
) -> None:
    _, token = await new_user(client)
    response = await client.post("/api/v1/auth/apikeys", json=body, headers=bearer(token))
    assert response.status_code == status, response.text
    found = _error(response).get("param")
    assert found is not None
    assert found.startswith(param)  # "scopes[0]" names the bad element


async def test_users_cannot_see_or_revoke_each_others_keys(client: Client) -> None:
    _, alice = await new_user(client, "alice")
    _, bob = await new_user(client, "bob")
    bobs = await new_key(client, bob, name="bob's key")
    alices = await new_key(client, alice)
    listed = await client.get("/api/v1/auth/apikeys", headers=bearer(alice))
    assert [k["id"] for k in listed.json()["api_keys"]] == [alices["id"]]
    for path in (f"/api/v1/auth/apikeys/{bobs['id']}", f"/api/v1/auth/apikey/{bobs['id']}"):
        attempt = await client.delete(path, headers=bearer(alice))
        assert attempt.status_code == 404
        assert _error(attempt)["message"] == "API key not found"
    # Same answer as for a key that does not exist at all.
    missing = await client.delete("/api/v1/auth/apikeys/0000000000000000", headers=bearer(alice))
    assert missing.status_code == 404
    assert missing.json() == attempt.json()
    assert (
        await client.get("/api/v1/auth/me", headers={"X-API-Key": bobs["key"]})
    ).status_code == 200


async def test_change_password_ends_sessions(client: Client) -> None:
    email, token = await new_user(client)
    wrong = await client.post(
        "/api/v1/auth/password",
        json={"current_password": "not-the-password", "new_password": "brand new password"},
        headers=bearer(token),
    )
    assert wrong.status_code == 400
    assert _error(wrong)["param"] == "current_password"
    changed = await client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "brand new password"},
        headers=bearer(token),
    )
    assert changed.status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status_code == 401
    assert (await login(client, email, "brand new password"))["token"]
    old = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert old.status_code == 401


def test_openapi_describes_the_auth_routes() -> None:
    # The schema of these controllers alone, so another area's schema problem cannot hide
    # (or be blamed on) this one; /schema serves the union of every area's.
    app = Litestar(
        route_handlers=[AuthController, AdminController],
        dependencies={"services": Provide(lambda: None, sync_to_thread=False)},
    )
    schema = app.openapi_schema.to_schema()
    paths = schema["paths"]
    for path, method in (
        ("/api/v1/auth/register", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/auth/me", "get"),
        ("/api/v1/auth/apikey", "post"),
        ("/api/v1/auth/apikeys", "get"),
        ("/api/v1/auth/apikeys/{key_id}", "delete"),
        ("/api/v1/admin/users", "get"),
        ("/api/v1/admin/users/{user_id}", "patch"),
        ("/api/v1/admin/apikeys/{key_id}", "patch"),
        ("/api/v1/admin/audit", "get"),
    ):
        assert method in paths[path], (path, method)
    register_schema = schema["components"]["schemas"]["RegisterRequest"]
    assert set(register_schema["required"]) == {"email", "password"}
    assert register_schema["properties"]["password"]["minLength"] == 10
