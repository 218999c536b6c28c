"""Load-balancer routes under /api/v1/loadbalancer.

- `GET /loadbalancer/loads[?type=server|provider|all]` server load (per rented instance the
  caller may see: connections, avg response time, load score) and provider load
  (available offers per provider). Needs the `gpu` scope.
- `GET /loadbalancer/load?instance_id=` one instance's server load (404 when not visible).
- `GET /loadbalancer/strategy` the current strategy and the available ones (any caller).
- `PUT /loadbalancer/strategy` {"strategy": NAME} switch it (admins only); names are the
  ones `gpuproxy._core.STRATEGIES` exports.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, put

from gpuproxy.accounts.principal import Principal
from gpuproxy.api.deps import ServicesDep
from gpuproxy.api.gpu.common import providers_of
from gpuproxy.api.guards import principal_of, requires_admin, requires_auth, requires_scope
from gpuproxy.api.json_body import json_object
from gpuproxy.providers.errors import InvalidRequest
from gpuproxy.providers.loads import InstanceLoad, instance_loads, provider_loads
from gpuproxy.providers.params import OfferFilters
from gpuproxy.providers.rentals import InstanceNotFound
from gpuproxy.providers.service import ProvidersService, strategy_names

__all__ = ["LoadBalancerController", "server_loads"]

_TYPES = ("server", "provider", "all")


async def server_loads(service: ProvidersService, principal: Principal) -> list[InstanceLoad]:
    """The load of every live instance `principal` may see (REST and gRPC)."""
    records = await service.store.list_live()
    registry = service.services.workers
    workers = registry.workers() if registry is not None else []
    return instance_loads(principal, records, pools=service.pools().values(), workers=workers)


class LoadBalancerController(Controller):
    path = "/api/v1/loadbalancer"
    tags = ["loadbalancer"]  # noqa: RUF012

    @get("/loads", guards=[requires_scope("gpu")])
    async def loads(self, request: Request[Any, Any, Any], services: ServicesDep) -> dict[str, Any]:
        service = providers_of(services)
        kind = request.query_params.get("type", "all").lower()
        if kind not in _TYPES:
            raise InvalidRequest("type", "must be one of server, provider, all")
        answer: dict[str, Any] = {"strategy": await service.strategy()}
        if kind in ("server", "all"):
            loads = await server_loads(service, principal_of(request))
            answer["server"] = [msgspec.to_builtins(load) for load in loads]
        if kind in ("provider", "all"):
            listing = await service.catalog.search(OfferFilters(limit=1000))
            answer["provider"] = [
                msgspec.to_builtins(load) for load in provider_loads(listing, service.providers)
            ]
        return answer

    @get("/load", guards=[requires_scope("gpu")])
    async def load(self, request: Request[Any, Any, Any], services: ServicesDep) -> dict[str, Any]:
        service = providers_of(services)
        wanted = request.query_params.get("instance_id", "").strip()
        if not wanted:
            raise InvalidRequest("instance_id", "is required")
        for load in await server_loads(service, principal_of(request)):
            if wanted in (load.instance_id, load.record_id, load.worker_id):
                answer: dict[str, Any] = msgspec.to_builtins(load)
                return answer
        raise InstanceNotFound(wanted)

    @get("/strategy", guards=[requires_auth])
    async def strategy(self, services: ServicesDep) -> dict[str, Any]:
        service = providers_of(services)
        return {"strategy": await service.strategy(), "available": list(strategy_names())}

    @put("/strategy", guards=[requires_admin])
    async def set_strategy(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> dict[str, Any]:
        service = providers_of(services)
        body = await json_object(request, required=True)
        previous = await service.strategy()
        current = await service.set_strategy(body.get("strategy"))
        return {"strategy": current, "previous": previous, "available": list(strategy_names())}
