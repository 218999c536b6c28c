"""The one decision every protocol makes before serving a caller: authenticate, then count
the request against the caller's rate limits (the HTTP middleware, `gpuproxy.api.auth_middleware`,
and gRPC, `gpuproxy.grpc_api.auth`, both answer with it)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from gpuproxy.accounts.errors import AuthUnavailable
from gpuproxy.accounts.principal import Principal

if TYPE_CHECKING:
    from gpuproxy.accounts.ratelimit import RateDecision
    from gpuproxy.accounts.service import AccountsService

__all__ = ["Refusal", "admit"]

log = logging.getLogger(__name__)

Refusal = tuple[int, str, str, list[tuple[bytes, bytes]]]
"""An answer instead of the route: (status, message, error code, headers)."""


async def admit(
    accounts: AccountsService, headers: list[tuple[bytes, bytes]]
) -> tuple[Principal | None, Refusal | None, list[tuple[bytes, bytes]]]:
    """Authenticate and rate-limit one request: (caller, refusal, rate-limit headers).

    The one place the HTTP middleware and gRPC decide this. No or bad credentials give
    (None, None, []): the route answers 401 itself. The memory-only
    lookup runs first so a cached key costs no await.
    """
    principal = accounts.authenticate_cached(headers)
    if not (principal is None or isinstance(principal, Principal)):
        try:
            principal = await accounts.authenticate(headers)
        except AuthUnavailable as exc:
            log.error("authentication unavailable: %s", exc)
            return None, (503, str(exc), "auth_unavailable", [(b"retry-after", b"1")]), []
    if principal is None:
        return None, None, []
    decision: RateDecision | None = await accounts.rate_limit(principal)
    if decision is None:
        return principal, None, []
    if not decision.allowed:
        message = f"rate limit of {decision.limit} requests per minute exceeded"
        return principal, (429, message, "rate_limited", decision.headers()), []
    return principal, None, decision.headers()
