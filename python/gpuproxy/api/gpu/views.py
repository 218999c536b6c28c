"""JSON shapes of the GPU routes (field names from the seed's `GPUInstance` message).

Money goes out twice: as a decimal dollar string (`price_per_hour`, "1.290000") and as
integer micro-dollars (`price_per_hour_micros`). Times are unix milliseconds.
"""

from __future__ import annotations

from typing import Any

from gpuproxy.api.errors import error_parts
from gpuproxy.money import micros_to_dollars
from gpuproxy.providers.instances import InstanceRecord
from gpuproxy.providers.listing import ProviderFailure
from gpuproxy.providers.records import Offer
from gpuproxy.providers.reservations import Reservation, SlotResult

__all__ = [
    "failure_view",
    "instance_view",
    "offer_view",
    "reservation_view",
]


def offer_view(offer: Offer) -> dict[str, Any]:
    return {
        "id": offer.id,
        "provider": offer.provider,
        "status": "available" if offer.rentable else "not_rentable",
        "rentable": offer.rentable,
        "not_rentable_reason": offer.not_rentable_reason,
        "gpu_model": offer.gpu_model,
        "num_gpus": offer.num_gpus,
        "vram_gb": offer.vram_gb,
        "price_per_hour": micros_to_dollars(offer.price_per_hour),
        "price_per_hour_micros": offer.price_per_hour,
        "price_per_gpu_hour": micros_to_dollars(offer.price_per_gpu_hour),
        "price_per_gpu_hour_micros": offer.price_per_gpu_hour,
        "location": offer.location,
        "reliability": offer.reliability,
        "inet_down_mbps": offer.inet_down_mbps,
        "inet_up_mbps": offer.inet_up_mbps,
        "cuda_version": offer.cuda_version,
        "verified": offer.verified,
        "metadata": dict(offer.metadata),
    }


def instance_view(record: InstanceRecord) -> dict[str, Any]:
    metadata = {"record_id": record.id}
    if record.provider_instance_id is not None:
        metadata["contract_id"] = record.provider_instance_id
    return {
        "id": record.provider_instance_id,
        "provider": record.provider,
        "status": record.status,
        "status_message": record.status_message,
        "gpu_model": record.gpu_model,
        "num_gpus": record.num_gpus,
        "vram_gb": record.vram_gb,
        "price_per_hour": micros_to_dollars(record.price_per_hour),
        "price_per_hour_micros": record.price_per_hour,
        "location": record.location,
        "endpoint": record.endpoint,
        "offer_id": record.offer_id,
        "owner_id": record.owner_id,
        "reservation_id": record.reservation_id,
        "config": record.config,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "running_at": record.running_at,
        "destroyed_at": record.destroyed_at,
        "metadata": metadata,
    }


def failure_view(failure: ProviderFailure) -> dict[str, Any]:
    return {"provider": failure.provider, "message": failure.message, "type": failure.type}


def _last(items: list[str]) -> str | None:
    return items[-1] if items else None


def _slot_view(slot: SlotResult) -> dict[str, Any]:
    record = slot.record
    error = None
    if slot.error is not None:
        status, body, _headers = error_parts(slot.error)
        error = {**body["error"], "status": status}
    return {
        "index": slot.index,
        "status": slot.status,
        "provider": record.provider if record else None,
        "offer_id": record.offer_id if record else _last(slot.offers_tried),
        "instance_id": record.provider_instance_id if record else None,
        "contract_id": record.provider_instance_id if record else None,
        "offers_tried": list(slot.offers_tried),
        "instance": instance_view(record) if record else None,
        "error": error,
    }


def reservation_view(reservation: Reservation) -> dict[str, Any]:
    record = reservation.record
    reserved = reservation.reserved
    if record.status == "rolled_back":
        failed = sum(1 for slot in reservation.slots if slot.status == "failed")
        message = f"rolled back everything: {failed} of {record.requested} GPU(s) failed"
    else:
        message = f"reserved {record.reserved} of {record.requested} GPU(s)"
    return {
        "reservation_id": record.id,
        "status": record.status,
        "requested": record.requested,
        "reserved_count": record.reserved,
        "all_or_nothing": record.all_or_nothing,
        "reserved_instances": [instance_view(r) for r in reserved],
        "results": [_slot_view(slot) for slot in reservation.slots],
        "provider_errors": [failure_view(f) for f in reservation.errors],
        "message": message,
    }
