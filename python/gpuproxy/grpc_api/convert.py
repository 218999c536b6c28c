"""Service records -> protobuf messages. The JSON views of the HTTP API are the source, so
both APIs show the same fields (money: the seed's doubles plus exact micro-dollars)."""

from __future__ import annotations

from typing import Any

from gpuproxy.grpc_api import gpuproxy_pb2 as pb

__all__ = ["instance_message", "offer_message", "window_message"]


def _text_map(values: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if v is not None}


#: View fields kept in GPUInstance.metadata (the seed's message has no field for them).
_OFFER_EXTRAS = ("rentable", "not_rentable_reason", "reliability", "cuda_version", "verified")
_INSTANCE_EXTRAS = ("endpoint", "offer_id", "reservation_id", "status_message", "owner_id")


def _gpu_instance(view: dict[str, Any], extras: tuple[str, ...]) -> pb.GPUInstance:
    metadata = _text_map(view.get("metadata") or {})
    metadata.update(_text_map({key: view.get(key) for key in extras}))
    micros = view["price_per_hour_micros"]
    return pb.GPUInstance(
        id=str(view["id"] or ""),
        provider=view["provider"],
        status=view["status"],
        price_per_hour=micros / 1_000_000,
        price_per_hour_micros=micros,
        vram_gb=int(view["vram_gb"] or 0),
        gpu_model=view["gpu_model"] or "",
        num_gpus=int(view["num_gpus"] or 0),
        location=view["location"] or "",
        metadata=metadata,
    )


def offer_message(view: dict[str, Any]) -> pb.GPUInstance:
    """An offer (`gpuproxy.api.gpu.views.offer_view`) as the seed's GPUInstance."""
    return _gpu_instance(view, _OFFER_EXTRAS)


def instance_message(view: dict[str, Any]) -> pb.GPUInstance:
    """A rented instance (`gpuproxy.api.gpu.views.instance_view`); metadata carries the
    contract id (the seed's place for it), the record id and the endpoint."""
    return _gpu_instance(view, _INSTANCE_EXTRAS)


def window_message(window: str, spent: int, limit: int | None, exceeded: bool) -> pb.SpendingWindow:
    """A spend window in micro-dollars; no limit is has_limit false with limit 0."""
    remaining = 0 if limit is None else max(limit - spent, 0)
    return pb.SpendingWindow(
        window=window,
        spent=spent / 1_000_000,
        spent_micros=spent,
        limit=0.0 if limit is None else limit / 1_000_000,
        limit_micros=limit or 0,
        has_limit=limit is not None,
        remaining=remaining / 1_000_000,
        exceeded=exceeded,
    )
