"""SESSION_MODE=sql: sessions and refresh tokens in the database (the source of truth)."""

from __future__ import annotations

from gpuproxy.accounts.sessions.records import (
    RefreshToken,
    RotateOutcome,
    RotateResult,
    Session,
    SessionState,
)
from gpuproxy.storage.database import Database, Executor

__all__ = ["SqlSessionStore"]


class SqlSessionStore:
    mode = "sql"

    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, session: Session, refresh: RefreshToken) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO sessions (id, user_id, user_agent, ip, created_at, expires_at) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                session.id,
                session.user_id,
                session.user_agent,
                session.ip,
                session.created_at,
                session.expires_at,
            )
            await _insert_refresh(tx, refresh)

    async def rotate(
        self, old_hash: str, new_hash: str, new_expires_at: int, now: int
    ) -> RotateOutcome:
        async with self.db.transaction() as tx:
            row = await tx.fetchrow(
                "SELECT r.used_at, r.expires_at AS token_expires, s.id, s.user_id, s.revoked_at, "
                "s.expires_at FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id "
                "WHERE r.token_hash = $1",
                old_hash,
            )
            if row is None or row["revoked_at"] is not None or int(row["expires_at"]) <= now:
                return RotateOutcome(RotateResult.INVALID)
            if int(row["token_expires"]) <= now:
                return RotateOutcome(RotateResult.INVALID)
            session_id, user_id = row["id"], row["user_id"]
            spent = 0
            if row["used_at"] is None:
                # The guarded UPDATE makes one of two concurrent refreshes the winner.
                spent = await tx.execute(
                    "UPDATE refresh_tokens SET used_at = $2 "
                    "WHERE token_hash = $1 AND used_at IS NULL",
                    old_hash,
                    now,
                )
            if spent != 1:
                await _revoke(tx, session_id, "refresh_token_reuse", now)
                return RotateOutcome(RotateResult.REUSED, session_id, user_id)
            new = RefreshToken(
                token_hash=new_hash,
                session_id=session_id,
                user_id=user_id,
                created_at=now,
                expires_at=new_expires_at,
            )
            await _insert_refresh(tx, new)
            return RotateOutcome(RotateResult.ROTATED, session_id, user_id, int(row["expires_at"]))

    async def session_of(self, token_hash: str) -> str | None:
        value = await self.db.fetchval(
            "SELECT session_id FROM refresh_tokens WHERE token_hash = $1", token_hash
        )
        return None if value is None else str(value)

    async def state(self, session_id: str, user_id: str, now: int) -> SessionState | None:
        row = await self.db.fetchrow(
            "SELECT created_at, expires_at, revoked_at FROM sessions "
            "WHERE id = $1 AND user_id = $2",
            session_id,
            user_id,
        )
        if row is None:
            return None
        return SessionState(
            user_id=user_id,
            created_at=int(row["created_at"]),
            expires_at=int(row["expires_at"]),
            revoked=row["revoked_at"] is not None,
        )

    async def revoke(self, session_id: str, reason: str, now: int) -> None:
        await _revoke(self.db, session_id, reason, now)

    async def revoke_user(self, user_id: str, now: int) -> None:
        await self.db.execute(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = 'user_revoked' "
            "WHERE user_id = $1 AND revoked_at IS NULL",
            user_id,
            now,
        )


async def _insert_refresh(tx: Executor, refresh: RefreshToken) -> None:
    await tx.execute(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) "
        "VALUES ($1, $2, $3, $4)",
        refresh.token_hash,
        refresh.session_id,
        refresh.created_at,
        refresh.expires_at,
    )


async def _revoke(tx: Executor, session_id: str, reason: str, now: int) -> None:
    await tx.execute(
        "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 "
        "WHERE id = $1 AND revoked_at IS NULL",
        session_id,
        now,
        reason,
    )
