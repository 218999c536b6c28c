"""Where renting meets the other areas: billing (credits, guard rails) and the worker registry.

Every rent, failure and destroy passes through `RentalHooks`, so each of these calls has
exactly one call site:

- `authorize` runs before any provider is asked: it checks credits and guard rails and holds
  the first hour (`services.billing`, when the billing area is present).
- `rent_failed` releases that hold when the rent did not happen.
- `started` / `ended` tell billing when an instance begins and stops being billed.
- `worker_credentials` asks the worker registry for a one-time registration token, so the
  worker agent on the rented GPU can register with this proxy.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from gpuproxy.providers.instances import InstanceRecord
from gpuproxy.providers.records import Offer

if TYPE_CHECKING:
    from gpuproxy.accounts.principal import Principal
    from gpuproxy.services import Services

__all__ = ["RentalHooks", "proxy_url_of"]

log = logging.getLogger(__name__)


def proxy_url_of(services: Services) -> str:
    """The URL a worker reaches this proxy at: PUBLIC_URL, else HOST:PORT on loopback."""
    settings = services.settings
    public = getattr(settings, "public_url", "")
    if public:
        return str(public)
    host = settings.host
    if host in ("0.0.0.0", "::", ""):  # a listen-all address: connect via loopback
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


class RentalHooks:
    """Calls into billing and the worker registry; each is skipped when its area is absent."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def _billing(self) -> Any:
        return getattr(self.services, "billing", None)

    async def authorize(self, principal: Principal, offer: Offer, record_id: str) -> str | None:
        """Check credits and guard rails and hold the first hour; returns the hold's reference.

        Raises the billing area's error (e.g. `PaymentRequiredError`, HTTP 402) to refuse.
        """
        billing = self._billing()
        hold = getattr(billing, "hold_gpu_rental", None)
        if hold is None:
            return None
        reference: str | None = await hold(
            user_id=principal.user_id,
            instance_id=record_id,
            price_per_hour=offer.price_per_hour,
            provider=offer.provider,
        )
        return reference

    async def rent_failed(self, record: InstanceRecord) -> None:
        """Give back the hold of a rent that did not happen (never raises)."""
        release = getattr(self._billing(), "release_gpu_rental", None)
        if release is None or record.billing_ref is None:
            return
        try:
            await release(user_id=record.owner_id, reference=record.billing_ref)
        except Exception:
            log.exception("could not release the billing hold of %s", record.id)

    async def started(self, record: InstanceRecord) -> None:
        """The instance now exists at the provider: billing starts counting its time."""
        start = getattr(self._billing(), "gpu_rental_started", None)
        if start is None:
            return
        try:
            await start(
                user_id=record.owner_id,
                instance_id=record.id,
                provider=record.provider,
                price_per_hour=record.price_per_hour,
                reference=record.billing_ref,
            )
        except Exception:
            log.exception("billing could not start accruing %s", record.id)

    async def ended(self, record: InstanceRecord) -> None:
        """The instance is gone: billing stops counting and settles the hold."""
        stop = getattr(self._billing(), "gpu_rental_ended", None)
        if stop is None:
            return
        try:
            await stop(user_id=record.owner_id, instance_id=record.id, reference=record.billing_ref)
        except Exception:
            log.exception("billing could not stop accruing %s", record.id)

    async def worker_credentials(
        self, principal: Principal, record: InstanceRecord
    ) -> tuple[str, str] | None:
        """(one-time token, proxy URL) for the worker agent on the instance, when registered."""
        workers = getattr(self.services, "workers", None)
        issue = getattr(workers, "issue_token", None)
        if issue is None:
            return None
        token: str = await issue(owner_id=principal.user_id, instance_id=record.id)
        return token, proxy_url_of(self.services)
