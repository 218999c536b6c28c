"""Rendering a dashboard page: the Jinja environment (templates shipped in the package)
and the security headers every dashboard response carries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from litestar import Request, Response
from litestar.datastructures import Cookie

from gpuproxy.accounts.principal import Principal
from gpuproxy.dashboard.session import SESSION_COOKIE, csrf_for

__all__ = ["SECURITY_HEADERS", "page"]

_env = Environment(
    loader=PackageLoader("gpuproxy.dashboard", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,  # a misspelt variable fails the test, not the reader
)


def _when(value: Any) -> str:
    """A timestamp as the API gives it (epoch seconds or milliseconds, or a datetime) in
    UTC; what it cannot read is shown as is."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        moment = datetime.fromtimestamp(value / 1000 if value > 10**11 else value, tz=UTC)
    else:
        return "" if value is None else str(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


_env.filters["when"] = _when

#: No inline script or style anywhere: scripts and styles come from /dashboard/static only,
#: so an injected <script> cannot run. frame-ancestors stops clickjacking of the forms.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    # Pages can show a key once: never keep them in a cache or the back/forward history.
    "cache-control": "no-store",
    "x-frame-options": "DENY",
}


def page(
    request: Request[Any, Any, Any],
    template: str,
    *,
    status: int = 200,
    cookies: list[Cookie] | None = None,
    csrf: str | None = None,
    **context: Any,
) -> Response[str]:
    """The HTML of `template` with the caller, active tab and CSRF token filled in.

    `csrf` overrides the token (the sign-in form binds it to its own nonce)."""
    user = request.scope.get("user")
    principal = user if isinstance(user, Principal) else None
    if csrf is None:
        session = request.cookies.get(SESSION_COOKIE)
        csrf = csrf_for(session) if session and principal is not None else ""
    html = _env.get_template(template).render(
        user=principal,
        is_admin=principal is not None and principal.is_admin,
        path=request.url.path,
        csrf_token=csrf,
        **context,
    )
    return Response(
        html,
        status_code=status,
        media_type="text/html; charset=utf-8",
        headers=SECURITY_HEADERS,
        cookies=cookies or [],
    )
