"""Money fails closed: credits are enforced by default, new accounts get only the starting
credit the operator configures (NEW_USER_CREDIT_USD), and an instance whose owner runs out
of credit is stopped by the per-minute accrual."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.api.conftest import BASE_ENV, providers_of, running_app, user_factory

from gpuproxy.clock import now_ms
from gpuproxy.config import Settings, load_settings

GPU = "/api/v1/gpu/instances"
A100_PER_HOUR = 1_290_000  # the local fleet's a100-80gb-1, micro-dollars


def test_credits_and_guard_rails_are_on_by_default(tmp_path: Any) -> None:
    settings = load_settings(env={"DATA_DIR": str(tmp_path)}, env_file=None)
    assert settings.credits_enforced
    assert settings.guardrails_enabled
    assert settings.new_user_credit == 0


async def test_without_starting_credit_a_new_account_cannot_rent(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(**BASE_ENV, CREDITS_ENFORCED="true")
    async with running_app(settings) as app:
        alice = await user_factory(app)("alice")
        refused = await app.post(f"{GPU}/local/a100-80gb-1", json={}, headers=alice)
        assert refused.status_code == 402, refused.text
        assert await providers_of(app).providers["local"].list_instances() == []


async def test_the_starting_credit_pays_until_it_runs_out_then_the_instance_stops(
    make_settings: Callable[..., Settings],
) -> None:
    # Two hours of an A100: enough for the first hour's hold, gone after two hours.
    credit = 2 * A100_PER_HOUR
    settings = make_settings(
        **BASE_ENV, CREDITS_ENFORCED="true", NEW_USER_CREDIT_USD=f"{credit / 1e6:.2f}"
    )
    async with running_app(settings) as app:
        alice = await user_factory(app)("alice")
        credits = (await app.get("/api/v1/billing/credits", headers=alice)).json()
        assert credits["credits_remaining"] == f"{credit / 1e6:.6f}", credits
        rented = await app.post(f"{GPU}/local/a100-80gb-1", json={}, headers=alice)
        assert rented.status_code == 201, rented.text
        record_id = rented.json()["metadata"]["record_id"]
        billing: Any = app.app.state.services.billing
        service = providers_of(app)

        await billing.accrual.tick(now_ms() + 60 * 60_000)  # one hour: paid
        record = await service.store.get(record_id)
        assert record is not None
        assert record.status == "running", record

        await billing.accrual.tick(now_ms() + 2 * 60 * 60_000 + 60_000)  # past the credit
        record = await service.store.get(record_id)
        assert record is not None
        assert record.status == "destroyed", record
        assert "credit" in record.status_message
        assert await service.providers["local"].list_instances() == []
        again = await app.post(f"{GPU}/local/a100-80gb-1", json={}, headers=alice)
        assert again.status_code == 402, again.text
