"""A2A tasks of each user, kept in the key-value store (Redis in production) for a week.

Each user has an index of their newest task ids (at most `MAX_LISTED`), so `ListTasks`
never scans other users' tasks; a task id of another user is "not found". The index is
read-modified-written: two tasks finishing at the same instant for the same user can
drop one from the list (the task itself stays readable by id).
"""

from __future__ import annotations

from typing import Any

import msgspec

from gpuproxy.storage.kv import KeyValueStore

__all__ = ["MAX_LISTED", "TASK_TTL_S", "TaskStore"]

TASK_TTL_S = 7 * 24 * 3600.0
MAX_LISTED = 200
_encode = msgspec.json.Encoder().encode


class TaskStore:
    def __init__(self, kv: KeyValueStore, user_id: str) -> None:
        self.kv = kv
        self.user_id = user_id

    def _key(self, task_id: str) -> str:
        return f"a2a:task:{self.user_id}:{task_id}"

    def _index(self) -> str:
        return f"a2a:tasks:{self.user_id}"

    async def save(self, task: dict[str, Any]) -> None:
        await self.kv.set(self._key(task["id"]), _encode(task), TASK_TTL_S)
        ids = await self.ids()
        if task["id"] not in ids:
            ids = [task["id"], *ids][:MAX_LISTED]
            await self.kv.set(self._index(), _encode(ids), TASK_TTL_S)

    async def get(self, task_id: str) -> dict[str, Any] | None:
        if not 1 <= len(task_id) <= 100:
            return None
        raw = await self.kv.get(self._key(task_id))
        task: dict[str, Any] | None = msgspec.json.decode(raw) if raw else None
        return task

    async def ids(self) -> list[str]:
        raw = await self.kv.get(self._index())
        ids: list[str] = msgspec.json.decode(raw) if raw else []
        return ids
