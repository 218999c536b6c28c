"""Billing and guard-rail routes: credits, transactions, admin adjustments, limits, 402s."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient
from tests.billing.support import BILLING_ENV, BillingApp, billing_app

from gpuproxy.api.errors import EXCEPTION_HANDLERS
from gpuproxy.billing.errors import PaymentRequiredError, QuotaExceededError, Violation
from gpuproxy.billing.windows import WINDOW_NAMES
from gpuproxy.config import Settings

CENT = 10_000


@pytest.fixture
async def bapp(make_settings: Callable[..., Settings]) -> AsyncIterator[BillingApp]:
    settings = make_settings(
        **BILLING_ENV,
        GUARDRAILS_ENABLED="true",
        GUARDRAILS_MAX_5MIN_RATE="1.00",
        GUARDRAILS_MAX_72H_RATE="50.00",
    )
    async with billing_app(settings) as app:
        yield app


def spend(app: BillingApp, user_id: str, amount: int) -> None:
    async def run() -> None:
        held = await app.billing.reserve(user_id, amount)
        held.commit(amount)
        await app.billing.writer.flush()

    app.call(run)


async def test_credits_and_transactions_of_the_caller(bapp: BillingApp) -> None:
    user, admin = await bapp.user(), await bapp.user("admin", admin=True)
    for i in range(3):
        response = await bapp.client.post(
            f"/api/v1/billing/admin/users/{user.user_id}/adjustments",
            json={"amount": "2.50", "reason": f"welcome credit {i}"},
            headers=admin.headers,
        )
        assert response.status_code == 201, response.text
    spend(bapp, user.user_id, 70 * CENT)
    view = (await bapp.client.get("/api/v1/billing/credits", headers=user.headers)).json()
    for field in ("credits_remaining", "credits_total", "credits_overage", "credits_cap"):
        assert field in view
    assert view["credits_remaining"] == "6.800000"
    assert view["credits_total"] == "7.500000"
    assert view["credits_auto_renew"] is False
    page = await bapp.client.get(
        "/api/v1/billing/transactions?limit=2&offset=1", headers=user.headers
    )
    assert page.status_code == 200
    body = page.json()
    assert (body["total"], body["limit"], body["offset"]) == (4, 2, 1)
    assert [t["amount"] for t in body["transactions"]] == ["2.500000", "2.500000"]
    for query, param in (("limit=0", "limit"), ("limit=500", "limit"), ("offset=-1", "offset")):
        bad = await bapp.client.get(f"/api/v1/billing/transactions?{query}", headers=user.headers)
        assert bad.status_code == 400
        assert bad.json()["error"]["param"] == param
    not_a_number = await bapp.client.get(
        "/api/v1/billing/transactions?limit=ten", headers=user.headers
    )
    assert not_a_number.status_code == 400
    assert "limit" in not_a_number.json()["error"]["message"]


async def test_admin_adjustments_are_audited_idempotent_and_admin_only(bapp: BillingApp) -> None:
    user, admin = await bapp.user(), await bapp.user("admin", admin=True)
    url = f"/api/v1/billing/admin/users/{user.user_id}/adjustments"
    body = {"amount": "-1.25", "reason": "refund of a duplicate charge", "idempotency_key": "k1"}
    assert (await bapp.client.post(url, json=body, headers=user.headers)).status_code == 403
    first = await bapp.client.post(url, json=body, headers=admin.headers)
    again = await bapp.client.post(url, json=body, headers=admin.headers)
    assert first.status_code == 201
    assert again.json()["replayed"] is True
    assert again.json()["transaction"]["id"] == first.json()["transaction"]["id"]
    assert first.json()["credits"]["credits_overage"] == "1.250000"
    row = bapp.call(
        bapp.billing.db.fetchrow,
        "SELECT actor_id, description, provider FROM ledger_entries WHERE user_id = $1",
        user.user_id,
    )
    assert row == {
        "actor_id": admin.user_id,
        "description": "refund of a duplicate charge",
        "provider": "admin",
    }
    audit = bapp.call(
        bapp.billing.db.fetch,
        "SELECT actor_id, target FROM audit_log WHERE action = 'billing.adjust'",
    )
    assert [(a["actor_id"], a["target"]) for a in audit] == [(admin.user_id, user.user_id)]
    for bad, param in (
        ({"amount": "1", "reason": ""}, "reason"),
        ({"amount": "0", "reason": "zero"}, "amount"),
    ):
        response = await bapp.client.post(url, json=bad, headers=admin.headers)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == param
    missing = await bapp.client.post(
        "/api/v1/billing/admin/users/nobody/adjustments",
        json={"amount": "1", "reason": "for nobody"},
        headers=admin.headers,
    )
    assert missing.status_code == 404


async def test_admin_sets_cap_and_quota(bapp: BillingApp) -> None:
    user, admin = await bapp.user(), await bapp.user("admin", admin=True)
    cap = await bapp.client.put(
        f"/api/v1/billing/admin/users/{user.user_id}/credits",
        json={"credits_cap": "15.00"},
        headers=admin.headers,
    )
    assert cap.status_code == 200
    assert cap.json()["credits_cap"] == "15.000000"
    quota = await bapp.client.put(
        f"/api/v1/billing/admin/users/{user.user_id}/quota",
        json={"max_gpu_hours": "1.5", "max_requests": 100, "reset_interval": "day"},
        headers=admin.headers,
    )
    assert quota.status_code == 200, quota.text
    mine = (await bapp.client.get("/api/v1/billing/quota", headers=user.headers)).json()["quota"]
    assert mine["max_gpu_hours"] == 1.5
    assert mine["max_requests"] == 100
    assert mine["reset_interval_seconds"] == 86_400
    bad = await bapp.client.put(
        f"/api/v1/billing/admin/users/{user.user_id}/quota",
        json={"max_requests": 5, "reset_interval": "fortnight"},
        headers=admin.headers,
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "reset_interval"


async def test_reconcile_route_repairs_the_cache(bapp: BillingApp) -> None:
    user, admin = await bapp.user(), await bapp.user("admin", admin=True)
    spend(bapp, user.user_id, 30 * CENT)
    bapp.call(
        bapp.billing.db.execute,
        "UPDATE credit_accounts SET balance_micros = 999 WHERE user_id = $1",
        user.user_id,
    )
    response = await bapp.client.post("/api/v1/billing/admin/reconcile", headers=admin.headers)
    assert response.status_code == 200
    assert response.json()["repaired"] == [
        {"user_id": user.user_id, "cached_balance_micros": 999, "ledger_balance_micros": -30 * CENT}
    ]
    view = (await bapp.client.get("/api/v1/billing/credits", headers=user.headers)).json()
    assert view["credits_overage"] == "0.300000"


async def test_spending_check_reset_and_limits(bapp: BillingApp) -> None:
    user, admin = await bapp.user(), await bapp.user("admin", admin=True)
    spend(bapp, user.user_id, 80 * CENT)
    spending = (await bapp.client.get("/api/v1/guardrails/spending", headers=user.headers)).json()
    assert spending["guard_rails_enabled"] is True
    assert [w["window"] for w in spending["windows"]] == list(WINDOW_NAMES)
    five = spending["windows"][0]
    assert (five["spent"], five["limit"], five["remaining"], five["exceeded"]) == (
        "0.800000",
        "1.000000",
        "0.200000",
        False,
    )
    assert spending["windows"][3]["limit"] is None  # 60min: no limit configured
    assert spending["total_spent_24h"] == "0.800000"
    check = await bapp.client.post(
        "/api/v1/guardrails/spending/check", json={"amount": "0.30"}, headers=user.headers
    )
    assert check.status_code == 200
    assert check.json()["allowed"] is False
    assert [w["window"] for w in check.json()["would_exceed"]] == ["5min"]
    assert "5min" in check.json()["reason"]
    ok = await bapp.client.post(
        "/api/v1/guardrails/spending/check", json={"amount": 0.2}, headers=user.headers
    )
    assert ok.json() == {**ok.json(), "allowed": True, "would_exceed": [], "reason": ""}

    reset_url = "/api/v1/guardrails/spending/reset"
    assert (
        await bapp.client.post(reset_url, json={"email": user.email}, headers=user.headers)
    ).status_code == 403
    reset = await bapp.client.post(reset_url, json={"email": user.email}, headers=admin.headers)
    assert reset.status_code == 200
    assert reset.json()["windows"][0]["spent"] == "0.000000"
    unknown = await bapp.client.post(
        reset_url, json={"email": "no@one.example"}, headers=admin.headers
    )
    assert unknown.status_code == 404

    limits_url = f"/api/v1/guardrails/users/{user.user_id}/limits"
    updated = await bapp.client.put(
        limits_url, json={"limits": {"60min": "2.00", "5min": "0"}}, headers=admin.headers
    )
    assert updated.status_code == 200, updated.text
    limits = updated.json()["limits"]
    assert limits["60min"] == {"limit_micros": 2_000_000, "override": True}
    assert limits["5min"] == {"limit_micros": None, "override": True}
    view = await bapp.client.get(
        f"/api/v1/guardrails/users/{user.user_id}/spending", headers=admin.headers
    )
    assert view.json()["windows"][3]["limit"] == "2.000000"
    bad = await bapp.client.put(limits_url, json={"limits": {"24h": "1"}}, headers=admin.headers)
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "limits"


async def test_refusals_render_402_with_violations_and_the_header() -> None:
    @get("/spend")
    async def refuse() -> None:
        raise PaymentRequiredError(
            "spending limit exceeded", reason="guardrails", violations=[Violation("5min", 100, 90)]
        )

    @get("/credits")
    async def broke() -> None:
        raise PaymentRequiredError("credit limit reached: credits_cap", reason="credits")

    @get("/quota")
    async def quota() -> None:
        raise QuotaExceededError("request quota reached", retry_after=30)

    app = Litestar([refuse, broke, quota], exception_handlers=EXCEPTION_HANDLERS)
    async with AsyncTestClient(app) as client:
        response = await client.get("/spend")
        assert response.status_code == 402
        assert response.headers["x-guardrails-exceeded"] == "true"
        body: dict[str, Any] = response.json()
        assert body["error"]["type"] == "insufficient_quota"
        assert body["error"]["code"] == "spending_limit_exceeded"
        assert body["violations"] == [
            {
                "window": "5min",
                "limit": "0.000100",
                "spent": "0.000090",
                "limit_micros": 100,
                "spent_micros": 90,
            }
        ]
        credits = await client.get("/credits")
        assert credits.status_code == 402
        assert "x-guardrails-exceeded" not in credits.headers
        assert credits.json()["error"]["code"] == "credits_exhausted"
        limited = await client.get("/quota")
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "30"
