"""Load figures for `/api/v1/loadbalancer/loads`: per rented instance and per provider.

Server load, per live instance the caller may see: connections in flight and the response
time the balancer measures for it (from every `_core.Pool` registered with the providers
service, matched by worker id, record id or address), plus the health and GPU utilisation
its worker agent reports in heartbeats. `avg_response_ms` is the mean over every request,
`ewma_response_ms` the recent (decaying) average; `load_score` is `(connections + 1) x
ewma_response_ms`, the cost `p2c_ewma` ranks backends by (lower is better). Both are null
until a response time has been measured.

Provider load: how many offers (and GPUs) each provider has available now, the cheapest
price per GPU hour, and the provider's error when it is failing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import msgspec

from gpuproxy.providers.instances import InstanceRecord
from gpuproxy.providers.listing import OfferListing
from gpuproxy.providers.rentals import can_see

if TYPE_CHECKING:
    from gpuproxy.accounts.principal import Principal

__all__ = ["InstanceLoad", "ProviderLoad", "instance_loads", "provider_loads"]


class InstanceLoad(msgspec.Struct, kw_only=True):
    instance_id: str | None
    provider: str
    record_id: str
    owner_id: str
    status: str
    gpu_model: str
    endpoint: str | None
    worker_id: str | None = None
    healthy: bool | None = None
    connections: int = 0
    total_requests: int = 0
    errors: int = 0
    avg_response_ms: float | None = None
    ewma_response_ms: float | None = None
    load_score: float | None = None
    gpu_utilization_pct: float | None = None


class ProviderLoad(msgspec.Struct, kw_only=True):
    provider: str
    available_offers: int
    available_gpus: int
    cheapest_price_per_gpu_hour_micros: int | None
    error: str | None = None


def _index_backends(pools: Iterable[Any]) -> dict[str, Any]:
    by_key: dict[str, Any] = {}
    for pool in pools:
        for backend in pool.backends():
            by_key.setdefault(f"id:{backend.id}", backend)
            by_key.setdefault(f"addr:{backend.address.rstrip('/')}", backend)
    return by_key


def instance_loads(
    principal: Principal,
    records: Iterable[InstanceRecord],
    *,
    pools: Iterable[Any] = (),
    workers: Iterable[Any] = (),
) -> list[InstanceLoad]:
    """Load of each record the principal may see (owner, or an admin: everyone)."""
    backends = _index_backends(pools)
    by_instance = {w.instance_id: w for w in workers if getattr(w, "instance_id", None)}
    loads: list[InstanceLoad] = []
    for record in records:
        if not can_see(principal, record):
            continue
        worker = by_instance.get(record.id)
        load = InstanceLoad(
            instance_id=record.provider_instance_id,
            provider=record.provider,
            record_id=record.id,
            owner_id=record.owner_id,
            status=record.status,
            gpu_model=record.gpu_model,
            endpoint=record.endpoint,
        )
        keys = [f"id:{record.id}"]
        if record.endpoint:
            keys.append(f"addr:{record.endpoint.rstrip('/')}")
        if worker is not None:
            load.worker_id = worker.worker_id
            load.healthy = bool(worker.healthy)
            load.connections = int(worker.in_flight)
            metrics = list(getattr(worker, "metrics", []))
            if metrics:
                load.gpu_utilization_pct = round(
                    sum(m.utilization_pct for m in metrics) / len(metrics), 1
                )
            keys[:0] = [f"id:{worker.worker_id}", f"addr:{worker.address.rstrip('/')}"]
        backend = next((backends[k] for k in keys if k in backends), None)
        if backend is not None:
            load.connections = int(backend.in_flight)
            load.total_requests = int(backend.total)
            load.errors = int(backend.errors)
            if backend.total:
                load.avg_response_ms = round(float(backend.mean_latency_ms), 3)
                load.ewma_response_ms = round(float(backend.ewma_latency_ms), 3)
        if load.ewma_response_ms is not None:
            load.load_score = round((load.connections + 1) * load.ewma_response_ms, 3)
        loads.append(load)
    return loads


def provider_loads(listing: OfferListing, providers: Iterable[str]) -> list[ProviderLoad]:
    errors = {f.provider: f.message for f in listing.errors}
    loads = []
    for name in providers:
        offers = [o for o in listing.offers if o.provider == name and o.rentable]
        prices = [o.price_per_gpu_hour for o in offers]
        loads.append(
            ProviderLoad(
                provider=name,
                available_offers=len(offers),
                available_gpus=sum(max(1, o.num_gpus) for o in offers),
                cheapest_price_per_gpu_hour_micros=min(prices) if prices else None,
                error=errors.get(name),
            )
        )
    return loads
