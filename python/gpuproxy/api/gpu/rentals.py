"""GPU routes under /api/v1/gpu: list offers, rent, show, destroy, my instances, reserve.

- `GET  /gpu/instances?provider=&min_vram=&max_price=&gpu_model=&location=` offers of every
  enabled provider (or the ones named, comma-separated; `all` = every one), with a
  per-provider `errors` list; a failing provider never fails the listing. Each offer says
  `rentable` and, when it is not (no valid price), `not_rentable_reason`.
- `POST /gpu/instances/{provider}/{offer_id}` rent (body: image, env, ports, disk, ...);
  409 `offer_not_rentable` for an offer without a valid price or whose host cannot serve
  the rent (vast.ai: fewer open ports than it maps); the price held is the provider's quote
  for the rent (vast.ai adds storage for its `disk`).
- `GET | DELETE /gpu/instances/{provider}/{instance_id}` show / destroy, owner or admin only.
- `GET  /gpu/instances/mine[?all=true]` the caller's instances (ended ones with all=true).
- `POST /gpu/instances/reserve` {count 1-16, filters, config, all_or_nothing}.

All need the `gpu` scope. Another user's instance answers 404, like a missing one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import FromPath

from gpuproxy.accounts.principal import Principal
from gpuproxy.api.deps import ServicesDep
from gpuproxy.api.errors import error_parts
from gpuproxy.api.gpu.common import providers_of
from gpuproxy.api.gpu.views import failure_view, instance_view, offer_view, reservation_view
from gpuproxy.api.guards import principal_of, requires_scope
from gpuproxy.api.json_body import json_object
from gpuproxy.providers.errors import InvalidRequest
from gpuproxy.providers.params import OfferFilters, parse_rent_config
from gpuproxy.providers.reservations import Reservation, reserve
from gpuproxy.providers.service import ProvidersService

__all__ = [
    "GpuController",
    "offers_listing",
    "parse_filters",
    "parse_provider_names",
    "reserve_from_body",
]

_FILTER_KEYS = frozenset(
    {
        "min_vram",
        "max_price",
        "gpu_model",
        "location",
        "min_gpus",
        "max_gpus",
        "min_reliability",
        "order",
        "limit",
    }
)


def parse_provider_names(raw: Any, service: ProvidersService) -> list[str] | None:
    """None for every provider ("", "all"), else the canonical names (400 for unknown ones)."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise InvalidRequest("provider", "must be a provider name such as vast.ai, io.net, local")
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if not names or any(n.lower() == "all" for n in names):
        return None
    return list(dict.fromkeys(service.rentals.provider(n).name for n in names))


def parse_filters(values: Mapping[str, Any]) -> OfferFilters:
    """Offer filters from query parameters or a JSON object (400 names the bad field)."""
    query: dict[str, str] = {}
    for key, value in values.items():
        if key not in _FILTER_KEYS or value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidRequest(key, "must be a string or a number")
        query[key] = str(value)
    return OfferFilters.from_query(query)


async def offers_listing(service: ProvidersService, values: Mapping[str, Any]) -> dict[str, Any]:
    """The offers matching `values` (filters and `provider`), with per-provider errors; the
    REST route and the agent actions share it."""
    names = parse_provider_names(values.get("provider"), service)
    listing = await service.catalog.search(parse_filters(values), names)
    return {
        "instances": [offer_view(o) for o in listing.offers],
        "total_count": len(listing.offers),
        "providers": listing.providers,
        "errors": [failure_view(f) for f in listing.errors],
    }


async def reserve_from_body(
    service: ProvidersService, principal: Principal, body: Mapping[str, Any]
) -> Reservation:
    """Reserve GPUs from the JSON form `{count, filters, provider, config, all_or_nothing}`
    (filters may also sit at the top level); 400 names the bad field. The REST route and
    the agent actions share it."""
    if "count" not in body:
        raise InvalidRequest("count", "is required (1 to 16)")
    nested = body.get("filters")
    nested = {} if nested is None else nested
    if not isinstance(nested, dict):
        raise InvalidRequest("filters", "must be a JSON object")
    merged = {**{k: v for k, v in body.items() if k in _FILTER_KEYS}, **nested}
    provider_raw = nested.get("provider", body.get("provider"))
    config_raw = body.get("config")
    config_raw = {} if config_raw is None else config_raw
    if not isinstance(config_raw, dict):
        raise InvalidRequest("config", "must be a JSON object")
    all_or_nothing = body.get("all_or_nothing", False)
    if not isinstance(all_or_nothing, bool):
        raise InvalidRequest("all_or_nothing", "must be true or false")
    return await reserve(
        service.rentals,
        principal,
        count=body["count"],
        filters=parse_filters(merged),
        providers=parse_provider_names(provider_raw, service),
        config=parse_rent_config(config_raw),
        all_or_nothing=all_or_nothing,
        strategy=await service.strategy(),
        filters_echo={**merged, "provider": provider_raw},
    )


class GpuController(Controller):
    path = "/api/v1/gpu"
    guards = [requires_scope("gpu")]  # noqa: RUF012 - Litestar reads a plain list
    tags = ["gpu"]  # noqa: RUF012

    @get("/instances")
    async def list_offers(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> dict[str, Any]:
        query = {k: request.query_params.get(k) for k in request.query_params}
        return await offers_listing(providers_of(services), query)

    @get("/instances/mine")
    async def mine(self, request: Request[Any, Any, Any], services: ServicesDep) -> dict[str, Any]:
        service = providers_of(services)
        include_ended = request.query_params.get("all", "").lower() in ("1", "true", "yes")
        records = await service.store.list_for_owner(
            principal_of(request).user_id, include_ended=include_ended
        )
        return {"instances": [instance_view(r) for r in records], "total_count": len(records)}

    @post("/instances/reserve")
    async def reserve(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> Response[Any]:
        service = providers_of(services)
        body = await json_object(request, required=True)
        result = await reserve_from_body(service, principal_of(request), body)
        view = reservation_view(result)
        if result.record.reserved > 0:
            return Response(view, status_code=201)
        first = next((s.error for s in result.slots if s.error is not None), None)
        status, error, headers = error_parts(first) if first else (502, {}, {})
        error = error or {"error": {"message": view["message"], "type": "upstream_error"}}
        error["error"]["message"] = f"{view['message']}: {error['error']['message']}"
        return Response({**error, "reservation": view}, status_code=status, headers=headers)

    @post("/instances/{provider:str}/{offer_id:str}")
    async def rent(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        provider: FromPath[str],
        offer_id: FromPath[str],
    ) -> Response[Any]:
        service = providers_of(services)
        config = parse_rent_config(await json_object(request, required=False))
        chosen = service.rentals.provider(provider)
        offer = await service.rentals.find_offer(chosen, offer_id)
        record = await service.rentals.rent(principal_of(request), chosen, offer, config)
        return Response(instance_view(record), status_code=201)

    @get("/instances/{provider:str}/{instance_id:str}")
    async def show(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        provider: FromPath[str],
        instance_id: FromPath[str],
    ) -> dict[str, Any]:
        service = providers_of(services)
        record = await service.rentals.visible(principal_of(request), provider, instance_id)
        record = await service.rentals.refresh(record)
        return instance_view(record)

    @delete("/instances/{provider:str}/{instance_id:str}", status_code=200)
    async def destroy(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        provider: FromPath[str],
        instance_id: FromPath[str],
    ) -> dict[str, Any]:
        service = providers_of(services)
        record = await service.rentals.visible(principal_of(request), provider, instance_id)
        record = await service.rentals.destroy(record)
        return instance_view(record)
