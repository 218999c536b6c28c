"""GPU providers: the common interface (`base.Provider`), normalised records, and one module
per source: `vastai`, `ionet`, `local` (the embedded fleet)."""

from gpuproxy.providers.base import CallTimeouts, Provider
from gpuproxy.providers.errors import (
    InstanceStartFailed,
    InvalidRequest,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderUnavailable,
)
from gpuproxy.providers.params import OfferFilters, RentConfig, parse_rent_config
from gpuproxy.providers.records import Instance, InstanceStatus, Offer

__all__ = [
    "CallTimeouts",
    "Instance",
    "InstanceStartFailed",
    "InstanceStatus",
    "InvalidRequest",
    "Offer",
    "OfferFilters",
    "Provider",
    "ProviderAuthError",
    "ProviderBadRequest",
    "ProviderError",
    "ProviderNotFound",
    "ProviderRateLimited",
    "ProviderUnavailable",
    "RentConfig",
    "parse_rent_config",
]
