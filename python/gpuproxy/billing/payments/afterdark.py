"""AfterDark billing: a hosted checkout plus a signed callback, credited once.

AfterDark publishes no public API reference, so this is the contract we implement (and
tests/fakes/afterdark.py serves):
- `POST {AFTERDARK_API_URL}/v1/checkouts` with `Authorization: Bearer AFTERDARK_API_KEY`,
  `Idempotency-Key`, JSON `{amount (cents), currency, reference, callback_url, success_url,
  cancel_url}` -> 201 `{id, url, status: "open", amount, currency, reference}`.
- Callback `POST /api/v1/billing/webhooks/afterdark`, JSON `{id, type: "checkout.completed",
  data: {id, reference, amount, currency, status: "paid"}}`, header
  `AfterDark-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` with
  AFTERDARK_WEBHOOK_SECRET (default: the API key); 5 minutes tolerance.
The credit's ledger key is `afterdark:{checkout id}`, so retried callbacks credit once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any

import httpx

from gpuproxy.billing.errors import (
    InvalidBillingInput,
    PaymentProviderError,
    ProviderNotConfigured,
)
from gpuproxy.billing.payments.crediting import Crediter
from gpuproxy.billing.payments.records import PaymentRecord, PaymentStore
from gpuproxy.config import Settings

__all__ = ["AfterDarkPayments", "sign_afterdark"]

log = logging.getLogger(__name__)

_TOLERANCE = 300
_HEADER = "AfterDark-Signature"


def sign_afterdark(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class AfterDarkPayments:
    def __init__(self, settings: Settings, store: PaymentStore, credit: Crediter) -> None:
        self._settings = settings
        self._store = store
        self._credit = credit
        self._http = httpx.AsyncClient(timeout=20)

    async def close(self) -> None:
        await self._http.aclose()

    @property
    def _secret(self) -> str:
        return self._settings.afterdark_webhook_secret or self._settings.afterdark_api_key

    def _require_configured(self) -> None:
        if not (self._settings.afterdark_api_url and self._settings.afterdark_api_key):
            raise ProviderNotConfigured(
                "AfterDark payments are not configured on this server "
                "(AFTERDARK_API_URL, AFTERDARK_API_KEY)"
            )

    async def checkout(
        self, payment: PaymentRecord, *, callback_url: str, success_url: str, cancel_url: str
    ) -> PaymentRecord:
        self._require_configured()
        if payment.amount_micros % 10_000:
            raise InvalidBillingInput("amount: AfterDark charges whole cents", param="amount")
        try:
            response = await self._http.post(
                f"{self._settings.afterdark_api_url}/v1/checkouts",
                json={
                    "amount": payment.amount_micros // 10_000,
                    "currency": payment.currency.lower(),
                    "reference": payment.id,
                    "callback_url": callback_url,
                    "success_url": success_url,
                    "cancel_url": cancel_url,
                },
                headers={
                    "Authorization": f"Bearer {self._settings.afterdark_api_key}",
                    "Idempotency-Key": f"checkout:{payment.id}",
                },
            )
            body = response.json()
        except (httpx.HTTPError, ValueError):
            log.warning("AfterDark checkout request failed", exc_info=True)
            raise PaymentProviderError(
                "the payment provider (AfterDark) did not answer; try again later"
            ) from None
        if response.status_code >= 400 or not isinstance(body, dict) or "id" not in body:
            log.warning("AfterDark refused a checkout with HTTP %s", response.status_code)
            raise PaymentProviderError(
                f"the payment provider (AfterDark) refused the checkout "
                f"(HTTP {response.status_code})"
            )
        await self._store.update(
            payment.id, external_id=str(body["id"]), details={"checkout_url": body.get("url")}
        )
        updated = await self._store.get(payment.id)
        assert updated is not None
        return updated

    def verify(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        if not self._secret:
            raise ProviderNotConfigured("AfterDark callbacks are not configured on this server")
        invalid = InvalidBillingInput(
            f"{_HEADER} verification failed", param=_HEADER, code="invalid_signature"
        )
        parts = dict(item.split("=", 1) for item in (signature or "").split(",") if "=" in item)
        try:
            timestamp = int(parts.get("t", ""))
        except ValueError:
            raise invalid from None
        if abs(time.time() - timestamp) > _TOLERANCE:
            raise invalid
        expected = sign_afterdark(self._secret, payload, timestamp).split("v1=", 1)[1]
        if not hmac.compare_digest(expected, parts.get("v1", "")):
            raise invalid
        try:
            event = json.loads(payload)
        except ValueError:
            raise InvalidBillingInput("body: not JSON", param="body") from None
        if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
            raise InvalidBillingInput("body: not an AfterDark event", param="body")
        return event

    async def handle(self, event: dict[str, Any]) -> bool:
        data = event["data"]
        if event.get("type") != "checkout.completed" or data.get("status") != "paid":
            return False
        payment = await self._store.get(str(data.get("reference") or ""))
        checkout_id = str(data.get("id") or "")
        if payment is None or payment.provider != "afterdark" or payment.external_id != checkout_id:
            log.warning("AfterDark callback for an unknown checkout; ignored")
            return False
        amount = int(data.get("amount") or 0) * 10_000
        currency = str(data.get("currency") or "").upper()
        if amount != payment.amount_micros or currency != payment.currency.upper():
            log.error("AfterDark checkout %s paid another amount; not credited", checkout_id)
            return False
        await self._credit(
            payment,
            amount,
            key=f"afterdark:{checkout_id}",
            external_id=None,
            ledger_external_id=checkout_id,
            description="AfterDark top-up",
            metadata={"afterdark_checkout": checkout_id},
        )
        return True
