"""Billing errors: each knows its HTTP status, error code and the field it is about.

They are `ApiError`s: the app-wide handler renders them as `{"error": {"message", "type",
"code", "param"}}`; a refusal for money (402) adds the guard-rail `violations` and the
`X-GuardRails-Exceeded` header.
Messages never contain card data or secrets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpuproxy.exceptions import ApiError
from gpuproxy.money import micros_to_dollars

__all__ = [
    "BillingConflict",
    "BillingError",
    "BillingNotFound",
    "InvalidBillingInput",
    "PaymentDeclined",
    "PaymentProviderBusy",
    "PaymentProviderError",
    "PaymentRequiredError",
    "ProviderNotConfigured",
    "QuotaExceededError",
    "Violation",
]


class BillingError(ApiError):
    http_status = 400
    code = "billing_error"


class InvalidBillingInput(BillingError):
    """The caller sent something wrong; `param` names the field or header."""

    http_status = 400
    code = "invalid_value"


class BillingNotFound(BillingError):
    http_status = 404
    code = "not_found"


class BillingConflict(BillingError):
    """E.g. an idempotency key reused with other parameters, a transaction already used."""

    http_status = 409
    code = "conflict"


class ProviderNotConfigured(BillingError):
    """A payment method or webhook this server is not set up for: permanent until an
    operator configures it, so 404 (not 503, which tells clients to retry)."""

    http_status = 404
    code = "provider_not_configured"


class PaymentProviderError(BillingError):
    """The payment provider or chain endpoint failed or answered something unusable."""

    http_status = 502
    code = "payment_provider_error"


class PaymentProviderBusy(PaymentProviderError):
    """The provider or chain endpoint rate-limited us: retry after `retry_after` seconds
    (503, not 502: nothing is wrong with the request or the answer, only the timing)."""

    http_status = 503
    code = "payment_provider_busy"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(self.retry_after, 1))}


class PaymentDeclined(BillingError):
    """The provider declined the payment (Stripe card_error)."""

    http_status = 402
    code = "card_declined"


@dataclass(frozen=True, slots=True)
class Violation:
    """A guard-rail window a spend would take past its limit (micro-dollars)."""

    window: str
    limit: int
    spent: int

    def to_api(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "limit": micros_to_dollars(self.limit),
            "spent": micros_to_dollars(self.spent),
            "limit_micros": self.limit,
            "spent_micros": self.spent,
        }


class PaymentRequiredError(BillingError):
    """A spend was refused: `reason` is `credits`, `quota` or `guardrails`."""

    http_status = 402

    def __init__(
        self, message: str, *, reason: str, violations: list[Violation] | None = None
    ) -> None:
        code = {
            "credits": "credits_exhausted",
            "quota": "quota_exceeded",
            "guardrails": "spending_limit_exceeded",
        }.get(reason, "payment_required")
        super().__init__(message, code=code)
        self.reason = reason
        self.violations: list[Violation] = list(violations or [])

    def body_extra(self) -> dict[str, Any]:
        if self.reason != "guardrails":
            return {}
        return {"violations": [v.to_api() for v in self.violations]}

    def headers(self) -> dict[str, str]:
        return {"X-GuardRails-Exceeded": "true"} if self.reason == "guardrails" else {}


class QuotaExceededError(BillingError):
    """A usage quota (requests or GPU time per period) is used up until `retry_after` s."""

    http_status = 429
    code = "quota_exceeded"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(self.retry_after, 1))}
