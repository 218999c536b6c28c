"""The audit log: security events (logins, key changes, admin actions) with actor, IP, time.

Writes are direct (these events are rare and must not be lost); reads are for admins.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import msgspec

from gpuproxy.accounts._ids import new_id
from gpuproxy.clock import now_ms
from gpuproxy.storage.database import Executor

__all__ = ["AuditEvent", "AuditLog"]

log = logging.getLogger("gpuproxy.audit")

#: Actions recorded (the `action` column).
ACTIONS = frozenset(
    {
        "login",
        "logout",
        "register",
        "refresh_reuse",
        "apikey.create",
        "apikey.revoke",
        "user.create",
        "user.update",
        "user.bootstrap",
        "password.change",
    }
)


class AuditEvent(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    at: int
    action: str
    success: bool
    actor_id: str | None
    actor_email: str
    target: str
    ip: str
    detail: dict[str, Any]


class AuditLog:
    def __init__(self, db: Executor) -> None:
        self.db = db

    async def record(
        self,
        action: str,
        *,
        success: bool = True,
        actor_id: str | None = None,
        actor_email: str = "",
        target: str = "",
        ip: str = "",
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        event_id, at = new_id(), now_ms()
        await self.db.execute(
            "INSERT INTO audit_log (id, at, action, success, actor_id, actor_email, target, ip, "
            "detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            event_id,
            at,
            action,
            int(success),
            actor_id,
            actor_email,
            target,
            ip,
            msgspec.json.encode(dict(detail or {})).decode(),
        )
        log.info(
            "audit %s %s actor=%s target=%s ip=%s",
            action,
            "ok" if success else "failed",
            actor_email or actor_id or "-",
            target or "-",
            ip or "-",
        )

    async def list(
        self,
        *,
        limit: int = 100,
        before: int | None = None,
        action: str | None = None,
        actor_id: str | None = None,
    ) -> list[AuditEvent]:
        """Newest first; `before` (unix ms) pages backwards."""
        clauses: list[str] = []
        args: list[Any] = []
        for column, value in (("at <", before), ("action =", action), ("actor_id =", actor_id)):
            if value is not None:
                args.append(value)
                clauses.append(f"{column} ${len(args)}")
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        args.append(limit)
        rows = await self.db.fetch(
            "SELECT id, at, action, success, actor_id, actor_email, target, ip, detail "  # noqa: S608
            f"FROM audit_log {where} ORDER BY at DESC, id DESC LIMIT ${len(args)}",
            *args,
        )
        return [
            AuditEvent(
                id=r["id"],
                at=int(r["at"]),
                action=r["action"],
                success=bool(r["success"]),
                actor_id=r["actor_id"],
                actor_email=r["actor_email"],
                target=r["target"],
                ip=r["ip"],
                detail=msgspec.json.decode(r["detail"]),
            )
            for r in rows
        ]
