"""WebSocket `/api/v1/workers/connect`: worker agents register and heartbeat here.

Workers authenticate with the one-time token in their first frame (not with a user's
JWT or API key), so the route is excluded from the authentication middleware
(`opt={"exclude_from_auth": True}`). The registry is `services.workers` (or
`app.state.worker_registry`, created on first use when the app provides neither).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import msgspec
from litestar import Litestar, WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from gpuproxy.gateway.workers import RegistrationError, WorkerRegistry
from gpuproxy.services import Services
from gpuproxy.worker.protocol import (
    MAX_FRAME_BYTES,
    WORKERS_CONNECT_PATH,
    DeregisterMsg,
    ErrorMsg,
    HeartbeatAck,
    HeartbeatMsg,
    ProxyMessage,
    RegisterMsg,
    decode_worker_message,
    encode,
)

__all__ = ["registry_of", "workers_connect"]

log = logging.getLogger(__name__)
_FIRST_FRAME_TIMEOUT_S = 10.0
_POLICY_VIOLATION = 1008


def registry_of(app: Litestar) -> WorkerRegistry:
    """The app's WorkerRegistry: `services.workers` when the services carry one, else
    `app.state.worker_registry` (created on first use)."""
    services = app.state.get("services")
    registry = services.workers if isinstance(services, Services) else None
    if registry is None:
        registry = app.state.get("worker_registry")
    if not isinstance(registry, WorkerRegistry):
        registry = WorkerRegistry()
        app.state["worker_registry"] = registry
    registry.start()
    return registry


async def _send(socket: WebSocket[Any, Any, Any], message: ProxyMessage) -> None:
    await socket.send_text(encode(message))


async def _refuse(socket: WebSocket[Any, Any, Any], code: str, message: str) -> None:
    with contextlib.suppress(Exception):
        await _send(socket, ErrorMsg(code=code, message=message))
        await socket.close(code=_POLICY_VIOLATION, reason=code)


async def _receive(socket: WebSocket[Any, Any, Any], timeout_s: float) -> str:
    text = await asyncio.wait_for(socket.receive_text(), timeout=timeout_s)
    if len(text) > MAX_FRAME_BYTES:
        raise RegistrationError("protocol_error", "frame too large")
    return text


@websocket(WORKERS_CONNECT_PATH, opt={"exclude_from_auth": True})
async def workers_connect(socket: WebSocket[Any, Any, Any]) -> None:
    registry = registry_of(socket.app)
    await socket.accept()
    worker_id: str | None = None
    try:
        try:
            first = decode_worker_message(await _receive(socket, _FIRST_FRAME_TIMEOUT_S))
            if not isinstance(first, RegisterMsg):
                raise RegistrationError("protocol_error", "the first frame must be register")
            info, answer = await registry.register(first)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            await _refuse(socket, "protocol_error", f"unreadable frame: {exc}")
            return
        except RegistrationError as exc:
            await _refuse(socket, exc.code, str(exc))
            return
        except TimeoutError:
            await _refuse(socket, "protocol_error", "no register frame in time")
            return
        worker_id = info.worker_id
        await _send(socket, answer)
        # A connection silent for longer than the resume grace is dead (half-open TCP).
        idle_limit = max(registry.resume_grace_s, answer.heartbeat_interval_s * 4)
        while True:
            try:
                message = decode_worker_message(await _receive(socket, idle_limit))
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                await _refuse(socket, "protocol_error", f"unreadable frame: {exc}")
                return
            if isinstance(message, HeartbeatMsg):
                registry.heartbeat(worker_id, message)
                await _send(socket, HeartbeatAck(seq=message.seq))
            elif isinstance(message, DeregisterMsg):
                registry.deregister(worker_id)
                worker_id = None
                with contextlib.suppress(Exception):
                    await socket.close()
                return
            else:
                await _refuse(socket, "protocol_error", "already registered")
                return
    except (WebSocketDisconnect, TimeoutError, ConnectionError):
        pass
    except RegistrationError as exc:
        await _refuse(socket, exc.code, str(exc))
    finally:
        if worker_id is not None:
            registry.disconnect(worker_id)
