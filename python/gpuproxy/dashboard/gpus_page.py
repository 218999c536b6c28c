"""GPUs: offers from every configured provider with the API's filters, rent one, reserve
up to 16 at once, the caller's instances and destroying them. The providers service does
the work, with the same rules (and errors) as /api/v1/gpu."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect

from gpuproxy.accounts.principal import Principal
from gpuproxy.api.deps import ServicesDep
from gpuproxy.api.gpu.common import providers_of
from gpuproxy.api.gpu.rentals import offers_listing, reserve_from_body
from gpuproxy.api.gpu.views import instance_view, reservation_view
from gpuproxy.dashboard.render import SECURITY_HEADERS, page
from gpuproxy.dashboard.session import DASHBOARD_PREFIX
from gpuproxy.dashboard.web import DashboardController, PathId, checked_form, signed_in
from gpuproxy.exceptions import ApiError
from gpuproxy.providers.params import parse_rent_config
from gpuproxy.services import Services

__all__ = ["DashboardGpusController"]

_GPUS = DASHBOARD_PREFIX + "/gpus"
#: The filter form's fields: the query parameters of GET /api/v1/gpu/instances.
FILTERS = ("provider", "gpu_model", "min_vram", "max_price", "min_gpus", "location", "order")


async def _gpus_page(
    request: Request[Any, Any, Any],
    services: Services,
    principal: Principal,
    chosen: dict[str, str],
    *,
    status: int = 200,
    reservation: dict[str, Any] | None = None,
) -> Response[str]:
    service = providers_of(services)
    query = {k: v for k, v in chosen.items() if v}
    listing = await offers_listing(service, {**query, "limit": "50"})
    records = await service.store.list_for_owner(principal.user_id, include_ended=False)
    return page(
        request,
        "gpus.html",
        status=status,
        filters=chosen,
        offers=listing["instances"],
        failures=listing["errors"],
        instances=[instance_view(r) for r in records],
        reservation=reservation,
    )


class DashboardGpusController(DashboardController):
    path = _GPUS

    @get("/")
    async def gpus(self, request: Request[Any, Any, Any], services: ServicesDep) -> Response[str]:
        chosen = {k: request.query_params.get(k, "").strip() for k in FILTERS}
        return await _gpus_page(request, services, signed_in(request), chosen)

    @post("/reserve", status_code=200)
    async def reserve(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> Response[str]:
        """Reserve up to 16 GPUs matching the filters, as POST /api/v1/gpu/instances/reserve
        (the same checks, strategy and rollback); the answer shows every slot's outcome."""
        principal = signed_in(request)
        form = await checked_form(request)
        chosen = {k: str(form.get(k, "")).strip()[:100] for k in FILTERS}
        count = str(form.get("count", "")).strip()
        if not count.isdigit():
            raise ApiError("count must be a whole number from 1 to 16", param="count")
        body = {
            "count": int(count),
            "filters": {k: v for k, v in chosen.items() if v and k != "provider"},
            "provider": chosen["provider"] or None,
            "all_or_nothing": form.get("all_or_nothing") == "true",
        }
        result = await reserve_from_body(providers_of(services), principal, body)
        view = reservation_view(result)
        status = 201 if result.record.reserved > 0 else 502
        return await _gpus_page(
            request, services, principal, chosen, status=status, reservation=view
        )

    @post("/rent", status_code=200)
    async def rent(self, request: Request[Any, Any, Any], services: ServicesDep) -> Redirect:
        principal = signed_in(request)
        form = await checked_form(request)
        service = providers_of(services)
        chosen = service.rentals.provider(str(form.get("provider", ""))[:64])
        offer = await service.rentals.find_offer(chosen, str(form.get("offer_id", ""))[:128])
        await service.rentals.rent(principal, chosen, offer, parse_rent_config({}))
        return Redirect(_GPUS, status_code=303, headers=SECURITY_HEADERS)

    @post("/{provider:str}/{instance_id:str}/destroy", status_code=200)
    async def destroy(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        provider: PathId,
        instance_id: PathId,
    ) -> Redirect:
        principal = signed_in(request)
        await checked_form(request)
        service = providers_of(services)
        record = await service.rentals.visible(principal, provider, instance_id)
        await service.rentals.destroy(record)
        return Redirect(_GPUS, status_code=303, headers=SECURITY_HEADERS)
