"""Typed errors of the provider clients.

Every failure a marketplace can produce maps onto one of these classes, so callers (the
HTTP routes, the reservation flow, the availability poller) decide on a status code or a
retry without parsing provider-specific bodies. They are `ApiError`s, so the app-wide
handler answers each with its `http_status` and `code`. Messages never contain API keys.
"""

from __future__ import annotations

from gpuproxy.exceptions import ApiError

__all__ = [
    "InstanceStartFailed",
    "InvalidRequest",
    "OfferNotRentable",
    "ProviderAuthError",
    "ProviderBadRequest",
    "ProviderError",
    "ProviderNotFound",
    "ProviderRateLimited",
    "ProviderUnavailable",
]


class InvalidRequest(ApiError, ValueError):
    """Our caller's input is invalid (before any provider is asked); `field` names it."""

    http_status = 400
    code = "invalid_value"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", param=field)
        self.field = field


class OfferNotRentable(ApiError):
    """The offer exists but cannot be rented (e.g. the provider sent no valid price): 409.

    Nothing was held or rented; the message says why.
    """

    http_status = 409
    code = "offer_not_rentable"

    def __init__(self, provider: str, offer_id: str, reason: str) -> None:
        super().__init__(
            f"{provider}: offer {offer_id[:64]!r} cannot be rented: {reason}", param="offer_id"
        )
        self.provider = provider
        self.offer_id = offer_id
        self.reason = reason


class ProviderError(ApiError):
    """Base class: a provider call failed. `provider` names the provider (e.g. "vast.ai")."""

    #: The HTTP status the gateway answers for this failure.
    http_status = 502
    code = "provider_error"

    def __init__(self, provider: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.upstream_status = status


class ProviderAuthError(ProviderError):
    """The provider rejected our credentials (401/403) or none are configured."""

    http_status = 502
    code = "provider_auth_error"


class ProviderNotFound(ProviderError):
    """The offer or instance does not exist at the provider (or is not ours)."""

    http_status = 404
    code = "provider_not_found"


class ProviderRateLimited(ProviderError):
    """The provider kept answering 429 after our bounded backoff."""

    http_status = 503
    code = "provider_rate_limited"


class ProviderUnavailable(ProviderError):
    """Network failure, timeout or 5xx from the provider; retrying later may work."""

    http_status = 503
    code = "provider_unavailable"


class ProviderBadRequest(ProviderError):
    """The provider refused the request as invalid (e.g. an offer no longer rentable)."""

    http_status = 400
    code = "provider_bad_request"


class InstanceStartFailed(ProviderError):
    """A rented instance did not reach "running"; it has been destroyed, not left billing."""

    http_status = 502
    code = "instance_start_failed"

    def __init__(self, provider: str, instance_id: str, reason: str) -> None:
        super().__init__(provider, f"instance {instance_id} failed to start: {reason}")
        self.instance_id = instance_id
        self.reason = reason
