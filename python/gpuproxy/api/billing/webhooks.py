"""Payment provider callbacks: authenticated by their signatures, not by our tokens."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.status_codes import HTTP_200_OK

from gpuproxy.api.billing.common import billing_of
from gpuproxy.api.deps import ServicesDep
from gpuproxy.billing.errors import InvalidBillingInput, ProviderNotConfigured

__all__ = ["BillingWebhooksController"]

_MAX_BODY = 512 * 1024


async def _body(request: Request[Any, Any, Any]) -> bytes:
    raw = await request.body()
    if len(raw) > _MAX_BODY:
        raise InvalidBillingInput("body: too large", param="body")
    return raw


class BillingWebhooksController(Controller):
    path = "/api/v1/billing/webhooks"
    tags = ["billing"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post("/stripe", status_code=HTTP_200_OK, exclude_from_auth=True, summary="Stripe webhook")
    async def stripe(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> dict[str, Any]:
        """Verified with Stripe-Signature; a bad signature is a 400 and changes nothing."""
        billing = billing_of(services)
        stripe = billing.payments.stripe
        if stripe is None or not billing.settings.stripe_webhook_secret:
            raise ProviderNotConfigured("Stripe webhooks are not configured on this server")
        event = stripe.verify(await _body(request), request.headers.get("stripe-signature"))
        handled = await stripe.handle(event)
        await billing.payments.record_event("stripe", event)
        return {"received": True, "handled": handled}

    @post(
        "/afterdark", status_code=HTTP_200_OK, exclude_from_auth=True, summary="AfterDark callback"
    )
    async def afterdark(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> dict[str, Any]:
        billing = billing_of(services)
        event = billing.payments.afterdark.verify(
            await _body(request), request.headers.get("afterdark-signature")
        )
        handled = await billing.payments.afterdark.handle(event)
        await billing.payments.record_event("afterdark", event)
        return {"received": True, "handled": handled}
