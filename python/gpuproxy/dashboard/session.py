"""The dashboard's browser session: its cookies, the CSRF tokens bound to them, and the
credential the authentication middleware (`gpuproxy.api.auth_middleware`) reads from the
session cookie.

Why a cookie at all: the pages are plain links and forms, so the browser must present the
credential by itself. It is the access token the login API issues (same session, same
revocation), kept where page scripts cannot read it (HttpOnly) and never sent by another
site's request (SameSite=Strict). The API's header authentication is untouched: the cookie
counts only on /dashboard paths, and only when the request carries no credential header.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from gpuproxy.accounts.keyformat import looks_like_key
from gpuproxy.asgi_types import Scope

__all__ = [
    "DASHBOARD_PREFIX",
    "PRE_COOKIE",
    "SESSION_COOKIE",
    "cookie_value",
    "csrf_for",
    "csrf_matches",
    "dashboard_credential_headers",
    "new_pre_token",
]

DASHBOARD_PREFIX = "/dashboard"
#: The access token (a JWT) of the signed-in browser.
SESSION_COOKIE = "gpx_dashboard"
#: A random value for the sign-in form, whose POST has no session yet (login CSRF).
PRE_COOKIE = "gpx_dashboard_pre"
_MAX_COOKIE = 4096
_CSRF_CONTEXT = b"gpuproxy dashboard csrf v1"


def cookie_value(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    """One cookie of an ASGI request's raw headers (None when absent or oversized)."""
    wanted = name.encode("latin-1") + b"="
    for header, value in headers:
        if header != b"cookie":
            continue
        for part in value.split(b";"):
            part = part.strip()
            if part.startswith(wanted):
                found = part[len(wanted) :]
                return found.decode("latin-1") if 0 < len(found) <= _MAX_COOKIE else None
    return None


def dashboard_credential_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """The headers the authentication middleware authenticates: the request's own, plus the
    session cookie as a Bearer token on /dashboard paths when no credential was sent.

    Only a JWT is taken from the cookie: an API key there (set by hand or by a script) is
    ignored, so the cookie can never carry a long-lived secret."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    path: str = scope.get("path", "")
    if not (path == DASHBOARD_PREFIX or path.startswith(DASHBOARD_PREFIX + "/")):
        return headers
    if any(name in (b"authorization", b"x-api-key") for name, _ in headers):
        return headers
    token = cookie_value(headers, SESSION_COOKIE)
    if token is None or looks_like_key(token):
        return headers
    return [*headers, (b"authorization", b"Bearer " + token.encode("latin-1"))]


def csrf_for(secret: str) -> str:
    """The CSRF token bound to a cookie value (the session token or the sign-in nonce).

    Synchronizer pattern without server state: the token is a keyed hash of a value only
    this browser holds (HttpOnly cookie), so another site can neither read nor compute it."""
    return hmac.new(secret.encode("latin-1"), _CSRF_CONTEXT, hashlib.sha256).hexdigest()


def csrf_matches(secret: str | None, presented: str | None) -> bool:
    if not secret or not presented:
        return False
    return hmac.compare_digest(csrf_for(secret), presented)


def new_pre_token() -> str:
    return secrets.token_urlsafe(24)
