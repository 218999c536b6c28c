"""The enabled providers, built from settings, and a concurrent search over all of them.

Enabled: `local` when LOCAL_FLEET_ENABLED (the default), `vast.ai` when VASTAI_API_KEY is
set, `io.net` when IONET_API_KEY is set. Names accept the aliases vastai/vast and ionet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from gpuproxy.providers.base import Provider
from gpuproxy.providers.errors import InvalidRequest, ProviderError
from gpuproxy.providers.ionet import IoNetProvider
from gpuproxy.providers.local import LocalFleetProvider
from gpuproxy.providers.params import OfferFilters
from gpuproxy.providers.records import Offer
from gpuproxy.providers.vastai import VastAiProvider

if TYPE_CHECKING:
    from gpuproxy.config import Settings

__all__ = ["EnabledProviders", "OfferSearch", "build_providers"]

_ALIASES = {"vastai": "vast.ai", "vast": "vast.ai", "ionet": "io.net", "io": "io.net"}


class OfferSearch(msgspec.Struct, frozen=True, kw_only=True):
    """Offers from every provider that answered, and one error line per provider that did not."""

    offers: list[Offer]
    errors: dict[str, str]


class EnabledProviders(Mapping[str, Provider]):
    def __init__(self, providers: Mapping[str, Provider]) -> None:
        self._providers = dict(providers)

    def __getitem__(self, name: str) -> Provider:
        return self._providers[_ALIASES.get(name.lower(), name.lower())]

    def __iter__(self) -> Iterator[str]:
        return iter(self._providers)

    def __len__(self) -> int:
        return len(self._providers)

    def resolve(self, name: str) -> Provider:
        """The provider called `name`; InvalidRequest("provider") when none is enabled."""
        try:
            return self[name]
        except KeyError:
            enabled = ", ".join(self._providers) or "none"
            raise InvalidRequest(
                "provider", f"unknown provider {name[:32]!r} (enabled: {enabled})"
            ) from None

    async def search(
        self, filters: OfferFilters, names: list[str] | None = None, timeout_s: float = 15.0
    ) -> OfferSearch:
        """Ask the providers concurrently; a slow or failing one only adds to `errors`."""
        chosen = [self.resolve(n) for n in names] if names else list(self._providers.values())

        async def one(provider: Provider) -> list[Offer]:
            async with asyncio.timeout(timeout_s):
                return await provider.list_offers(filters)

        results = await asyncio.gather(*(one(p) for p in chosen), return_exceptions=True)
        offers: list[Offer] = []
        errors: dict[str, str] = {}
        for provider, result in zip(chosen, results, strict=True):
            if isinstance(result, TimeoutError):
                errors[provider.name] = f"timed out after {timeout_s:g}s"
            elif isinstance(result, ProviderError):
                errors[provider.name] = str(result)
            elif isinstance(result, BaseException):
                raise result
            else:
                offers.extend(result)
        return OfferSearch(offers=filters.sort_and_limit(offers), errors=errors)

    async def aclose(self) -> None:
        await asyncio.gather(*(p.aclose() for p in self._providers.values()))


def build_providers(settings: Settings) -> EnabledProviders:
    """The providers the settings enable (optional knobs are read when the settings have them)."""
    providers: dict[str, Provider] = {}
    if settings.local_fleet_enabled:
        providers["local"] = LocalFleetProvider(
            token_rate=float(getattr(settings, "local_fleet_token_rate", 0.0)),
            log_dir=Path(settings.data_dir) / "workers",
        )
    if settings.vastai_api_key:
        providers["vast.ai"] = VastAiProvider(
            settings.vastai_api_key,
            settings.vastai_url,
            min_reliability=float(getattr(settings, "vastai_min_reliability", 0.9)),
            pacing_scale=settings.vastai_pacing_scale,
        )
    if settings.ionet_api_key:
        key = str(getattr(settings, "ionet_ssh_public_key", ""))
        providers["io.net"] = IoNetProvider(
            settings.ionet_api_key, settings.ionet_url, ssh_public_keys=[key] if key else []
        )
    return EnabledProviders(providers)
