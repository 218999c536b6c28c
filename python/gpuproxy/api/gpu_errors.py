"""Exception handlers of the GPU and load-balancer controllers (the shared JSON error shape).

- `InvalidRequest` -> 400 naming the field (`param`).
- `InstanceNotFound` -> 404 (also for someone else's instance: ids cannot be probed).
- `ProviderError` -> its `http_status` (404 offer gone, 400 refused, 502/503 provider down).
- `NotEnoughOffers` -> 409 with the per-provider errors.
- billing refusals (`BillingError`, e.g. 402 credits or guard rails) -> their own status,
  code, param, extra body fields and headers.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response

from gpuproxy.api.errors import error_body
from gpuproxy.exceptions import GpuProxyError, SpendLimitExceeded
from gpuproxy.providers.errors import InvalidRequest, ProviderError
from gpuproxy.providers.rentals import InstanceNotFound
from gpuproxy.providers.reservations import NotEnoughOffers

__all__ = ["GPU_EXCEPTION_HANDLERS", "error_parts"]

log = logging.getLogger(__name__)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def error_parts(exc: BaseException) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) for any error a GPU route may meet; unknown ones are 500."""
    if isinstance(exc, InvalidRequest):
        message = str(exc)
        return 400, error_body(400, message, code="invalid_value", param=exc.field), {}
    if isinstance(exc, InstanceNotFound):
        message = f"instance {str(exc.args[0])[:64]!r} not found"
        return 404, error_body(404, message, code="instance_not_found"), {}
    if isinstance(exc, NotEnoughOffers):
        body = error_body(409, str(exc), code="not_enough_offers")
        body["available"] = exc.available
        body["provider_errors"] = [
            {"provider": f.provider, "message": f.message, "type": f.type} for f in exc.errors
        ]
        return 409, body, {}
    if isinstance(exc, ProviderError):
        status = exc.http_status
        return status, error_body(status, str(exc), code=_snake(type(exc).__name__)), {}
    if isinstance(exc, SpendLimitExceeded):
        body = error_body(402, str(exc), code="spending_limit_exceeded")
        body["windows"] = list(exc.windows)
        return 402, body, {"X-GuardRails-Exceeded": "true"}
    billing_status: Any = getattr(exc, "status_code", None)
    if isinstance(billing_status, int) and hasattr(exc, "body_extra"):  # a billing refusal
        refusal: Any = exc
        message = str(getattr(refusal, "message", refusal))
        body = error_body(
            billing_status,
            message,
            code=getattr(refusal, "code", None),
            param=getattr(refusal, "param", None),
        )
        body.update(refusal.body_extra())
        return billing_status, body, dict(refusal.headers())
    log.error("unexpected error in a GPU route", exc_info=exc)
    return 500, error_body(500, "internal server error", code="internal"), {}


def _handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    status, body, headers = error_parts(exc)
    return Response(body, status_code=status, headers=headers)


GPU_EXCEPTION_HANDLERS: dict[Any, Any] = {
    InvalidRequest: _handle,
    InstanceNotFound: _handle,
    NotEnoughOffers: _handle,
    ProviderError: _handle,
    SpendLimitExceeded: _handle,
    # Billing refusals (gpuproxy.billing.errors.BillingError) and any other deliberate error.
    GpuProxyError: _handle,
}
