"""HTTP rendering of billing errors: `{"error": {...}}` plus `violations` for guard rails.

Controllers that spend money (billing, guard rails, the gateway, GPU rentals) add
`BILLING_EXCEPTION_HANDLERS` to their `exception_handlers` so a refusal is always a 402 with
`X-GuardRails-Exceeded: true` and the violated windows, or a 429 with Retry-After for quotas.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response

from gpuproxy.api.errors import error_body
from gpuproxy.billing.errors import BillingError

__all__ = ["BILLING_EXCEPTION_HANDLERS", "billing_error_response"]


def billing_error_response(exc: BillingError) -> Response[Any]:
    body = error_body(exc.status_code, exc.message, code=exc.code, param=exc.param)
    body.update(exc.body_extra())
    return Response(body, status_code=exc.status_code, headers=exc.headers())


def _handle(request: Request[Any, Any, Any], exc: BillingError) -> Response[Any]:
    return billing_error_response(exc)


BILLING_EXCEPTION_HANDLERS: dict[Any, Any] = {BillingError: _handle}
