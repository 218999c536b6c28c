"""Notifications (stored per user) and live events (published on the key-value store).

Events go to the channel `gpuproxy:events:billing` (every instance hears them with Redis) as
JSON objects with a `type` (`guardrails.alert`, `guardrails.exceeded`, `billing.auto_renew`,
`billing.auto_renew_failed`) and the internal `owner_id`: like the GPU instance events of
`providers.events`, the WebSocket delivers them to that user only (and strips `owner_id`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from gpuproxy.billing._util import dumps, loads_object, new_id
from gpuproxy.clock import now_ms
from gpuproxy.storage.database import Database
from gpuproxy.storage.kv import KeyValueStore

__all__ = ["BILLING_EVENTS_CHANNEL", "Notifier"]

log = logging.getLogger(__name__)


BILLING_EVENTS_CHANNEL = "gpuproxy:events:billing"


class Notifier:
    def __init__(self, db: Database, kv: KeyValueStore) -> None:
        self._db = db
        self._kv = kv

    async def publish(self, user_id: str, event: dict[str, Any]) -> None:
        """Send a live event; a failing store is logged, never raised (events are best effort)."""
        try:
            message = {**event, "owner_id": user_id, "ts": now_ms()}
            await self._kv.publish(BILLING_EVENTS_CHANNEL, json.dumps(message).encode())
        except Exception:
            log.warning("could not publish %s event for a user", event.get("type"), exc_info=True)

    async def notify(
        self, user_id: str, kind: str, severity: str, message: str, data: dict[str, Any]
    ) -> str:
        """Store a notification and publish it as an event of the same `kind`."""
        notification_id = new_id("ntf")
        created = now_ms()
        await self._db.execute(
            "INSERT INTO notifications (id, user_id, kind, severity, message, data, created_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            notification_id,
            user_id,
            kind,
            severity,
            message,
            dumps(data),
            created,
        )
        await self.publish(
            user_id,
            {
                "type": kind,
                "id": notification_id,
                "severity": severity,
                "message": message,
                "data": data,
                "created_at": created,
            },
        )
        return notification_id

    async def recent(
        self, user_id: str, *, kind_prefix: str = "", limit: int = 50, offset: int = 0
    ) -> list[dict[str, Any]]:
        rows = await self._db.fetch(
            "SELECT * FROM notifications WHERE user_id = $1 AND kind LIKE $2 "
            "ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
            user_id,
            kind_prefix + "%",
            limit,
            offset,
        )
        return [
            {
                "id": r["id"],
                "kind": r["kind"],
                "severity": r["severity"],
                "message": r["message"],
                "data": loads_object(r["data"]),
                "created_at": int(r["created_at"]),
                "read": r["read_at"] is not None,
            }
            for r in rows
        ]
