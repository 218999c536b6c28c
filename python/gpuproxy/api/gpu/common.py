"""Helpers shared by the GPU, load-balancer and events routes."""

from __future__ import annotations

from gpuproxy.providers.errors import ProviderUnavailable
from gpuproxy.providers.service import ProvidersService
from gpuproxy.services import Services

__all__ = ["providers_of"]


def providers_of(services: Services) -> ProvidersService:
    """`services.providers`, or 503 when the providers service did not start."""
    if services.providers is None:
        raise ProviderUnavailable("gpu", "the GPU providers service is not running")
    return services.providers
