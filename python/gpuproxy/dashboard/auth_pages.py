"""Sign in, register and sign out: the accounts service's own login, registration and
logout, with the access token kept in the dashboard's session cookie."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.response import Redirect

from gpuproxy.accounts.principal import Principal
from gpuproxy.api.accounts.common import accounts_of, client_ip, user_agent
from gpuproxy.api.deps import ServicesDep
from gpuproxy.dashboard.render import SECURITY_HEADERS, page
from gpuproxy.dashboard.session import (
    DASHBOARD_PREFIX,
    PRE_COOKIE,
    SESSION_COOKIE,
    csrf_for,
    new_pre_token,
)
from gpuproxy.dashboard.web import DashboardController, check_csrf, checked_form, signed_in
from gpuproxy.exceptions import ApiError
from gpuproxy.services import Services

__all__ = ["DashboardAuthController"]

_MAX_FIELD = 320


def _cookie(request: Request[Any, Any, Any], key: str, value: str, max_age: int) -> Cookie:
    # Secure whenever the browser reached us over TLS; plain http is loopback/dev use.
    return Cookie(
        key=key,
        value=value,
        max_age=max_age,
        path=DASHBOARD_PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https",
    )


def _form_page(
    request: Request[Any, Any, Any],
    template: str,
    *,
    status: int = 200,
    message: str = "",
    email: str = "",
) -> Response[str]:
    """The sign-in or registration form, with a fresh nonce cookie its CSRF token is bound
    to (login CSRF: another site cannot sign a browser into the attacker's account)."""
    nonce = new_pre_token()
    return page(
        request,
        template,
        status=status,
        csrf=csrf_for(nonce),
        message=message,
        email=email,
        cookies=[_cookie(request, PRE_COOKIE, nonce, 900)],
    )


async def _posted_form(request: Request[Any, Any, Any]) -> dict[str, str]:
    form = await request.form()
    check_csrf(request, dict(form), secret=request.cookies.get(PRE_COOKIE) or "")
    return {k: str(v)[:_MAX_FIELD] for k, v in form.items()}


async def _start_session(
    request: Request[Any, Any, Any], services: Services, email: str, password: str, template: str
) -> Response[Any]:
    """Log in with the accounts service and keep the access token in the session cookie;
    a refusal re-renders `template` with the API's message and status."""
    try:
        result = await accounts_of(services).login(
            email=email, password=password, ip=client_ip(request), user_agent=user_agent(request)
        )
    except ApiError as exc:
        return _form_page(
            request, template, status=exc.http_status, message=exc.message, email=email
        )
    max_age = max(1, result.access.expires_at - int(time.time()))
    session = _cookie(request, SESSION_COOKIE, result.access.token, max_age)
    gone = _cookie(request, PRE_COOKIE, "", 0)
    return Redirect(
        DASHBOARD_PREFIX + "/overview",
        status_code=303,
        headers=SECURITY_HEADERS,
        cookies=[session, gone],
    )


class DashboardAuthController(DashboardController):
    path = DASHBOARD_PREFIX

    @get("/", name="dashboard:root")
    async def root(self, request: Request[Any, Any, Any]) -> Redirect:
        user = request.scope.get("user")
        target = "/overview" if isinstance(user, Principal) else "/login"
        return Redirect(DASHBOARD_PREFIX + target, status_code=303, headers=SECURITY_HEADERS)

    @get("/login")
    async def login_form(self, request: Request[Any, Any, Any]) -> Response[str]:
        return _form_page(request, "login.html")

    @post("/login", status_code=200)
    async def login(self, request: Request[Any, Any, Any], services: ServicesDep) -> Response[Any]:
        form = await _posted_form(request)
        email, password = form.get("email", ""), form.get("password", "")
        if not email or not password:
            message = "email and password are required"
            return _form_page(request, "login.html", status=400, message=message, email=email)
        return await _start_session(request, services, email, password, "login.html")

    @get("/register")
    async def register_form(self, request: Request[Any, Any, Any]) -> Response[str]:
        return _form_page(request, "register.html")

    @post("/register", status_code=200)
    async def register(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> Response[Any]:
        """Self-service registration, as POST /api/v1/auth/register (the same checks and
        messages: password length, taken email), then signed in."""
        form = await _posted_form(request)
        email, password = form.get("email", ""), form.get("password", "")
        try:
            await accounts_of(services).register(
                email=email, password=password, name=form.get("name", ""), ip=client_ip(request)
            )
        except ApiError as exc:
            return _form_page(
                request, "register.html", status=exc.http_status, message=exc.message, email=email
            )
        return await _start_session(request, services, email, password, "login.html")

    @post("/logout", status_code=200)
    async def logout(self, request: Request[Any, Any, Any], services: ServicesDep) -> Response[Any]:
        principal = signed_in(request)
        await checked_form(request)
        # Revokes the session itself: the token stops working everywhere, not only here.
        await accounts_of(services).logout(principal, ip=client_ip(request))
        return Redirect(
            DASHBOARD_PREFIX + "/login",
            status_code=303,
            headers=SECURITY_HEADERS,
            cookies=[_cookie(request, SESSION_COOKIE, "", 0)],
        )
