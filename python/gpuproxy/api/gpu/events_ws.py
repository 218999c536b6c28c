"""WebSocket `/ws`: real-time GPU availability, instance and billing events for users.

Client frames (JSON text):
  {"type": "subscribe", "topics": ["availability", "instances", "billing"],
   "providers": ["vast.ai"]}
      `topics` defaults to the GPU topics (`availability`, `instances`), `providers`
      (availability only) to every provider. Subscribing to `availability` also sends the
      last known state of each provider (`"snapshot": true`), and sends it again after the
      event channel was lost and came back (events were missed meanwhile).
  {"type": "unsubscribe", "topics": [...]}     (no topics: all)
  {"type": "ping"}
Server frames: `hello` on connect, `subscribed` / `unsubscribed` (the current topics),
`pong`, `error` {code, message}, and the events themselves (see `providers.events` and
`billing.notifications`: `guardrails.alert`, `guardrails.exceeded`, `billing.auto_renew`...).
`instances` events reach only the instance's owner (and admins); `billing` events only their
owner. The GPU topics need the `gpu` scope, `billing` the `billing` scope. Authentication is
the same as for HTTP (the middleware sets the principal).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from gpuproxy.accounts.principal import Principal
from gpuproxy.api.deps import ServicesDep
from gpuproxy.api.guards import principal_of, requires_auth
from gpuproxy.billing.notifications import BILLING_EVENTS_CHANNEL
from gpuproxy.providers.errors import InvalidRequest
from gpuproxy.providers.events import TOPICS, decoded_events, event_topic
from gpuproxy.providers.service import ProvidersService
from gpuproxy.storage.kv import KeyValueStore
from gpuproxy.storage.pubsub import follow

__all__ = ["events_ws"]

log = logging.getLogger(__name__)

_MAX_FRAME = 16 * 1024
_MESSAGE_TOO_BIG = 1009
_BILLING = "billing"
_ALL_TOPICS = TOPICS | {_BILLING}


class _Session:
    """One connection: its principal, subscriptions and a send lock (two tasks send)."""

    def __init__(self, socket: WebSocket[Any, Any, Any], principal: Principal) -> None:
        self.socket = socket
        self.principal = principal
        self.topics: set[str] = set()
        self.providers: set[str] | None = None
        self._lock = asyncio.Lock()

    async def send(self, frame: dict[str, Any]) -> None:
        async with self._lock:
            await self.socket.send_text(msgspec.json.encode(frame).decode())

    async def error(self, code: str, message: str) -> None:
        await self.send({"type": "error", "code": code, "message": message})

    def wants(self, event: dict[str, Any]) -> bool:
        topic = event_topic(event)
        if topic is None or topic not in self.topics:
            return False
        if topic == "instances":
            if event.get("owner_id") == self.principal.user_id:
                return True
            return self.principal.is_admin and self.principal.has_scope("admin")
        return self.providers is None or event.get("provider") in self.providers


def _topics(frame: dict[str, Any], default: frozenset[str]) -> set[str]:
    raw = frame.get("topics", frame.get("topic"))
    if raw is None:
        return set(default)
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("topics must be a list of topic names")
    unknown = sorted(set(names) - _ALL_TOPICS)
    if unknown:
        raise ValueError(f"unknown topic(s) {unknown}; topics: {sorted(_ALL_TOPICS)}")
    return set(names)


def _missing_scope(principal: Principal, topics: set[str]) -> str | None:
    if topics & TOPICS and not principal.has_scope("gpu"):
        return "gpu"
    if _BILLING in topics and not principal.has_scope("billing"):
        return "billing"
    return None


async def _forward(session: _Session, service: ProvidersService) -> None:
    async def resync() -> None:
        if "availability" in session.topics:
            await _snapshot(session, service)

    async for event in service.bus.events(on_resync=resync):
        if session.wants(event):
            event.pop("owner_id", None)
            await session.send(event)


async def _forward_billing(session: _Session, kv: KeyValueStore) -> None:
    """The owner's billing events (alerts, auto-renew results), once `billing` is subscribed."""
    async for event in decoded_events(follow(kv, BILLING_EVENTS_CHANNEL)):
        if _BILLING in session.topics and event.pop("owner_id", None) == session.principal.user_id:
            await session.send(event)


async def _snapshot(session: _Session, service: ProvidersService) -> None:
    for state in list(service.poller.state.values()):
        if session.providers is not None and state.provider not in session.providers:
            continue
        await session.send(
            {
                "type": "availability",
                "snapshot": True,
                "provider": state.provider,
                "available_offers": state.available_offers,
                "available_gpus": state.available_gpus,
                "cheapest_price_per_gpu_hour_micros": state.cheapest_price_per_gpu_hour,
                "error": state.error,
                "ts": state.updated_at,
            }
        )


async def _handle(session: _Session, service: ProvidersService, frame: dict[str, Any]) -> None:
    kind = frame.get("type")
    if kind == "ping":
        await session.send({"type": "pong"})
        return
    if kind not in ("subscribe", "unsubscribe"):
        await session.error("invalid_message", "type must be subscribe, unsubscribe or ping")
        return
    try:
        # Subscribing defaults to the GPU topics (as before billing had one); unsubscribing
        # to every topic.
        topics = _topics(frame, TOPICS if kind == "subscribe" else _ALL_TOPICS)
    except ValueError as exc:
        await session.error("invalid_topic", str(exc))
        return
    if kind == "unsubscribe":
        session.topics -= topics
        await session.send({"type": "unsubscribed", "topics": sorted(session.topics)})
        return
    scope = _missing_scope(session.principal, topics)
    if scope is not None:
        await session.error("permission_denied", f"this API key lacks the '{scope}' scope")
        return
    providers = frame.get("providers")
    if providers is not None:
        if not isinstance(providers, list) or not all(isinstance(p, str) for p in providers):
            await session.error("invalid_message", "providers must be a list of names")
            return
        names: set[str] = set()
        for name in providers:
            try:
                names.add(service.rentals.provider(name).name)
            except InvalidRequest as exc:
                await session.error("invalid_provider", str(exc))
                return
        session.providers = names or None
    added = topics - session.topics
    session.topics |= topics
    await session.send({"type": "subscribed", "topics": sorted(session.topics)})
    if "availability" in added:
        await _snapshot(session, service)


@websocket("/ws", guards=[requires_auth])
async def events_ws(socket: WebSocket[Any, Any, Any], services: ServicesDep) -> None:
    await socket.accept()
    session = _Session(socket, principal_of(socket))
    service = services.providers
    if service is None:
        await session.error("unavailable", "the GPU providers service is not running")
        await socket.close(code=1011)
        return
    # Listen before greeting, so no event published after `subscribed` can be missed.
    loop = asyncio.get_running_loop()
    forwarders = [
        loop.create_task(_forward(session, service)),
        loop.create_task(_forward_billing(session, services.kv)),
    ]
    await asyncio.sleep(0)
    try:
        await session.send({"type": "hello", "topics": sorted(_ALL_TOPICS)})
        while True:
            text = await socket.receive_text()
            if len(text) > _MAX_FRAME:
                await session.error("message_too_big", f"frames are limited to {_MAX_FRAME} bytes")
                await socket.close(code=_MESSAGE_TOO_BIG)
                return
            try:
                frame = msgspec.json.decode(text)
            except msgspec.DecodeError:
                await session.error("invalid_json", "frames must be JSON objects")
                continue
            if not isinstance(frame, dict):
                await session.error("invalid_json", "frames must be JSON objects")
                continue
            await _handle(session, service, frame)
    except WebSocketDisconnect:
        pass
    finally:
        for forwarder in forwarders:
            forwarder.cancel()
        await asyncio.gather(*forwarders, return_exceptions=True)
