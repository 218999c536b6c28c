"""The orphan reaper: destroys marketplace instances of ours that no live rental accounts for.

An instance is an orphan when it carries our mark (`ownership.ownership_tag`, the rental
record id in its label / deployment name) but its record is missing, ended, names another
instance, or has been "renting" for longer than any rent can take (the process renting it
died). Such an instance bills us and nobody: the provider accepted a rent whose answer was
lost (timeout, crash) or could not be stored, or a destroy failed. Instances without our
mark are never touched, whoever else uses the account.

An orphan is destroyed only once it is older than `grace_s` (its provider's creation time,
or when this reaper first saw it where the provider does not say), so a rent that is being
recorded right now is never raced. Every `interval_s` each marketplace is listed once; the
local fleet is skipped (its instances live and die with their proxy process). Several proxy
processes may reap at once: a destroy is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import time

from gpuproxy.providers.base import Provider
from gpuproxy.providers.errors import ProviderError, ProviderNotFound
from gpuproxy.providers.instances import InstanceRecord
from gpuproxy.providers.ownership import record_id_of
from gpuproxy.providers.records import Instance
from gpuproxy.providers.rentals import PROCESS_BOUND, Rentals

__all__ = ["LONGEST_RENT_S", "OrphanReaper"]

log = logging.getLogger(__name__)

#: The longest a rent call can last: RentConfig's largest start_timeout_s plus the create call.
LONGEST_RENT_S = 3600.0 + 300.0


class OrphanReaper:
    def __init__(self, rentals: Rentals, *, interval_s: float, grace_s: float) -> None:
        self.rentals = rentals
        self.interval_s = interval_s
        self.grace_s = grace_s
        self._first_seen: dict[tuple[str, str], float] = {}

    async def run(self) -> None:
        """Reap every `interval_s` forever, the first time one interval after the start
        (a supervised background task; one failed round never stops the next)."""
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.reap_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("orphan reaping failed")

    async def reap_once(self) -> list[tuple[str, str]]:
        """One round over every marketplace; returns the (provider, instance id) destroyed."""
        destroyed: list[tuple[str, str]] = []
        for name, provider in self.rentals.providers.items():
            if name in PROCESS_BOUND:
                continue
            try:
                instances = await provider.list_instances()
            except ProviderError as exc:
                log.info("orphan reaper could not list %s: %s", name, exc)
                continue
            seen: set[tuple[str, str]] = set()
            for instance in instances:
                if await self._reap(provider, instance, seen):
                    destroyed.append((provider.name, instance.id))
            # Forget what is gone, so the first-seen times do not grow without bound.
            for key in [k for k in self._first_seen if k[0] == provider.name and k not in seen]:
                del self._first_seen[key]
        return destroyed

    async def _reap(
        self, provider: Provider, instance: Instance, seen: set[tuple[str, str]]
    ) -> bool:
        record_id = record_id_of(instance.label)
        if record_id is None or instance.status == "destroyed":
            return False
        key = (provider.name, instance.id)
        seen.add(key)
        now = time.time()
        born = instance.created_at or self._first_seen.setdefault(key, now)
        if now - born < self.grace_s:
            return False
        record = await self.rentals.store.get(record_id)
        if record is not None and _accounts_for(record, provider.name, instance.id, now):
            return False
        log.warning(
            "destroying orphan %s instance %s (rental %s: %s)",
            provider.name,
            instance.id,
            record_id,
            "no record" if record is None else record.status,
        )
        try:
            await provider.destroy(instance.id)
        except ProviderNotFound:
            pass
        except ProviderError as exc:
            log.warning("could not destroy orphan %s yet: %s", instance.id, exc)
            return False
        if record is not None and record.status == "renting":
            await self.rentals.store.set_status(
                record, "failed", f"interrupted while renting; instance {instance.id} destroyed"
            )
        return True


def _accounts_for(record: InstanceRecord, provider: str, instance_id: str, now: float) -> bool:
    """Whether `record` is the live rental of this instance (then it is not an orphan)."""
    if record.terminal or record.provider != provider:
        return False
    if record.status == "renting":  # the provider's answer is not stored yet
        return now - record.created_at / 1000 < LONGEST_RENT_S
    return record.provider_instance_id == instance_id
