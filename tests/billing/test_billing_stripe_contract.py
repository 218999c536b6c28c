"""The Stripe contract (`tests.fakes.stripe_contract`): every call the product makes is one
the contract knows, with parameters Stripe accepts; the fake refuses the way Stripe does;
and the SDK the product is allowed to install has what the product uses."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import stripe
from packaging.requirements import Requirement
from packaging.version import Version
from tests.fakes.stripe_api import FakeStripe
from tests.fakes.stripe_contract import STRIPE

from gpuproxy.billing.payments.facade import PaymentRequest
from gpuproxy.billing.payments.preferred import parse_preferred
from gpuproxy.billing.service import BillingService
from gpuproxy.storage.database import Database

from .support import insert_user

PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"
#: stripe-python's CHANGELOG, 12.5.0 (2025-08-27): "#1549 Introduce V1 namespaces in
#: StripeClient" -- `client.v1.*`, which every Stripe call of the product goes through.
V1_NAMESPACE_SINCE = Version("12.5.0")


@pytest.fixture
def client(stripe_billing: BillingService) -> stripe.StripeClient:
    """The product's own SDK client, pointed at the fake."""
    return stripe_billing.payments.require_stripe().client


def stripe_requirement() -> Requirement:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    found = [Requirement(r) for r in project["dependencies"] if Requirement(r).name == "stripe"]
    assert len(found) == 1, "pyproject.toml must name stripe once"
    return found[0]


def test_the_lowest_stripe_pyproject_allows_has_the_v1_namespace() -> None:
    requirement = stripe_requirement()
    floors = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==")]
    assert floors, "stripe needs a lower bound"
    assert min(floors) >= V1_NAMESPACE_SINCE, f"{requirement}: StripeClient.v1 needs 12.5.0"
    assert Version(stripe.VERSION) in requirement.specifier
    client = stripe.StripeClient("sk_test_contract")
    for service in ("customers", "payment_methods", "payment_intents", "refunds"):
        assert hasattr(client.v1, service), service
    assert hasattr(client.v1.checkout, "sessions")


async def test_every_call_the_product_makes_is_in_the_contract(
    db: Database, stripe_billing: BillingService, stripe_fake: FakeStripe
) -> None:
    payments = stripe_billing.payments
    user = await insert_user(db)
    card = parse_preferred("card:pm_card_visa")
    paid, _ = await payments.create(
        PaymentRequest(user, "c@example.com", 20_000_000, "USD", "stripe", card, "k1")
    )
    assert paid.status == "succeeded"
    checkout, _ = await payments.create(
        PaymentRequest(user, "c@example.com", 5_000_000, "USD", "stripe", None, "k2")
    )
    assert checkout.external_id is not None
    stripe_payments = payments.require_stripe()
    [intent] = stripe_fake.intents
    assert await stripe_payments.handle(stripe_fake.refund(intent, 500))
    assert await stripe_payments.handle(stripe_fake.dispute(intent))
    requests = stripe_fake.server.requests
    assert {f"{r.method} {r.path.split('/pm_')[0]}" for r in requests} == {
        "POST /v1/customers",
        "POST /v1/payment_methods",
        "POST /v1/payment_intents",
        "POST /v1/checkout/sessions",
        "GET /v1/refunds",
    }
    assert STRIPE.unknown(requests) == []
    for request in requests:
        endpoint = STRIPE.endpoint(request.method, request.path)
        assert endpoint is not None
        assert endpoint.problems(request) == [], f"{request.method} {request.path}"


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        ({"currency": "usd"}, "parameter_missing", "amount"),
        (
            {"amount": 500, "currency": "usd", "amount_cents": 5},
            "parameter_unknown",
            "amount_cents",
        ),
        ({"amount": 500, "currency": "USD"}, None, "currency"),
        ({"amount": 500, "currency": "usd", "metadata": {"k" * 41: "v"}}, None, "metadata"),
    ],
)
async def test_the_fake_refuses_what_stripe_refuses(
    client: stripe.StripeClient,
    stripe_fake: FakeStripe,
    params: dict[str, object],
    code: str | None,
    param: str,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await client.v1.payment_intents.create_async(params)  # type: ignore[arg-type]
    assert refused.value.http_status == 400
    assert refused.value.code == code
    assert refused.value.param == param
    assert stripe_fake.intents == {}


async def test_a_call_outside_the_contract_is_caught(
    client: stripe.StripeClient, stripe_fake: FakeStripe
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await client.v1.balance.retrieve_async()
    assert refused.value.http_status == 404
    assert "Unrecognized request URL (GET: /v1/balance)" in str(refused.value.user_message)
    assert STRIPE.unknown(stripe_fake.server.requests) == ["GET /v1/balance"]
