"""The dashboard's session over real HTTP through the public port: sign in sets an
HttpOnly SameSite=Strict cookie that counts on /dashboard only; CSRF on every form; keys
shown once; admins only on the admin page; sign out revokes the session."""

from __future__ import annotations

import uuid

import httpx
import pytest
from tests.gateway.support import GatewayServer

from gpuproxy.dashboard.session import SESSION_COOKIE

from .helpers import csrf_of, refused_naming, sign_in

pytestmark = pytest.mark.timeout(60)


def _client(gateway: GatewayServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gateway.url, timeout=10)


async def test_sign_in_sets_a_strict_http_only_cookie(gateway: GatewayServer) -> None:
    user = await gateway.user()
    async with _client(gateway) as client:
        answer = await sign_in(client, user.email)
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/dashboard/overview"
        cookie = next(
            h for h in answer.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "=")
        )
        lowered = cookie.lower()
        assert "httponly" in lowered
        assert "samesite=strict" in lowered
        assert "path=/dashboard" in lowered
        overview = await client.get("/dashboard/overview")
        assert overview.status_code == 200
        assert user.email in overview.text
        csp = overview.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "<script>" not in overview.text  # no inline script anywhere
        live = await client.get("/dashboard/overview.json")
        assert live.status_code == 200
        assert len(live.json()["windows"]) == 17


async def test_the_cookie_is_not_a_credential_for_the_api(gateway: GatewayServer) -> None:
    user = await gateway.user()
    async with _client(gateway) as client:
        assert (await sign_in(client, user.email)).status_code == 303
        token = client.cookies[SESSION_COOKIE]
        # Sent by hand to an API path: ignored there (the API takes headers only).
        me = await client.get("/api/v1/auth/me", headers={"cookie": f"{SESSION_COOKIE}={token}"})
        assert me.status_code == 401


async def test_wrong_password_shows_the_error_and_no_session(gateway: GatewayServer) -> None:
    user = await gateway.user()
    async with _client(gateway) as client:
        answer = await sign_in(client, user.email, "not the password")
        assert answer.status_code == 401
        assert 'role="alert"' in answer.text
        assert SESSION_COOKIE not in client.cookies
        assert (await client.get("/dashboard/keys")).status_code == 303


async def test_sign_in_without_the_form_token_is_refused(gateway: GatewayServer) -> None:
    user = await gateway.user()
    async with _client(gateway) as client:
        await client.get("/dashboard/login")
        answer = await client.post(
            "/dashboard/login", data={"email": user.email, "password": "correct horse battery"}
        )
        assert answer.status_code == 403
        assert SESSION_COOKIE not in client.cookies


async def test_key_shown_once_listed_and_revoked(gateway: GatewayServer) -> None:
    user = await gateway.user()
    async with _client(gateway) as client:
        await sign_in(client, user.email)
        page = await client.get("/dashboard/keys")
        token = csrf_of(page.text)
        created = await client.post(
            "/dashboard/keys",
            data={"name": "from the dashboard", "scopes": ["inference"], "csrf_token": token},
        )
        assert created.status_code == 201, created.text
        key = created.text.split('id="new-key" type="text" readonly value="')[1].split('"')[0]
        assert key.startswith("gpx_")
        # The key works on the API, and no later page shows it again.
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as api:
            me = await api.get("/api/v1/auth/me", headers={"X-API-Key": key})
            assert me.status_code == 200
        listing = await client.get("/dashboard/keys")
        assert key not in listing.text
        assert "from the dashboard" in listing.text
        key_id = key.split("_")[1]
        revoked = await client.post(
            f"/dashboard/keys/{key_id}/revoke", data={"csrf_token": csrf_of(listing.text)}
        )
        assert revoked.status_code == 303
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as api:
            assert (await api.get("/api/v1/auth/me", headers={"X-API-Key": key})).status_code == 401


async def test_bad_rate_limit_names_the_field(gateway: GatewayServer) -> None:
    user = await gateway.user()
    async with _client(gateway) as client:
        await sign_in(client, user.email)
        token = csrf_of((await client.get("/dashboard/keys")).text)
        answer = await client.post(
            "/dashboard/keys",
            data={"name": "k", "rate_limit_per_minute": "lots", "csrf_token": token},
        )
        assert answer.status_code == 400
        assert "rate_limit_per_minute" in answer.text
        bad_date = await client.post(
            "/dashboard/keys", data={"name": "k", "expires_at": "soon", "csrf_token": token}
        )
        assert bad_date.status_code == 400
        assert "expires_at" in bad_date.text
        past = await client.post(
            "/dashboard/keys", data={"name": "k", "expires_at": "2001-01-01", "csrf_token": token}
        )
        assert past.status_code == 400
        dated = await client.post(
            "/dashboard/keys", data={"name": "k", "expires_at": "2999-12-31", "csrf_token": token}
        )
        assert dated.status_code == 201
        assert "3000-01-01 00:00 UTC" in dated.text


async def test_state_changes_need_the_csrf_token_and_same_site(gateway: GatewayServer) -> None:
    user = await gateway.user()
    async with _client(gateway) as client:
        await sign_in(client, user.email)
        token = csrf_of((await client.get("/dashboard/keys")).text)
        missing = await client.post("/dashboard/keys", data={"name": "forged"})
        assert missing.status_code == 403
        wrong = await client.post("/dashboard/keys", data={"name": "forged", "csrf_token": "00"})
        assert wrong.status_code == 403
        cross = await client.post(
            "/dashboard/keys",
            data={"name": "forged", "csrf_token": token},
            headers={"sec-fetch-site": "cross-site"},
        )
        assert cross.status_code == 403
        assert "forged" not in (await client.get("/dashboard/keys")).text


async def test_admin_pages_are_for_admins_only(gateway: GatewayServer) -> None:
    user = await gateway.user()
    admin = await gateway.user(admin=True)
    async with _client(gateway) as client:
        await sign_in(client, user.email)
        assert (await client.get("/dashboard/admin")).status_code == 403
        overview = await client.get("/dashboard/overview")
        assert 'href="/dashboard/admin"' not in overview.text
        assert (await client.get("/dashboard/overview.json")).json()["gateway"] is None
        refused = await client.post(
            "/dashboard/admin/strategy",
            data={"strategy": "least_connections", "csrf_token": csrf_of(overview.text)},
        )
        assert refused.status_code == 403
    async with _client(gateway) as client:
        await sign_in(client, admin.email)
        page = await client.get("/dashboard/admin")
        assert page.status_code == 200
        assert user.email in page.text
        assert "queue_depth" in (await client.get("/dashboard/overview.json")).json()["gateway"]
        token = csrf_of(page.text)
        data = {"strategy": "x", "csrf_token": token}
        await refused_naming(client, "/dashboard/admin/strategy", data, "strategy")
        switched = await client.post(
            "/dashboard/admin/strategy", data={"strategy": "round_robin", "csrf_token": token}
        )
        assert switched.status_code == 303
        assert 'id="current-strategy">round_robin<' in (await client.get("/dashboard/admin")).text
        off = await client.post(
            f"/dashboard/admin/users/{user.id}/active",
            data={"active": "false", "csrf_token": token},
        )
        assert off.status_code == 303
    # Deactivated: the user's key stops working, like PATCH /api/v1/admin/users/{id}.
    async with _client(gateway) as client:
        assert (await client.get("/api/v1/auth/me", headers=user.headers)).status_code == 401


async def test_sign_out_revokes_the_session(gateway: GatewayServer) -> None:
    user = await gateway.user()
    async with _client(gateway) as client:
        await sign_in(client, user.email)
        token = client.cookies[SESSION_COOKIE]
        page = await client.get("/dashboard/overview")
        out = await client.post("/dashboard/logout", data={"csrf_token": csrf_of(page.text)})
        assert out.status_code == 303
        assert (await client.get("/dashboard/overview")).status_code == 303
    async with _client(gateway) as client:
        # The old token, replayed: the session is gone, not only the cookie.
        client.cookies.set(SESSION_COOKIE, token, path="/dashboard")
        assert (await client.get("/dashboard/overview.json")).status_code == 401


async def test_register_then_signed_in_and_errors_explained(gateway: GatewayServer) -> None:
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    async with _client(gateway) as client:

        async def register(password: str) -> httpx.Response:
            form = await client.get("/dashboard/register")
            data = {"email": email, "password": password, "csrf_token": csrf_of(form.text)}
            return await client.post("/dashboard/register", data=data)

        short = await register("short")
        assert short.status_code == 400
        assert "password" in short.text
        created = await register("a long enough password")
        assert created.status_code == 303
        assert email in (await client.get("/dashboard/overview")).text
        taken = await register("a long enough password")
        assert taken.status_code == 409
