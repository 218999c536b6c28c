"""Choosing distinct offers for a reservation through the Rust load balancer.

The candidate offers become the backends of a throw-away `gpuproxy._core.Pool` running the
current strategy, labelled with their GPU model, VRAM and price (the weighted strategies
derive weights from these). Each pick is removed from the pool before the next one, so a
reservation never rents the same offer twice, whatever the strategy.
"""

from __future__ import annotations

from collections.abc import Sequence

from gpuproxy import _core
from gpuproxy.providers.records import Offer

__all__ = ["offer_key", "rank_offers"]


def offer_key(offer: Offer) -> str:
    return f"{offer.provider}/{offer.id}"


def rank_offers(
    offers: Sequence[Offer], count: int, strategy: str, affinity_key: str | None = None
) -> list[Offer]:
    """Up to `count` distinct rentable offers in the order the balancer picks them."""
    pool = _core.Pool(strategy)
    by_key: dict[str, Offer] = {}
    for offer in offers:
        key = offer_key(offer)
        if key in by_key or not offer.rentable:
            continue
        by_key[key] = offer
        pool.add_backend(
            key,
            f"offer://{key}",
            gpu_model=offer.gpu_model or None,
            gpu_count=max(1, offer.num_gpus),
            vram_gb=max(0, offer.vram_gb),
            price_per_hour_micros=max(0, offer.price_per_hour),
            provider=offer.provider,
            region=offer.location or None,
        )
    picked: list[Offer] = []
    while len(picked) < count and len(pool) > 0:
        guard = pool.select(affinity_key)
        if guard is None:  # only when backends have a concurrency limit; ours have none
            break
        key = guard.backend_id
        guard.release()
        pool.remove_backend(key)
        picked.append(by_key[key])
    return picked
