"""Billing: the signed-in account's credits, its 17 spend windows against their limits,
its latest guard-rail alerts and payments, and its ledger a page at a time (the billing
service's own views, as /api/v1/billing and /api/v1/guardrails)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import Parameter

from gpuproxy.api.billing.common import billing_of, notifications_page, transactions_page
from gpuproxy.api.billing.common import page as checked_page
from gpuproxy.api.billing.guardrails import spending_view
from gpuproxy.api.deps import ServicesDep
from gpuproxy.dashboard.render import page
from gpuproxy.dashboard.session import DASHBOARD_PREFIX
from gpuproxy.dashboard.web import DashboardController, signed_in

__all__ = ["DashboardBillingController"]

_PAGE_SIZE = 20


class DashboardBillingController(DashboardController):
    path = DASHBOARD_PREFIX + "/billing"

    @get("/")
    async def billing(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        offset: Annotated[int, Parameter(ge=0, le=10_000_000)] = 0,
    ) -> Response[str]:
        principal = signed_in(request)
        size, start = checked_page(_PAGE_SIZE, offset)
        billing = billing_of(services)
        ledger = await transactions_page(billing, principal.user_id, size, start)
        spending = await spending_view(billing, principal.user_id)
        alerts = await notifications_page(
            billing, principal.user_id, "alerts", 10, 0, "guardrails."
        )
        payments = await billing.payments.store.list_for(principal.user_id, 10, 0)
        return page(
            request,
            "billing.html",
            credits=await billing.credits_view(principal.user_id),
            windows=spending["windows"],
            ledger=ledger,
            alerts=alerts["alerts"],
            payments=[p.to_api() for p in payments],
            previous=max(start - size, 0) if start > 0 else None,
            next=start + size if start + size < ledger["total"] else None,
        )
