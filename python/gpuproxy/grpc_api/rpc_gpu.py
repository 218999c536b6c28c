"""GPU RPCs over the providers service: offers, rent, show, destroy, reserve, load balancing.

Each is the HTTP route of the same name with the same checks (`gpu` scope; another user's
instance is NOT_FOUND like a missing one; setting the strategy needs an admin).
"""

from __future__ import annotations

import math
from typing import Any

from gpuproxy.api.gpu.common import providers_of
from gpuproxy.api.gpu.loadbalancer import server_loads
from gpuproxy.api.gpu.rentals import parse_filters, parse_provider_names
from gpuproxy.api.gpu.views import instance_view, offer_view, reservation_view
from gpuproxy.grpc_api import gpuproxy_pb2 as pb
from gpuproxy.grpc_api._handlers import RpcBase, unary
from gpuproxy.grpc_api.auth import authorize
from gpuproxy.grpc_api.convert import instance_message, offer_message
from gpuproxy.providers.errors import InvalidRequest
from gpuproxy.providers.loads import provider_loads
from gpuproxy.providers.params import OfferFilters, parse_rent_config
from gpuproxy.providers.reservations import reserve
from gpuproxy.providers.service import strategy_names

__all__ = ["GpuRpcs"]

_LOAD_TYPES = ("server", "provider", "all")


def _filters(**values: Any) -> dict[str, Any]:
    """proto3 has no "unset" for scalars: 0 and "" mean "no filter". The seed's min_vram
    is a double while VRAM is whole GB: at least 15.5 GB is at least 16 GB."""
    if values.get("min_vram"):
        values["min_vram"] = math.ceil(values["min_vram"])
    return {key: value for key, value in values.items() if value}


def _rent_config(image: str, env: Any, ports: Any) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if image:
        config["image"] = image
    if env:
        config["env"] = dict(env)
    if ports:
        config["ports"] = list(ports)
    return config


class GpuRpcs(RpcBase):
    @unary
    async def ListGPUInstances(
        self, request: pb.ListGPUInstancesRequest, context: Any
    ) -> pb.ListGPUInstancesResponse:
        await authorize(self.services, context, scope="gpu")
        service = providers_of(self.services)
        names = parse_provider_names(request.provider or None, service)
        filters = parse_filters(
            _filters(
                min_vram=request.min_vram, max_price=request.max_price,
                gpu_model=request.gpu_model, location=request.location, limit=request.limit,
            )
        )  # fmt: skip
        listing = await service.catalog.search(filters, names)
        return pb.ListGPUInstancesResponse(
            instances=[offer_message(offer_view(o)) for o in listing.offers],
            total_count=len(listing.offers),
            errors=[
                pb.ProviderError(provider=f.provider, message=f.message, type=f.type)
                for f in listing.errors
            ],
        )

    @unary
    async def CreateGPUInstance(
        self, request: pb.CreateGPUInstanceRequest, context: Any
    ) -> pb.CreateGPUInstanceResponse:
        principal = await authorize(self.services, context, scope="gpu")
        service = providers_of(self.services)
        if not request.instance_id:
            raise InvalidRequest("instance_id", "is required (the offer id to rent)")
        config = parse_rent_config(_rent_config(request.image, request.env, request.ports))
        chosen = service.rentals.provider(request.provider)
        offer = await service.rentals.find_offer(chosen, request.instance_id)
        record = await service.rentals.rent(principal, chosen, offer, config)
        return pb.CreateGPUInstanceResponse(
            instance=instance_message(instance_view(record)),
            message=f"rented {record.provider} offer {record.offer_id}: {record.status}",
        )

    async def _visible(self, provider: str, instance_id: str, context: Any) -> tuple[Any, Any]:
        """(rentals, record) of an instance the caller may see; NOT_FOUND otherwise."""
        principal = await authorize(self.services, context, scope="gpu")
        rentals = providers_of(self.services).rentals
        return rentals, await rentals.visible(principal, provider, instance_id)

    @unary
    async def GetGPUInstance(
        self, request: pb.GetGPUInstanceRequest, context: Any
    ) -> pb.GPUInstance:
        rentals, record = await self._visible(request.provider, request.instance_id, context)
        return instance_message(instance_view(await rentals.refresh(record)))

    @unary
    async def DestroyGPUInstance(
        self, request: pb.DestroyGPUInstanceRequest, context: Any
    ) -> pb.DestroyGPUInstanceResponse:
        rentals, record = await self._visible(request.provider, request.instance_id, context)
        record = await rentals.destroy(record)
        return pb.DestroyGPUInstanceResponse(
            instance=instance_message(instance_view(record)),
            message=f"{record.provider} instance {record.provider_instance_id}: {record.status}",
        )

    @unary
    async def ReserveGPUs(
        self, request: pb.ReserveGPUsRequest, context: Any
    ) -> pb.ReserveGPUsResponse:
        principal = await authorize(self.services, context, scope="gpu")
        service = providers_of(self.services)
        wanted = _filters(
            min_vram=request.min_vram, max_price=request.max_price, gpu_model=request.gpu_model
        )
        result = await reserve(
            service.rentals,
            principal,
            count=request.count,
            filters=parse_filters(wanted),
            providers=parse_provider_names(request.provider or None, service),
            config=parse_rent_config(_rent_config(request.image, None, None)),
            all_or_nothing=request.all_or_nothing,
            strategy=await service.strategy(),
            filters_echo={**wanted, "provider": request.provider or None},
        )
        view = reservation_view(result)
        return pb.ReserveGPUsResponse(
            reserved_instances=[instance_message(i) for i in view["reserved_instances"]],
            reserved_count=view["reserved_count"],
            message=view["message"],
            reservation_id=view["reservation_id"],
        )

    @unary
    async def SetLoadBalancerStrategy(
        self, request: pb.SetLoadBalancerStrategyRequest, context: Any
    ) -> pb.SetLoadBalancerStrategyResponse:
        await authorize(self.services, context, admin=True)
        service = providers_of(self.services)
        previous = await service.strategy()
        current = await service.set_strategy(request.strategy)
        return pb.SetLoadBalancerStrategyResponse(
            strategy=current, previous=previous, available=list(strategy_names())
        )

    @unary
    async def GetLoadInfo(
        self, request: pb.GetLoadInfoRequest, context: Any
    ) -> pb.GetLoadInfoResponse:
        principal = await authorize(self.services, context, scope="gpu")
        service = providers_of(self.services)
        kind = (request.type or "all").lower()
        if kind not in _LOAD_TYPES:
            raise InvalidRequest("type", "must be one of server, provider, all")
        answer = pb.GetLoadInfoResponse(strategy=await service.strategy())
        if kind in ("server", "all"):
            for load in await server_loads(service, principal):
                answer.server.append(
                    pb.ServerLoad(
                        instance_id=load.instance_id or "", provider=load.provider,
                        record_id=load.record_id, status=load.status, gpu_model=load.gpu_model,
                        worker_id=load.worker_id or "", healthy=bool(load.healthy),
                        connections=load.connections, total_requests=load.total_requests,
                        errors=load.errors, avg_response_ms=load.avg_response_ms or 0.0,
                        load_score=load.load_score or 0.0,
                    )
                )  # fmt: skip
        if kind in ("provider", "all"):
            listing = await service.catalog.search(OfferFilters(limit=1000))
            for entry in provider_loads(listing, service.providers):
                answer.provider.append(
                    pb.ProviderLoad(
                        provider=entry.provider, available_offers=entry.available_offers,
                        available_gpus=entry.available_gpus,
                        cheapest_price_per_gpu_hour_micros=(
                            entry.cheapest_price_per_gpu_hour_micros or 0
                        ),
                        error=entry.error or "",
                    )
                )  # fmt: skip
        return answer
