"""The worker side of registration: connect to the proxy's WebSocket, register with the
one-time token, heartbeat, and reconnect (resuming with the resume token) when the
connection drops. See `gpuproxy.worker.protocol` for the messages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from gpuproxy.worker.protocol import (
    MAX_FRAME_BYTES,
    WORKERS_CONNECT_PATH,
    DeregisterMsg,
    ErrorMsg,
    GpuInfo,
    HeartbeatAck,
    HeartbeatMsg,
    RegisteredMsg,
    RegisterMsg,
    decode_proxy_message,
    encode,
)

__all__ = ["Registrar", "RegistrationRefused", "connect_url"]

log = logging.getLogger(__name__)

#: Refusals that retrying cannot fix.
_FATAL = frozenset(
    {
        "invalid_token",
        "expired_token",
        "unknown_worker",
        "protocol_error",
        "address_forbidden",
        "address_mismatch",
    }
)


class RegistrationRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def connect_url(proxy_url: str) -> str:
    """http(s)://host[:port][/prefix] -> ws(s)://host[:port]/api/v1/workers/connect."""
    parts = urlsplit(proxy_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"proxy URL must be http(s):// or ws(s)://, got {proxy_url!r}")
    path = parts.path.rstrip("/")
    if not path.endswith(WORKERS_CONNECT_PATH):
        path += WORKERS_CONNECT_PATH
    return urlunsplit((scheme, parts.netloc, path, "", ""))


class Registrar:
    """Keeps one worker registered. `status` supplies (healthy, in_flight, gpu metrics)."""

    def __init__(
        self,
        proxy_url: str,
        token: str,
        *,
        address: str,
        models: Callable[[], Awaitable[list[str]]],
        gpus: list[GpuInfo],
        heartbeat: Callable[[int], Awaitable[HeartbeatMsg]],
        backend: str,
        version: str,
        heartbeat_interval_s: float = 5.0,
        max_backoff_s: float = 10.0,
    ) -> None:
        self.url = connect_url(proxy_url)
        self._token = token
        self.address = address
        self._models = models
        self.gpus = gpus
        self._heartbeat = heartbeat
        self.backend = backend
        self.version = version
        self.heartbeat_interval_s = heartbeat_interval_s
        self.max_backoff_s = max_backoff_s
        self.worker_id: str | None = None
        self._resume_token: str | None = None
        self._socket: ClientConnection | None = None
        self.registered = asyncio.Event()

    async def run(self) -> None:
        """Stay registered until cancelled; raises RegistrationRefused when it cannot be."""
        delay = 0.2
        while True:
            try:
                async with connect(
                    self.url, open_timeout=10, max_size=MAX_FRAME_BYTES, ping_interval=20
                ) as socket:
                    self._socket = socket
                    await self._register(socket)
                    delay = 0.2
                    await self._session(socket)
            except RegistrationRefused as exc:
                if exc.code in _FATAL:
                    raise
                log.warning("registration refused: %s", exc)
            except (OSError, ConnectionClosed, InvalidHandshake, InvalidURI, TimeoutError) as exc:
                log.warning("proxy connection lost (%s); reconnecting in %.1fs", exc, delay)
            finally:
                self._socket = None
                self.registered.clear()
            await asyncio.sleep(delay)
            delay = min(self.max_backoff_s, delay * 2)

    async def deregister(self, reason: str = "shutdown") -> None:
        socket = self._socket
        if socket is not None:
            try:
                await socket.send(encode(DeregisterMsg(reason=reason)))
                await socket.close()
            except (OSError, ConnectionClosed):
                pass

    async def _register(self, socket: ClientConnection) -> None:
        resume = self.worker_id is not None and self._resume_token is not None
        message = RegisterMsg(
            address=self.address,
            token=None if resume else self._token,
            worker_id=self.worker_id if resume else None,
            resume_token=self._resume_token if resume else None,
            models=await self._models(),
            gpus=self.gpus,
            backend=self.backend,
            version=self.version,
            heartbeat_interval_s=self.heartbeat_interval_s,
        )
        await socket.send(encode(message))
        reply = decode_proxy_message(await asyncio.wait_for(socket.recv(), timeout=10))
        if isinstance(reply, ErrorMsg):
            raise RegistrationRefused(reply.code, reply.message)
        if not isinstance(reply, RegisteredMsg):
            raise RegistrationRefused("protocol_error", f"unexpected {type(reply).__name__}")
        self.worker_id = reply.worker_id
        self._resume_token = reply.resume_token
        self.heartbeat_interval_s = reply.heartbeat_interval_s
        self.registered.set()
        log.info("registered with the proxy as %s", reply.worker_id)

    async def _session(self, socket: ClientConnection) -> None:
        reader = asyncio.create_task(self._read(socket))
        try:
            seq = 0
            while not reader.done():
                seq += 1
                await socket.send(encode(await self._heartbeat(seq)))
                _done, _ = await asyncio.wait({reader}, timeout=self.heartbeat_interval_s)
            reader.result()  # re-raise what ended the connection
        finally:
            reader.cancel()

    async def _read(self, socket: ClientConnection) -> None:
        async for frame in socket:
            try:
                message = decode_proxy_message(frame)
            except (msgspec.ValidationError, msgspec.DecodeError):
                log.warning("ignoring an unreadable frame from the proxy")
                continue
            if isinstance(message, ErrorMsg):
                raise RegistrationRefused(message.code, message.message)
            if isinstance(message, HeartbeatAck):
                continue
        raise ConnectionClosed(None, None)
