"""Gateway configuration routes: model token prices and shared pools.

- `GET /api/v1/model-prices` (any authenticated caller): every configured price and the
  default for unpriced models, in dollars per million tokens (and micro-dollars).
- `PUT /api/v1/admin/model-prices/{model}` {input_per_million, output_per_million} in
  dollars (admins); `DELETE` falls back to the default.
- `GET /api/v1/admin/shared-pools`, `PUT /api/v1/admin/shared-pools/{name}`
  {owner_id, models?}, `DELETE ...` (admins): share an account's workers with everyone.

Changes reach every proxy process through the key-value store's pub/sub.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, put
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from gpuproxy.api.deps import ServicesDep
from gpuproxy.api.gateway.common import gateway_of
from gpuproxy.api.guards import principal_of, requires_admin, requires_auth
from gpuproxy.gateway.errors import GatewayError
from gpuproxy.gateway.pools import SharedPoolConfig
from gpuproxy.gateway.prices import PRICES_CHANNEL, ModelPrice
from gpuproxy.gateway.shared_pools import SHARED_POOLS_CHANNEL, validate_pool_name
from gpuproxy.money import dollars_to_micros, micros_to_dollars

__all__ = ["ModelPricesController", "SharedPoolsController"]

_MAX_MODEL_NAME = 256


class PriceBody(msgspec.Struct, forbid_unknown_fields=True):
    """Dollars per million tokens, as a string ("0.15") or a number."""

    input_per_million: str | int | float
    output_per_million: str | int | float


class SharedPoolBody(msgspec.Struct, forbid_unknown_fields=True):
    owner_id: str
    models: list[str] = msgspec.field(default_factory=list)


def _price_view(price: ModelPrice) -> dict[str, Any]:
    return {
        "model": price.model,
        "input_per_million": micros_to_dollars(price.input_micros_per_mtok),
        "output_per_million": micros_to_dollars(price.output_micros_per_mtok),
        "input_micros_per_million": price.input_micros_per_mtok,
        "output_micros_per_million": price.output_micros_per_mtok,
        "updated_at": price.updated_at,
    }


def _dollars(value: str | int | float, field: str) -> int:
    try:
        micros = dollars_to_micros(value)
    except ValueError:
        raise GatewayError(400, f"{field}: expected a dollar amount", param=field) from None
    if micros < 0:
        raise GatewayError(400, f"{field}: cannot be negative", param=field)
    return micros


def _model_name(model: str) -> str:
    model = model.strip("/")
    if not model or len(model) > _MAX_MODEL_NAME:
        raise GatewayError(400, "model: 1-256 characters", param="model")
    return model


class ModelPricesController(Controller):
    path = "/api/v1"
    tags = ["gateway"]  # noqa: RUF012

    @get("/model-prices", guards=[requires_auth], summary="Token prices per model")
    async def list_prices(self, services: ServicesDep) -> dict[str, Any]:
        gateway = gateway_of(services)
        default = _price_view(gateway.prices.default)
        default.pop("model")
        default.pop("updated_at")
        return {
            "data": [_price_view(p) for p in gateway.prices.all()],
            "default": default,
            "unit": "dollars per million tokens",
        }

    @put(
        "/admin/model-prices/{model:path}",
        guards=[requires_admin],
        summary="Set a model's token prices (admin)",
    )
    async def set_price(
        self,
        model: FromPath[str],
        data: JSONBody[PriceBody],
        request: Request[Any, Any, Any],
        services: ServicesDep,
    ) -> dict[str, Any]:
        gateway = gateway_of(services)
        name = _model_name(model)
        price = await gateway.prices.set(
            name,
            _dollars(data.input_per_million, "input_per_million"),
            _dollars(data.output_per_million, "output_per_million"),
            by=principal_of(request).user_id,
        )
        await gateway.announce(PRICES_CHANNEL)
        return _price_view(price)

    @delete(
        "/admin/model-prices/{model:path}",
        guards=[requires_admin],
        status_code=HTTP_204_NO_CONTENT,
        summary="Remove a model's prices: the default applies again (admin)",
    )
    async def delete_price(self, model: FromPath[str], services: ServicesDep) -> None:
        gateway = gateway_of(services)
        if not await gateway.prices.delete(_model_name(model)):
            raise GatewayError(404, f"no price is set for {model!r}", code="not_found")
        await gateway.announce(PRICES_CHANNEL)


class SharedPoolsController(Controller):
    path = "/api/v1/admin/shared-pools"
    guards = [requires_admin]  # noqa: RUF012
    tags = ["gateway"]  # noqa: RUF012

    @get("/", summary="Shared pools and the workers in them (admin)")
    async def list_pools(self, services: ServicesDep) -> dict[str, Any]:
        gateway = gateway_of(services)
        members: dict[str, list[str]] = {}
        for entry in gateway.pools.entries():
            if entry.shared:
                name = entry.scope.removeprefix("shared:")
                members.setdefault(name, []).extend(sorted(entry.members))
        data = [
            {
                "name": config.name,
                "owner_id": config.owner_id,
                "models": list(config.models),
                "workers": sorted(set(members.get(config.name, []))),
            }
            for config in gateway.pools.shared
        ]
        return {"data": data}

    @put("/{name:str}", summary="Share an account's workers with every user (admin)")
    async def put_pool(
        self,
        name: FromPath[str],
        data: JSONBody[SharedPoolBody],
        request: Request[Any, Any, Any],
        services: ServicesDep,
    ) -> dict[str, Any]:
        gateway = gateway_of(services)
        validate_pool_name(name)
        if name == "static":
            raise GatewayError(
                400, "name: 'static' is reserved for GATEWAY_UPSTREAMS", param="name"
            )
        if not data.owner_id.strip():
            raise GatewayError(400, "owner_id: required", param="owner_id")
        models = tuple(_model_name(m) for m in data.models)
        config = SharedPoolConfig(name=name, owner_id=data.owner_id.strip(), models=models)
        await gateway.shared_store.put(config, by=principal_of(request).user_id)
        await gateway.reload_shared()  # here at once; other processes via the channel
        await gateway.announce(SHARED_POOLS_CHANNEL)
        return {"name": name, "owner_id": config.owner_id, "models": list(models)}

    @delete("/{name:str}", status_code=HTTP_204_NO_CONTENT, summary="Stop sharing (admin)")
    async def delete_pool(self, name: FromPath[str], services: ServicesDep) -> None:
        gateway = gateway_of(services)
        if not await gateway.shared_store.delete(name):
            raise GatewayError(404, f"no shared pool named {name!r}", code="not_found")
        await gateway.reload_shared()
        await gateway.announce(SHARED_POOLS_CHANNEL)
