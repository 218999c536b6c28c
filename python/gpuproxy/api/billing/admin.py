"""Admin billing routes: any user's credits and ledger, audited adjustments, credit settings,
quotas and reconciliation."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from gpuproxy.api.billing.common import (
    Amount,
    billing_of,
    page,
    parse_amount,
    transactions_page,
)
from gpuproxy.api.deps import ServicesDep
from gpuproxy.api.guards import principal_of, requires_admin
from gpuproxy.billing.credits import update_account
from gpuproxy.billing.errors import InvalidBillingInput
from gpuproxy.billing.reconcile import reconcile
from gpuproxy.billing.service import BillingService
from gpuproxy.services import Services

__all__ = ["BillingAdminController"]

log = logging.getLogger(__name__)

_INTERVALS = {"hour": 3600, "day": 86_400, "week": 7 * 86_400, "month": 30 * 86_400}


class AdjustmentBody(msgspec.Struct, kw_only=True):
    amount: Amount
    reason: str
    idempotency_key: str | None = None


class CreditSettingsBody(msgspec.Struct, kw_only=True):
    #: Maximum overage in dollars; null = back to CREDITS_DEFAULT_CAP.
    credits_cap: Amount | None = None
    reset_cap: bool = False


class QuotaBody(msgspec.Struct, kw_only=True):
    max_gpu_hours: Amount | None = None
    max_requests: int | None = None
    #: Seconds, or one of hour, day, week, month.
    reset_interval: int | str = "month"


async def _audit(
    request: Request[Any, Any, Any], action: str, target: str, detail: dict[str, Any]
) -> None:
    """Admin money actions go to the accounts audit log as well as the ledger row."""
    principal = principal_of(request)
    services: Services = request.app.state.services
    audit = services.accounts.audit if services.accounts is not None else None
    if audit is None:
        log.info("audit %s by %s on %s", action, principal.user_id, target)
        return
    try:
        await audit.record(
            action,
            actor_id=principal.user_id,
            actor_email=principal.email,
            target=target,
            ip=request.client.host if request.client else "",
            detail=detail,
        )
    except Exception:
        log.exception("could not write the audit event %s", action)


class BillingAdminController(Controller):
    path = "/api/v1/billing/admin"
    tags = ["billing", "admin"]  # noqa: RUF012 - Litestar reads it as a class attribute
    guards = [requires_admin]  # noqa: RUF012

    @get("/users/{user_id:str}/credits", summary="A user's credits")
    async def credits(self, services: ServicesDep, user_id: FromPath[str]) -> dict[str, Any]:
        return await billing_of(services).credits_view(user_id)

    @get("/users/{user_id:str}/transactions", summary="A user's ledger, newest first")
    async def transactions(
        self,
        services: ServicesDep,
        user_id: FromPath[str],
        limit: FromQuery[int | None] = None,
        offset: FromQuery[int | None] = None,
    ) -> dict[str, Any]:
        size, start = page(limit, offset)
        return await transactions_page(billing_of(services), user_id, size, start)

    @post(
        "/users/{user_id:str}/adjustments",
        status_code=HTTP_201_CREATED,
        summary="Credit (+) or debit (-) a user, with a reason (audited)",
    )
    async def adjust(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        user_id: FromPath[str],
        data: JSONBody[AdjustmentBody],
    ) -> dict[str, Any]:
        reason = data.reason.strip()
        if not 3 <= len(reason) <= 500:
            raise InvalidBillingInput("reason: 3 to 500 characters", param="reason")
        amount = parse_amount(data.amount, "amount", allow_negative=True)
        key = data.idempotency_key or request.headers.get("idempotency-key") or uuid.uuid4().hex
        billing = billing_of(services)
        await _require_user(billing, user_id)
        actor = principal_of(request).user_id
        posted = await billing.adjust(user_id, amount, reason=reason, actor_id=actor, key=key)
        if not posted.replayed:
            await _audit(
                request,
                "billing.adjust",
                user_id,
                {"amount_micros": amount, "reason": reason, "entry_id": posted.entry.id},
            )
        return {
            "transaction": posted.entry.to_api(),
            "replayed": posted.replayed,
            "credits": await billing.credits_view(user_id),
        }

    @put("/users/{user_id:str}/credits", summary="Set a user's credits_cap (maximum overage)")
    async def set_credits(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        user_id: FromPath[str],
        data: JSONBody[CreditSettingsBody],
    ) -> dict[str, Any]:
        billing = billing_of(services)
        await _require_user(billing, user_id)
        if data.reset_cap:
            cap: int | None = None
        elif data.credits_cap is None:
            raise InvalidBillingInput(
                "credits_cap: required (or reset_cap: true)", param="credits_cap"
            )
        else:
            cap = parse_amount(data.credits_cap, "credits_cap", allow_zero=True)
        await update_account(billing.db, user_id, cap_micros=cap)
        billing.gate.forget(user_id)
        await _audit(request, "billing.credits_cap", user_id, {"cap_micros": cap})
        return await billing.credits_view(user_id)

    @put("/users/{user_id:str}/quota", summary="Set a user's usage quota")
    async def set_quota(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        user_id: FromPath[str],
        data: JSONBody[QuotaBody],
    ) -> dict[str, Any]:
        billing = billing_of(services)
        await _require_user(billing, user_id)
        interval = _interval(data.reset_interval)
        gpu_seconds = None
        if data.max_gpu_hours is not None:
            # Hours with up to 6 decimals, stored as whole seconds.
            gpu_seconds = (
                parse_amount(data.max_gpu_hours, "max_gpu_hours", allow_zero=True)
                * 3600
                // 1_000_000
            )
        if data.max_requests is not None and data.max_requests < 0:
            raise InvalidBillingInput("max_requests: must not be negative", param="max_requests")
        if gpu_seconds is None and data.max_requests is None:
            raise InvalidBillingInput(
                "max_gpu_hours: give max_gpu_hours and/or max_requests", param="max_gpu_hours"
            )
        await billing.quotas.set(
            user_id,
            max_gpu_seconds=gpu_seconds,
            max_requests=data.max_requests,
            reset_interval_seconds=interval,
            actor=principal_of(request).user_id,
        )
        await _audit(
            request,
            "billing.quota",
            user_id,
            {
                "max_gpu_seconds": gpu_seconds,
                "max_requests": data.max_requests,
                "interval": interval,
            },
        )
        return {"quota": await billing.quotas.usage(user_id)}

    @delete("/users/{user_id:str}/quota", status_code=HTTP_204_NO_CONTENT, summary="Remove a quota")
    async def clear_quota(
        self, request: Request[Any, Any, Any], services: ServicesDep, user_id: FromPath[str]
    ) -> None:
        await billing_of(services).quotas.clear(user_id)
        await _audit(request, "billing.quota", user_id, {"cleared": True})

    @post("/reconcile", status_code=HTTP_200_OK, summary="Rebuild cached balances from the ledger")
    async def reconcile(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> dict[str, Any]:
        billing = billing_of(services)
        await billing.writer.flush()
        checked, mismatches = await reconcile(billing.db, repair=True)
        for found in mismatches:
            billing.gate.forget(found.user_id)
        await _audit(
            request, "billing.reconcile", "", {"checked": checked, "repaired": len(mismatches)}
        )
        return {
            "checked": checked,
            "repaired": [
                {
                    "user_id": m.user_id,
                    "cached_balance_micros": m.cached_balance,
                    "ledger_balance_micros": m.ledger_balance,
                }
                for m in mismatches
            ],
        }


def _interval(value: int | str) -> int:
    if isinstance(value, str):
        if value.lower() not in _INTERVALS:
            raise InvalidBillingInput(
                "reset_interval: seconds or one of hour, day, week, month", param="reset_interval"
            )
        return _INTERVALS[value.lower()]
    if not 60 <= value <= 366 * 86_400:
        raise InvalidBillingInput("reset_interval: 60 s to 366 days", param="reset_interval")
    return value


async def _require_user(billing: BillingService, user_id: FromPath[str]) -> None:
    from gpuproxy.billing.errors import BillingNotFound

    if not await billing.users.exists(user_id):
        raise BillingNotFound("no such user", param="user_id")
