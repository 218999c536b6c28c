"""The worker <-> proxy registration protocol (WebSocket `/api/v1/workers/connect`).

JSON text frames, each an object tagged by `"type"`:

worker -> proxy
  register    first frame: a one-time `token` (issued by the proxy when it rented the GPU,
              bound to an owner and optionally an instance) or, to resume after a dropped
              connection, `worker_id` + `resume_token`; plus `address` (base URL where the
              worker serves HTTP), `models`, `gpus`, `backend`, `version` and the heartbeat
              interval it would like.
  heartbeat   every `heartbeat_interval_s` (the value from `registered`): sequence number,
              health, requests in flight, per-GPU metrics.
  deregister  graceful shutdown; the proxy removes the worker at once.

proxy -> worker
  registered     accepted: the `worker_id`, a `resume_token` for reconnects, the heartbeat
                 interval to use and how many heartbeats may be missed (3) before the
                 worker is marked unhealthy and taken out of the pools.
  heartbeat_ack  echo of `seq`.
  error          refused (`code`: invalid_token, expired_token, protocol_error, ...); the
                 proxy closes the connection with code 1008 after it.

A worker whose heartbeats stop is marked unhealthy after 3 missed intervals and healthy
again with the next heartbeat; one whose connection drops may resume with its
`resume_token` within the proxy's grace period, after which it is removed.
"""

from __future__ import annotations

from typing import Final

import msgspec

__all__ = [
    "PROTOCOL_VERSION",
    "WORKERS_CONNECT_PATH",
    "DeregisterMsg",
    "ErrorMsg",
    "GpuInfo",
    "GpuMetrics",
    "HeartbeatAck",
    "HeartbeatMsg",
    "ProxyMessage",
    "RegisterMsg",
    "RegisteredMsg",
    "WorkerMessage",
    "decode_proxy_message",
    "decode_worker_message",
    "encode",
]

PROTOCOL_VERSION: Final = 1
WORKERS_CONNECT_PATH: Final = "/api/v1/workers/connect"
#: Largest frame either side accepts.
MAX_FRAME_BYTES: Final = 64 * 1024


class GpuInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A GPU the worker can use (NVML when present, else what it was told to simulate)."""

    index: int
    name: str
    memory_total_mb: int
    uuid: str | None = None
    simulated: bool = False


class GpuMetrics(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    utilization_pct: float
    memory_used_mb: int
    memory_total_mb: int
    temperature_c: float | None = None
    power_w: float | None = None


class RegisterMsg(msgspec.Struct, frozen=True, kw_only=True, tag="register", tag_field="type"):
    address: str
    token: str | None = None
    worker_id: str | None = None
    resume_token: str | None = None
    models: list[str] = msgspec.field(default_factory=list)
    gpus: list[GpuInfo] = msgspec.field(default_factory=list)
    backend: str = "simulate"
    version: str = ""
    protocol: int = PROTOCOL_VERSION
    heartbeat_interval_s: float = 5.0
    max_concurrency: int | None = None


class HeartbeatMsg(msgspec.Struct, frozen=True, kw_only=True, tag="heartbeat", tag_field="type"):
    seq: int
    healthy: bool = True
    in_flight: int = 0
    gpus: list[GpuMetrics] = msgspec.field(default_factory=list)
    models: list[str] | None = None  # only when the served models changed


class DeregisterMsg(msgspec.Struct, frozen=True, kw_only=True, tag="deregister", tag_field="type"):
    reason: str = ""


class RegisteredMsg(msgspec.Struct, frozen=True, kw_only=True, tag="registered", tag_field="type"):
    worker_id: str
    resume_token: str
    heartbeat_interval_s: float
    missed_heartbeats_allowed: int = 3


class HeartbeatAck(
    msgspec.Struct, frozen=True, kw_only=True, tag="heartbeat_ack", tag_field="type"
):
    seq: int


class ErrorMsg(msgspec.Struct, frozen=True, kw_only=True, tag="error", tag_field="type"):
    code: str
    message: str


WorkerMessage = RegisterMsg | HeartbeatMsg | DeregisterMsg
ProxyMessage = RegisteredMsg | HeartbeatAck | ErrorMsg

_worker_decoder: msgspec.json.Decoder[WorkerMessage] = msgspec.json.Decoder(WorkerMessage)
_proxy_decoder: msgspec.json.Decoder[ProxyMessage] = msgspec.json.Decoder(ProxyMessage)
_encoder = msgspec.json.Encoder()


def encode(message: WorkerMessage | ProxyMessage) -> str:
    return _encoder.encode(message).decode()


def decode_worker_message(data: str | bytes) -> WorkerMessage:
    """Raises msgspec.ValidationError / DecodeError on anything that is not a worker frame."""
    return _worker_decoder.decode(data)


def decode_proxy_message(data: str | bytes) -> ProxyMessage:
    return _proxy_decoder.decode(data)
