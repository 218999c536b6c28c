"""GPU actions: list offers, the caller's instances, one instance, rent, destroy, reserve.

They call what the REST routes under /api/v1/gpu call (`gpuproxy.api.gpu.rentals`), so filters,
ownership (another user's instance is "not found"), credit holds and provider errors are
the same.
"""

from __future__ import annotations

from typing import Any

from gpuproxy.agents.action import Action, AgentContext, object_schema
from gpuproxy.agents.errors import ActionFailed
from gpuproxy.api.errors import error_parts
from gpuproxy.api.gpu.common import providers_of
from gpuproxy.api.gpu.rentals import offers_listing, reserve_from_body
from gpuproxy.api.gpu.views import instance_view, reservation_view
from gpuproxy.providers.params import parse_rent_config

__all__ = ["GPU_ACTIONS"]

_STR = {"type": "string", "maxLength": 200}
_FILTERS: dict[str, Any] = {
    "provider": {**_STR, "description": "vast.ai, io.net, local, comma-separated, or all"},
    "gpu_model": {**_STR, "description": "substring of the GPU model, e.g. RTX 4090"},
    "min_vram": {"type": "number", "minimum": 0, "description": "GiB of GPU memory, at least"},
    "max_price": {"type": "number", "minimum": 0, "description": "dollars per hour, at most"},
    "location": _STR,
    "min_gpus": {"type": "integer", "minimum": 1},
    "max_gpus": {"type": "integer", "minimum": 1},
    "min_reliability": {"type": "number", "minimum": 0, "maximum": 1},
    "order": {**_STR, "description": "price, -price, vram, reliability"},
    "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
}
_INSTANCE_REF = {
    "provider": {**_STR, "description": "the provider of the instance"},
    "instance_id": {**_STR, "description": "the instance id the provider gave (`id`)"},
}
_CONFIG = {
    "type": "object",
    "description": "rent settings: image, env, ports, disk, onstart, ... (as REST)",
}
_INSTANCE_OUT = object_schema(
    {"provider": {"type": "string"}, "status": {"type": "string"}},
    ("provider", "status"),
    closed=False,
)
#: The schemas of the actions on one instance (show, destroy).
_ONE_INSTANCE: dict[str, Any] = {
    "input_schema": object_schema(_INSTANCE_REF, ("provider", "instance_id")),
    "output_schema": _INSTANCE_OUT,
}


def _listing_schema(extra: dict[str, Any]) -> dict[str, Any]:
    """`{instances: [...], total_count}` (offers or the caller's instances) plus `extra`."""
    listing = {
        "instances": {"type": "array", "items": {"type": "object"}},
        "total_count": {"type": "integer"},
    }
    return object_schema({**listing, **extra}, ("instances", "total_count"), closed=False)


def _service(ctx: AgentContext) -> Any:
    return providers_of(ctx.services)


async def _list_offers(ctx: AgentContext, args: dict[str, Any]) -> dict[str, Any]:
    return await offers_listing(_service(ctx), args)


async def _my_instances(ctx: AgentContext, args: dict[str, Any]) -> dict[str, Any]:
    records = await _service(ctx).store.list_for_owner(
        ctx.principal.user_id, include_ended=bool(args.get("include_ended"))
    )
    return {"instances": [instance_view(r) for r in records], "total_count": len(records)}


async def _instance_status(ctx: AgentContext, args: dict[str, Any]) -> dict[str, Any]:
    rentals = _service(ctx).rentals
    record = await rentals.visible(ctx.principal, args["provider"], args["instance_id"])
    return instance_view(await rentals.refresh(record))


async def _rent(ctx: AgentContext, args: dict[str, Any]) -> dict[str, Any]:
    rentals = _service(ctx).rentals
    config = parse_rent_config(args.get("config") or {})
    chosen = rentals.provider(args["provider"])
    offer = await rentals.find_offer(chosen, args["offer_id"])
    return instance_view(await rentals.rent(ctx.principal, chosen, offer, config))


async def _destroy(ctx: AgentContext, args: dict[str, Any]) -> dict[str, Any]:
    rentals = _service(ctx).rentals
    record = await rentals.visible(ctx.principal, args["provider"], args["instance_id"])
    return instance_view(await rentals.destroy(record))


async def _reserve(ctx: AgentContext, args: dict[str, Any]) -> dict[str, Any]:
    count = args["count"]
    await ctx.progress(0, count, f"reserving {count} GPU(s)")
    result = await reserve_from_body(_service(ctx), ctx.principal, args)
    view = reservation_view(result)
    await ctx.progress(count, count, view["message"])  # done: progress must only grow
    if result.record.reserved == 0:
        # As REST: nothing reserved is a failure with the first slot's status and reason.
        first = next((s.error for s in result.slots if s.error is not None), None)
        status, body, _headers = error_parts(first) if first else (502, {}, {})
        error = body.get("error", {})
        reason = error.get("message", "no GPU could be rented")
        raise ActionFailed(status, f"{view['message']}: {reason}", error.get("code"))
    return view


GPU_ACTIONS = (
    Action(
        name="list_offers",
        tool="list_gpu_instances",
        title="List GPU offers",
        description="GPU offers of every enabled provider (vast.ai, io.net, local) that match "
        "the filters, with price per hour; a failing provider is listed under `errors`.",
        scope="gpu",
        input_schema=object_schema(_FILTERS),
        output_schema=_listing_schema(
            {"providers": {"type": "array"}, "errors": {"type": "array"}}
        ),
        handler=_list_offers,
    ),
    Action(
        name="my_instances",
        tool="list_my_instances",
        title="List my GPU instances",
        description="The caller's rented GPU instances (ended ones too with include_ended).",
        scope="gpu",
        input_schema=object_schema({"include_ended": {"type": "boolean"}}),
        output_schema=_listing_schema({}),
        handler=_my_instances,
    ),
    Action(
        name="instance_status",
        tool="get_gpu_instance",
        title="GPU instance status",
        description="One of the caller's instances, refreshed from its provider.",
        scope="gpu",
        **_ONE_INSTANCE,
        handler=_instance_status,
    ),
    Action(
        name="rent",
        tool="create_gpu_instance",
        title="Rent a GPU",
        description="Rent one offer (from list_gpu_instances) for the caller; its price per "
        "hour is held from the caller's credits while it runs.",
        scope="gpu",
        input_schema=object_schema(
            {"provider": _STR, "offer_id": _STR, "config": _CONFIG}, ("provider", "offer_id")
        ),
        output_schema=_INSTANCE_OUT,
        handler=_rent,
        mutates=True,
    ),
    Action(
        name="destroy",
        tool="destroy_gpu_instance",
        title="Destroy a GPU instance",
        description="Stop one of the caller's instances at its provider; billing stops.",
        scope="gpu",
        **_ONE_INSTANCE,
        handler=_destroy,
        mutates=True,
        destructive=True,
    ),
    Action(
        name="reserve",
        tool="reserve_gpus",
        title="Reserve several GPUs",
        description="Rent `count` (1 to 16) matching GPUs at once, cheapest first; with "
        "all_or_nothing, everything is rolled back unless all are rented.",
        scope="gpu",
        input_schema=object_schema(
            {
                "count": {"type": "integer", "minimum": 1, "maximum": 16},
                "filters": {"type": "object", "description": "as list_gpu_instances"},
                "provider": _STR,
                "config": _CONFIG,
                "all_or_nothing": {"type": "boolean"},
            },
            ("count",),
        ),
        output_schema=object_schema(
            {
                "reservation_id": {"type": "string"},
                "status": {"type": "string"},
                "reserved_count": {"type": "integer"},
                "reserved_instances": {"type": "array"},
                "message": {"type": "string"},
            },
            ("reservation_id", "status", "reserved_count"),
            closed=False,
        ),
        handler=_reserve,
        mutates=True,
    ),
)
