"""Admin: the accounts of the service (first page, with activate/deactivate) and the
load-balancer strategy switch, for administrators only. A non-admin gets the 403 page, as
the admin API answers 403."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect

from gpuproxy.api.accounts.common import accounts_of, client_ip
from gpuproxy.api.accounts.schemas import user_out
from gpuproxy.api.deps import ServicesDep
from gpuproxy.api.gpu.common import providers_of
from gpuproxy.dashboard.render import SECURITY_HEADERS, page
from gpuproxy.dashboard.session import DASHBOARD_PREFIX
from gpuproxy.dashboard.web import DashboardController, PathId, checked_form, signed_in_admin
from gpuproxy.exceptions import ApiError
from gpuproxy.providers.service import strategy_names

__all__ = ["DashboardAdminController"]

_ADMIN = DASHBOARD_PREFIX + "/admin"
_PAGE_SIZE = 100


class DashboardAdminController(DashboardController):
    path = _ADMIN

    @get("/")
    async def users(self, request: Request[Any, Any, Any], services: ServicesDep) -> Response[str]:
        admin = signed_in_admin(request)
        users = await accounts_of(services).users.list(limit=_PAGE_SIZE, offset=0, search="")
        return page(
            request,
            "admin.html",
            users=[user_out(u) for u in users],
            strategy=await providers_of(services).strategy(),
            strategies=list(strategy_names()),
            me=admin.user_id,
        )

    @post("/strategy", status_code=200)
    async def set_strategy(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> Redirect:
        signed_in_admin(request)
        form = await checked_form(request)
        # Same call as PUT /api/v1/loadbalancer/strategy (400 names an unknown strategy).
        await providers_of(services).set_strategy(form.get("strategy"))
        return Redirect(_ADMIN, status_code=303, headers=SECURITY_HEADERS)

    @post("/users/{user_id:str}/active", status_code=200)
    async def set_active(
        self, request: Request[Any, Any, Any], services: ServicesDep, user_id: PathId
    ) -> Redirect:
        """Activate or deactivate an account, as PATCH /api/v1/admin/users/{id}: a
        deactivated user's sessions and keys stop working on every instance."""
        principal = signed_in_admin(request)
        form = await checked_form(request)
        active = form.get("active")
        if active not in ("true", "false"):
            raise ApiError("active must be true or false", param="active")
        await accounts_of(services).update_user(
            principal, user_id, ip=client_ip(request), is_active=active == "true"
        )
        return Redirect(_ADMIN, status_code=303, headers=SECURITY_HEADERS)
