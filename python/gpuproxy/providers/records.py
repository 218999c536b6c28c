"""Normalised records every provider returns: offers to rent and rented instances.

Field names follow the seed's gRPC `GPUInstance` message (id, provider, status,
price_per_hour, vram_gb, gpu_model, num_gpus, location, metadata) plus what the
marketplaces add (reliability, network speed, CUDA version).

Units, whatever the provider uses on the wire:
- `price_per_hour`: integer micro-dollars per hour (1 USD = 1,000,000) for the whole offer
  or instance (all its GPUs); `price_per_gpu_hour` is the same divided by `num_gpus`.
- `vram_gb`: GPU memory per GPU in GB (rounded).
- `reliability`: 0.0-1.0; `inet_down_mbps` / `inet_up_mbps`: megabits per second.

An offer whose provider sent no valid positive price carries `not_rentable_reason`: it is
listed (so the caller sees the marketplace as it is) but sorts last, is never picked by a
reservation and cannot be rented (409 `offer_not_rentable`).
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["FAILED_STATES", "Instance", "InstanceStatus", "Offer"]

#: Lifecycle of a rented instance, the same for every provider.
#: starting: accepted, booting or pulling its image; running: usable; stopped: paused by its
#: owner; failed: did not start or died; destroyed: gone (no longer billed); unknown: the
#: provider reports something we cannot classify.
InstanceStatus = Literal["starting", "running", "stopped", "failed", "destroyed", "unknown"]

#: States from which an instance will not reach "running" by itself.
FAILED_STATES: frozenset[str] = frozenset({"failed", "destroyed"})


class Offer(msgspec.Struct, kw_only=True, frozen=True):
    """Something that can be rented now: one machine (or configuration) of `num_gpus` GPUs."""

    id: str
    provider: str
    gpu_model: str
    num_gpus: int
    vram_gb: int
    price_per_hour: int
    price_per_gpu_hour: int
    location: str = ""
    reliability: float | None = None
    inet_down_mbps: float | None = None
    inet_up_mbps: float | None = None
    cuda_version: str | None = None
    verified: bool | None = None
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    not_rentable_reason: str | None = None

    @property
    def rentable(self) -> bool:
        return self.not_rentable_reason is None


class Instance(msgspec.Struct, kw_only=True, frozen=True):
    """A rented instance as the provider reports it now.

    `endpoint` is the base URL where the instance serves HTTP (the worker agent or the
    image's server) once known; `offer_id` is the offer it was rented from when known.
    `created_at` is a Unix timestamp in seconds.
    """

    id: str
    provider: str
    status: InstanceStatus
    gpu_model: str = ""
    num_gpus: int = 0
    vram_gb: int = 0
    price_per_hour: int = 0
    price_per_gpu_hour: int = 0
    location: str = ""
    reliability: float | None = None
    inet_down_mbps: float | None = None
    inet_up_mbps: float | None = None
    cuda_version: str | None = None
    offer_id: str | None = None
    label: str | None = None
    endpoint: str | None = None
    status_message: str = ""
    created_at: float | None = None
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
