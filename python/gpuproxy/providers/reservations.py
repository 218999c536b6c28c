"""Reserving several GPUs at once: distinct offers, rented concurrently, reported per GPU.

1. List the offers that pass the filters (all enabled providers, or the one asked for).
2. Rank them through the load balancer's current strategy (`selection.rank_offers`): the
   first `count` are the primary picks, the rest are spares.
3. Rent `count` slots concurrently. A slot whose offer was taken or failed to start moves
   on to the next spare (at most `MAX_ATTEMPTS` offers per slot); a refusal from billing
   ends the slot at once (another offer would be refused too).
4. With `all_or_nothing`, any failed slot destroys everything this reservation rented.

`count` is the number of GPUs: reservations use single-GPU offers unless the filters ask
for more GPUs per offer (then each slot is one such offer).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from gpuproxy.exceptions import ApiError
from gpuproxy.providers.errors import (
    InstanceStartFailed,
    InvalidRequest,
    OfferNotRentable,
    ProviderBadRequest,
    ProviderError,
    ProviderNotFound,
)
from gpuproxy.providers.instances import InstanceRecord, ReservationRecord
from gpuproxy.providers.listing import ProviderFailure
from gpuproxy.providers.params import OfferFilters, RentConfig
from gpuproxy.providers.records import Offer
from gpuproxy.providers.rentals import Rentals
from gpuproxy.providers.selection import rank_offers

if TYPE_CHECKING:
    from gpuproxy.accounts.principal import Principal

__all__ = [
    "MAX_ATTEMPTS",
    "MAX_COUNT",
    "NotEnoughOffers",
    "Reservation",
    "SlotResult",
    "reserve",
]

log = logging.getLogger(__name__)

MAX_COUNT = 16
#: Offers one slot may try before it reports failure.
MAX_ATTEMPTS = 3
#: Errors that concern one offer only: the slot tries the next spare.
_OFFER_ERRORS = (ProviderNotFound, ProviderBadRequest, InstanceStartFailed, OfferNotRentable)

SlotStatus = Literal["reserved", "failed", "rolled_back"]


class NotEnoughOffers(ApiError):
    """Fewer matching offers than asked for (with all_or_nothing), or none at all (409)."""

    http_status = 409
    code = "not_enough_offers"

    def __init__(self, available: int, requested: int, errors: list[ProviderFailure]) -> None:
        super().__init__(
            f"only {available} matching offer(s) available, {requested} requested"
            if available
            else "no offer matches the filters"
        )
        self.available = available
        self.requested = requested
        self.errors = errors

    def body_extra(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "provider_errors": [
                {"provider": f.provider, "message": f.message, "type": f.type} for f in self.errors
            ],
        }


class SlotResult(msgspec.Struct, kw_only=True):
    """What happened to one requested GPU."""

    index: int
    status: SlotStatus
    record: InstanceRecord | None = None
    offers_tried: list[str] = msgspec.field(default_factory=list)
    error: BaseException | None = None


class Reservation(msgspec.Struct, kw_only=True):
    record: ReservationRecord
    slots: list[SlotResult]
    errors: list[ProviderFailure]

    @property
    def reserved(self) -> list[InstanceRecord]:
        return [s.record for s in self.slots if s.status == "reserved" and s.record is not None]


def _check_count(count: Any) -> int:
    if isinstance(count, bool) or not isinstance(count, int):
        raise InvalidRequest("count", f"must be an integer from 1 to {MAX_COUNT}")
    if not 1 <= count <= MAX_COUNT:
        raise InvalidRequest("count", f"must be between 1 and {MAX_COUNT}, got {count}")
    return count


async def reserve(
    rentals: Rentals,
    principal: Principal,
    *,
    count: Any,
    filters: OfferFilters,
    providers: list[str] | None,
    config: RentConfig,
    all_or_nothing: bool,
    strategy: str,
    filters_echo: dict[str, Any],
) -> Reservation:
    """Rent `count` GPUs; raises NotEnoughOffers before renting anything when it cannot start."""
    count = _check_count(count)
    if filters.min_gpus is None and filters.max_gpus is None:
        filters = msgspec.structs.replace(filters, max_gpus=1)
    wanted = min(1000, max(filters.limit, count * (MAX_ATTEMPTS + 1)))
    filters = msgspec.structs.replace(filters, limit=wanted)
    names = [rentals.provider(name).name for name in providers] if providers else None
    listing = await rentals.catalog.search(filters, names, fresh=True)
    ranked = rank_offers(listing.offers, len(listing.offers), strategy, principal.user_id)
    if not ranked or (all_or_nothing and len(ranked) < count):
        raise NotEnoughOffers(len(ranked), count, listing.errors)
    record = await rentals.store.create_reservation(
        owner_id=principal.user_id,
        requested=count,
        all_or_nothing=all_or_nothing,
        filters=filters_echo,
    )
    primaries, spares = ranked[:count], list(ranked[count:])
    slots = [SlotResult(index=i, status="failed") for i in range(count)]
    refused = asyncio.Event()  # billing said no: stop starting new attempts
    gave_up: set[int] = set()

    async def fill(slot: SlotResult, first: Offer | None) -> None:
        try:
            await attempt(slot, first)
        finally:
            if slot.status != "reserved":
                gave_up.add(slot.index)

    async def attempt(slot: SlotResult, offer: Offer | None) -> None:
        while offer is not None and len(slot.offers_tried) < MAX_ATTEMPTS:
            slot.offers_tried.append(offer.id)
            try:
                provider = rentals.provider(offer.provider)
                slot.record = await rentals.rent(
                    principal, provider, offer, config, reservation_id=record.id
                )
                slot.status = "reserved"
                slot.error = None
                return
            except _OFFER_ERRORS as exc:
                slot.error = exc
            except ProviderError as exc:  # the provider itself is failing: do not hammer it
                slot.error = exc
                return
            except Exception as exc:  # billing refusals (and the unexpected) end every slot
                refused.set()
                slot.error = exc
                return
            if refused.is_set() or (all_or_nothing and gave_up):
                return
            offer = spares.pop(0) if spares else None

    await asyncio.gather(
        *(fill(slot, primaries[i] if i < len(primaries) else None) for i, slot in enumerate(slots))
    )
    for slot in slots:
        if slot.status == "failed" and slot.error is None:
            slot.error = ProviderNotFound("reserve", "no matching offer left for this GPU")
    reserved = [s for s in slots if s.status == "reserved"]
    if all_or_nothing and len(reserved) < count:
        await _roll_back(rentals, reserved)
        status = "rolled_back"
        kept = 0
    else:
        kept = len(reserved)
        status = "complete" if kept == count else ("partial" if kept else "failed")
    record = await rentals.store.finish_reservation(record, reserved=kept, status=status)
    return Reservation(record=record, slots=slots, errors=listing.errors)


async def _roll_back(rentals: Rentals, reserved: list[SlotResult]) -> None:
    async def undo(slot: SlotResult) -> None:
        assert slot.record is not None
        try:
            slot.record = await rentals.destroy(slot.record)
            slot.status = "rolled_back"
        except ProviderError as exc:
            # The poller keeps retrying the destroy ("destroying"); report it honestly.
            log.warning("rollback could not destroy %s yet: %s", slot.record.id, exc)
            slot.status = "rolled_back"
            slot.error = exc

    await asyncio.gather(*(undo(slot) for slot in reserved))
