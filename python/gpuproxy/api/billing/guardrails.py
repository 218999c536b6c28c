"""Guard-rail routes: spending over the 17 windows, a dry-run check, admin reset and limits.

Window names are the seed's (`5min` ... `1440min`, `48h`, `72h`); money is dollar strings
plus exact `*_micros` integers.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK

from gpuproxy.api.billing.common import (
    Amount,
    billing_of,
    caller_page,
    notifications_page,
    parse_amount,
)
from gpuproxy.api.deps import ServicesDep
from gpuproxy.api.guards import principal_of, requires_admin, requires_scope
from gpuproxy.billing.errors import BillingNotFound, InvalidBillingInput
from gpuproxy.billing.service import LIMITS_CHANNEL, BillingService
from gpuproxy.billing.windows import WINDOW_NAMES
from gpuproxy.money import micros_to_dollars

__all__ = [
    "GuardRailsAdminController",
    "GuardRailsController",
    "spending_check",
    "spending_view",
]


class CheckBody(msgspec.Struct, kw_only=True):
    amount: Amount


class ResetBody(msgspec.Struct, kw_only=True):
    user_id: str | None = None
    email: str | None = None


class LimitsBody(msgspec.Struct, kw_only=True):
    #: window -> dollars (0 = no limit for this user) or null (follow the server default)
    limits: dict[str, Amount | None]


async def spending_view(billing: BillingService, user_id: FromPath[str]) -> dict[str, Any]:
    windows = await billing.guard.status(user_id)
    by_name = {w.window: w for w in windows}
    day = by_name["1440min"].spent
    return {
        "user_id": user_id,
        "guard_rails_enabled": billing.guard.enabled,
        "shared": billing.guard.shared,
        "windows": [w.to_api() for w in windows],
        "total_spent_24h": micros_to_dollars(day),
        "total_spent_24h_micros": day,
    }


async def spending_check(billing: BillingService, user_id: str, amount: int) -> dict[str, Any]:
    """Would spending `amount` micro-dollars now pass every window (REST and agent actions)?"""
    violations = await billing.guard.check(user_id, amount)
    reason = ""
    if violations:
        reason = "would exceed the limit of " + ", ".join(v.window for v in violations)
    return {
        "allowed": not violations,
        "reason": reason,
        "would_exceed": [v.to_api() for v in violations],
        "guard_rails_enabled": billing.guard.enabled,
    }


class GuardRailsController(Controller):
    path = "/api/v1/guardrails"
    tags = ["guardrails"]  # noqa: RUF012 - Litestar reads it as a class attribute
    guards = [requires_scope("billing")]  # noqa: RUF012

    @get("/spending", summary="Spending, limit, remaining and exceeded for every window")
    async def spending(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> dict[str, Any]:
        return await spending_view(billing_of(services), principal_of(request).user_id)

    @post("/spending/check", status_code=HTTP_200_OK, summary="Would this amount be allowed?")
    async def check(
        self, request: Request[Any, Any, Any], services: ServicesDep, data: JSONBody[CheckBody]
    ) -> dict[str, Any]:
        amount = parse_amount(data.amount, "amount", allow_zero=True)
        return await spending_check(billing_of(services), principal_of(request).user_id, amount)

    @get("/alerts", summary="The caller's guard-rail alerts (50/80/95% and refusals)")
    async def alerts(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        limit: FromQuery[int | None] = None,
        offset: FromQuery[int | None] = None,
    ) -> dict[str, Any]:
        billing, user_id, size, start = caller_page(request, services, limit, offset)
        return await notifications_page(billing, user_id, "alerts", size, start, "guardrails.")


async def resolve_user(billing: BillingService, user_id: str | None, email: str | None) -> str:
    found: str | None
    if user_id:
        found = user_id if await billing.users.exists(user_id) else None
    elif email:
        found = await billing.users.id_by_email(email.strip().lower())
    else:
        raise InvalidBillingInput("user_id: give user_id or email", param="user_id")
    if found is None:
        raise BillingNotFound("no such user", param="user_id" if user_id else "email")
    return found


class GuardRailsAdminController(Controller):
    path = "/api/v1/guardrails"
    tags = ["guardrails", "admin"]  # noqa: RUF012 - Litestar reads it as a class attribute
    guards = [requires_admin]  # noqa: RUF012

    @post("/spending/reset", status_code=HTTP_200_OK, summary="Forget a user's spending (admin)")
    async def reset(
        self, request: Request[Any, Any, Any], services: ServicesDep, data: JSONBody[ResetBody]
    ) -> dict[str, Any]:
        billing = billing_of(services)
        user_id = await resolve_user(billing, data.user_id, data.email)
        await billing.guard.reset(user_id, principal_of(request).user_id)
        return await spending_view(billing, user_id)

    @get("/users/{user_id:str}/spending", summary="A user's spending per window (admin)")
    async def user_spending(self, services: ServicesDep, user_id: FromPath[str]) -> dict[str, Any]:
        billing = billing_of(services)
        return await spending_view(billing, await resolve_user(billing, user_id, None))

    @get("/users/{user_id:str}/limits", summary="A user's limit overrides (admin)")
    async def user_limits(self, services: ServicesDep, user_id: FromPath[str]) -> dict[str, Any]:
        billing = billing_of(services)
        return _limits_view(billing, await resolve_user(billing, user_id, None))

    @put("/users/{user_id:str}/limits", summary="Override a user's window limits (admin)")
    async def set_limits(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        user_id: FromPath[str],
        data: JSONBody[LimitsBody],
    ) -> dict[str, Any]:
        billing = billing_of(services)
        user_id = await resolve_user(billing, user_id, None)
        changes: dict[str, int | None] = {}
        for name, value in data.limits.items():
            if name not in WINDOW_NAMES:
                raise InvalidBillingInput(
                    f"limits: unknown window {name!r}; windows: {', '.join(WINDOW_NAMES)}",
                    param="limits",
                )
            changes[name] = (
                None if value is None else parse_amount(value, f"limits.{name}", allow_zero=True)
            )
        await billing.guard.set_overrides(user_id, changes, principal_of(request).user_id)
        await billing.kv.publish(LIMITS_CHANNEL, user_id.encode())
        return _limits_view(billing, user_id)


def _limits_view(billing: BillingService, user_id: str) -> dict[str, Any]:
    effective = billing.guard.limits(user_id)
    overrides = billing.guard.overrides(user_id)
    return {
        "user_id": user_id,
        "guard_rails_enabled": billing.guard.enabled,
        "limits": {
            name: {
                "limit_micros": effective[name],
                "override": name in overrides,
            }
            for name in WINDOW_NAMES
        },
    }
