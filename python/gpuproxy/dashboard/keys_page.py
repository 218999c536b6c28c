"""API keys: create (the key shown once, on the answer to the form and nowhere else), list
with last use and request count, revoke. The accounts service does the work, with the
same rules as /api/v1/auth/apikeys."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect

from gpuproxy.accounts.principal import ALL_SCOPES, Principal
from gpuproxy.api.accounts.common import accounts_of, client_ip
from gpuproxy.api.accounts.schemas import key_out
from gpuproxy.api.deps import ServicesDep
from gpuproxy.clock import now_ms
from gpuproxy.dashboard.render import SECURITY_HEADERS, page
from gpuproxy.dashboard.session import DASHBOARD_PREFIX
from gpuproxy.dashboard.web import DashboardController, PathId, check_csrf, checked_form, signed_in
from gpuproxy.exceptions import ApiError
from gpuproxy.services import Services

__all__ = ["DashboardKeysController"]

_KEYS = DASHBOARD_PREFIX + "/keys"


def _scopes_for(principal: Principal) -> list[str]:
    """The scopes the form offers: what this account may grant (admin only to admins)."""
    return sorted(s for s in ALL_SCOPES if s != "admin" or principal.is_admin)


async def _keys_page(
    request: Request[Any, Any, Any],
    services: Services,
    principal: Principal,
    *,
    status: int = 200,
    created: Any = None,
    message: str = "",
) -> Response[str]:
    keys = await accounts_of(services).list_api_keys(principal.user_id)
    at = now_ms()
    return page(
        request,
        "keys.html",
        status=status,
        keys=[key_out(k, at) for k in keys],
        scopes=_scopes_for(principal),
        created=created,
        message=message,
    )


def _expires_at_ms(raw: str) -> int | None:
    """The form's date (YYYY-MM-DD): the key works until the end of that day, UTC."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ApiError("expires_at must be a date (YYYY-MM-DD)", param="expires_at") from None
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return int(end.timestamp() * 1000)


def _rate_limit(raw: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ApiError(
            "rate_limit_per_minute must be a whole number", param="rate_limit_per_minute"
        )
    return int(raw)


class DashboardKeysController(DashboardController):
    path = _KEYS

    @get("/")
    async def keys(self, request: Request[Any, Any, Any], services: ServicesDep) -> Response[str]:
        return await _keys_page(request, services, signed_in(request))

    @post("/", status_code=200)
    async def create(self, request: Request[Any, Any, Any], services: ServicesDep) -> Response[str]:
        principal = signed_in(request)
        form = await request.form()
        check_csrf(request, dict(form))
        try:
            scopes = [str(s) for s in form.getall("scopes")] if "scopes" in form else None
            key, full_key = await accounts_of(services).create_api_key(
                principal,
                name=str(form.get("name", "")),
                scopes=scopes or None,
                rate_limit_per_minute=_rate_limit(str(form.get("rate_limit_per_minute", ""))),
                expires_at_ms=_expires_at_ms(str(form.get("expires_at", ""))),
                ip=client_ip(request),
            )
        except ApiError as exc:
            return await _keys_page(
                request, services, principal, status=exc.http_status, message=exc.message
            )
        # Shown in this answer only: the page is not cached (no-store) and not stored.
        created = {"name": key.name, "key": full_key, "id": key.id}
        return await _keys_page(request, services, principal, status=201, created=created)

    @post("/{key_id:str}/revoke", status_code=200)
    async def revoke(
        self, request: Request[Any, Any, Any], services: ServicesDep, key_id: PathId
    ) -> Response[Any]:
        principal = signed_in(request)
        await checked_form(request)
        try:
            await accounts_of(services).revoke_api_key(principal, key_id, ip=client_ip(request))
        except ApiError as exc:
            return await _keys_page(
                request, services, principal, status=exc.http_status, message=exc.message
            )
        return Redirect(_KEYS, status_code=303, headers=SECURITY_HEADERS)
