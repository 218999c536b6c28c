"""What every dashboard handler shares: the signed-in caller, the CSRF check of
state-changing forms, and the answers to refusals (a page, not the API's JSON)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.params import PathParameter
from litestar.response import Redirect

from gpuproxy.accounts.principal import Principal
from gpuproxy.dashboard.render import SECURITY_HEADERS, page
from gpuproxy.dashboard.session import DASHBOARD_PREFIX, SESSION_COOKIE, csrf_matches
from gpuproxy.exceptions import ApiError

__all__ = [
    "DASHBOARD_EXCEPTION_HANDLERS",
    "CsrfRefused",
    "DashboardController",
    "PathId",
    "check_csrf",
    "checked_form",
    "signed_in",
    "signed_in_admin",
]

LOGIN_PATH = DASHBOARD_PREFIX + "/login"
#: An id in a dashboard path (a key, user or instance id).
PathId = Annotated[str, PathParameter(max_length=128)]


class CsrfRefused(PermissionDeniedException):
    """A state-changing request without this session's CSRF token, or sent by another site."""


def signed_in(request: Request[Any, Any, Any]) -> Principal:
    """The signed-in browser's account (a session token, never an API key: keys in a
    browser are what the dashboard avoids)."""
    user = request.scope.get("user")
    if not isinstance(user, Principal) or user.api_key_id is not None:
        raise NotAuthorizedException("sign in to use the dashboard")
    return user


def signed_in_admin(request: Request[Any, Any, Any]) -> Principal:
    principal = signed_in(request)
    if not principal.is_admin:
        raise PermissionDeniedException("this page is for administrators")
    return principal


def check_csrf(
    request: Request[Any, Any, Any], form: dict[str, Any], *, secret: str | None = None
) -> None:
    """Refuse a state-changing request another site could have sent.

    Two independent checks: the browser's own Sec-Fetch-Site (a cross-site form post says so),
    and the synchronizer token of the form, bound to the session cookie (or to the sign-in
    nonce, `secret`), which another site can neither read nor compute."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise CsrfRefused("cross-site request refused")
    bound = secret if secret is not None else request.cookies.get(SESSION_COOKIE)
    presented = form.get("csrf_token") or request.headers.get("x-csrf-token")
    if not csrf_matches(bound, presented if isinstance(presented, str) else None):
        raise CsrfRefused("missing or invalid CSRF token: reload the page and try again")


async def checked_form(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The posted form of a state-changing request, after its CSRF check."""
    form = dict(await request.form())
    check_csrf(request, form)
    return form


def _not_signed_in(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if request.method == "GET" and not request.url.path.endswith(".json"):
        return Redirect(LOGIN_PATH, status_code=303, headers=SECURITY_HEADERS)
    return page(
        request,
        "error.html",
        status=401,
        message="You are not signed in (or your session ended): sign in again.",
    )


def _forbidden(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    detail = getattr(exc, "detail", "") or "not allowed"
    return page(request, "error.html", status=403, message=str(detail))


def _api_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # The API's own refusals (bad input, limits, unavailable services) with their status
    # and message, as a page: the reader sees what the API would have said.
    assert isinstance(exc, ApiError)
    return page(request, "error.html", status=exc.http_status, message=exc.message)


DASHBOARD_EXCEPTION_HANDLERS: dict[Any, Any] = {
    NotAuthorizedException: _not_signed_in,
    PermissionDeniedException: _forbidden,
    ApiError: _api_error,
}


class DashboardController(Controller):
    """The base of every dashboard controller: pages are not API operations (no OpenAPI
    entry), and refusals are answered as pages."""

    include_in_schema = False
    exception_handlers = DASHBOARD_EXCEPTION_HANDLERS
