"""Playground: chat with a model from the browser, tokens appearing as they stream.

The browser calls the public hot route (/v1/chat/completions on the data plane) itself, so
the answer takes the one inference path with its billing and limits. It authenticates
with a short-lived access token of the dashboard's own login session, fetched here with
the CSRF token: the session cookie stays HttpOnly, no API key ever reaches the page, and
signing out revokes the session and with it every token handed out."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotAuthorizedException

from gpuproxy.api.accounts.common import accounts_of
from gpuproxy.api.deps import ServicesDep
from gpuproxy.dashboard.render import SECURITY_HEADERS, page
from gpuproxy.dashboard.session import DASHBOARD_PREFIX
from gpuproxy.dashboard.web import DashboardController, check_csrf, signed_in

__all__ = ["PLAYGROUND_TOKEN_TTL_S", "DashboardPlaygroundController"]

#: Long enough for a conversation's next few turns; the page asks again when it runs out.
PLAYGROUND_TOKEN_TTL_S = 300


class DashboardPlaygroundController(DashboardController):
    path = DASHBOARD_PREFIX + "/playground"

    @get("/")
    async def playground(self, request: Request[Any, Any, Any]) -> Response[str]:
        signed_in(request)
        return page(request, "playground.html", base_url=str(request.base_url).rstrip("/"))

    @post("/token", status_code=200)
    async def token(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> Response[dict[str, Any]]:
        principal = signed_in(request)
        check_csrf(request, {})  # the token comes in the X-CSRF-Token header
        if principal.session_id is None:
            raise NotAuthorizedException("sign in to use the playground")
        now = int(time.time())
        issued = accounts_of(services).jwt.issue(
            user_id=principal.user_id,
            email=principal.email,
            is_admin=principal.is_admin,
            session_id=principal.session_id,
            now_s=now,
            not_after_s=now + PLAYGROUND_TOKEN_TTL_S,
        )
        return Response(
            {"token": issued.token, "expires_at": issued.expires_at}, headers=SECURITY_HEADERS
        )
