"""Where renting meets the other areas: billing (credits, guard rails) and the worker registry.

Every rent, failure and destroy passes through `RentalHooks`, so each of these calls has
exactly one call site:

- `authorize` runs before any provider is asked: GPU quota, credits and guard rails, and a
  hold of the first hour (`services.billing.reserve_gpu_rent`, when billing is present).
- `rent_failed` releases that hold when the rent did not happen.
- `started` / `ended` start and stop billing's per-minute accrual of the instance
  (`start_accrual` with the hold, `stop_accrual`).
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
    from gpuproxy.billing.service import BillingService
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
    """Calls into billing and the worker registry; each is skipped when its area is absent.

    The billing hold of the first hour (`BillingService.reserve_gpu_rent`) lives in memory
    between `authorize` and `started` / `rent_failed`, keyed by the rental record's id.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self._holds: dict[str, Any] = {}

    def _billing(self) -> BillingService | None:
        return self.services.billing

    async def authorize(self, principal: Principal, offer: Offer, record_id: str) -> str | None:
        """Check quota, credits and guard rails and hold the first hour.

        Returns the billing reference to store on the record (the accrual's key), or None
        without a billing area. Raises billing's error (402 credits or guard rails, 429
        quota) to refuse: then nothing was rented and nothing is held.
        """
        billing = self._billing()
        if billing is None:
            return None
        self._holds[record_id] = await billing.reserve_gpu_rent(principal, offer.price_per_hour)
        return record_id

    async def rent_failed(self, record: InstanceRecord) -> None:
        """Give back the hold of a rent that did not happen (never raises)."""
        hold = self._holds.pop(record.id, None)
        if hold is not None:
            hold.release()

    async def started(self, record: InstanceRecord) -> None:
        """The provider accepted the rent: billing accrues its time from now, per minute.

        Billing starts at acceptance rather than at "running" because marketplaces bill
        from then; the first-hour hold moves to the accrual.
        """
        billing = self._billing()
        hold = self._holds.pop(record.id, None)
        if billing is None or record.billing_ref is None:
            if hold is not None:
                hold.release()
            return
        try:
            await billing.start_accrual(
                record.owner_id,
                record.billing_ref,
                record.price_per_hour,
                provider=record.provider,
                reservation=hold,
            )
        except Exception:
            log.exception("billing could not start accruing %s", record.id)
            if hold is not None:
                hold.release()

    async def ended(self, record: InstanceRecord) -> None:
        """The instance is gone: billing bills the last minutes and stops (never raises)."""
        hold = self._holds.pop(record.id, None)
        if hold is not None:
            hold.release()
        billing = self._billing()
        if billing is None or record.billing_ref is None:
            return
        try:
            await billing.stop_accrual(record.billing_ref)
        except Exception:
            log.exception("billing could not stop accruing %s", record.id)

    async def worker_credentials(
        self, principal: Principal, record: InstanceRecord
    ) -> tuple[str, str] | None:
        """(one-time token, proxy URL) for the worker agent on the instance, when registered."""
        workers = self.services.workers
        if workers is None:
            return None
        token = await workers.issue_token(owner_id=principal.user_id, instance_id=record.id)
        return token, proxy_url_of(self.services)
