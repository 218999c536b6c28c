"""GPU events (availability changes, instance state changes) on the key-value pub/sub channel.

Publishing goes through the key-value store, so with Redis every proxy instance's `/ws`
subscribers hear events whichever instance noticed the change; with the in-memory store
it stays within the process. Events are JSON objects tagged by `type`:

- `availability`: {provider, available_offers, available_gpus, added, removed, error, ts}
- `instance`: {provider, id, status, previous, gpu_model, endpoint, ts} plus the internal
  `owner_id`, used to deliver it only to its owner (and admins) and stripped before sending.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import msgspec

from gpuproxy.clock import now_ms
from gpuproxy.storage.kv import KeyValueStore
from gpuproxy.storage.pubsub import follow

__all__ = ["EVENTS_CHANNEL", "TOPICS", "EventBus", "decoded_events", "event_topic"]

log = logging.getLogger(__name__)

EVENTS_CHANNEL: Final = "gpuproxy:events:gpu"
#: Topics a `/ws` client may subscribe to (an event's `type` is its topic).
TOPICS: Final = frozenset({"availability", "instances"})

_TYPE_TO_TOPIC = {"availability": "availability", "instance": "instances"}


def event_topic(event: dict[str, Any]) -> str | None:
    return _TYPE_TO_TOPIC.get(str(event.get("type", "")))


class EventBus:
    def __init__(self, kv: KeyValueStore) -> None:
        self.kv = kv

    async def publish(self, event: dict[str, Any]) -> None:
        """Publish one event; a failing store is logged, never raised (events are best effort)."""
        event.setdefault("ts", now_ms())
        try:
            await self.kv.publish(EVENTS_CHANNEL, msgspec.json.encode(event))
        except Exception:
            log.warning("could not publish a %s event", event.get("type"), exc_info=True)

    async def events(
        self, on_resync: Callable[[], Awaitable[object]] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every event published from now on (close the generator to stop listening); the
        subscription survives Redis restarts, awaiting `on_resync()` after each (events were
        missed meanwhile)."""
        async for event in decoded_events(follow(self.kv, EVENTS_CHANNEL, on_resync=on_resync)):
            yield event


async def decoded_events(messages: AsyncIterator[bytes]) -> AsyncIterator[dict[str, Any]]:
    """The JSON objects among `messages` (anything else is skipped); closes `messages`."""
    try:
        async for raw in messages:
            try:
                event = msgspec.json.decode(raw)
            except msgspec.DecodeError:
                continue
            if isinstance(event, dict):
                yield event
    finally:
        close = getattr(messages, "aclose", None)  # async generators
        if close is not None:
            await close()
