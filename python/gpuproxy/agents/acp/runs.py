"""ACP runs of each user, kept in the key-value store (Redis in production) for a week,
with the events each run emitted (`GET /runs/{id}/events`), and cancel requests for runs
that another process runs. A run id of another user is "not found": the key holds the
user id."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from gpuproxy.storage.kv import KeyValueStore

__all__ = ["CANCEL_TTL_S", "RUN_TTL_S", "RunStore"]

RUN_TTL_S = 7 * 24 * 3600.0
CANCEL_TTL_S = 24 * 3600.0
_encode = msgspec.json.Encoder().encode


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class RunStore:
    def __init__(self, kv: KeyValueStore, user_id: str) -> None:
        self.kv = kv
        self.user_id = user_id

    def _key(self, run_id: str) -> str:
        return f"acp:run:{self.user_id}:{run_id}"

    async def save(self, record: dict[str, Any]) -> None:
        """`record` is `{"run": <Run>, "events": [<Event>, ...]}`."""
        await self.kv.set(self._key(record["run"]["run_id"]), _encode(record), RUN_TTL_S)

    async def get(self, run_id: str) -> dict[str, Any] | None:
        if len(run_id) > 100 or not _is_uuid(run_id):
            return None
        raw = await self.kv.get(self._key(run_id))
        record: dict[str, Any] | None = msgspec.json.decode(raw) if raw else None
        return record

    async def request_cancel(self, run_id: str) -> None:
        await self.kv.set(f"acp:cancel:{self.user_id}:{run_id}", b"1", CANCEL_TTL_S)

    async def cancel_requested(self, run_id: str) -> bool:
        return await self.kv.get(f"acp:cancel:{self.user_id}:{run_id}") is not None
