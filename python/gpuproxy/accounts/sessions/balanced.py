"""SESSION_MODE=balanced: SQL is the source of truth, Redis a read-through copy.

Writes go to SQL first, then to Redis (best effort: a Redis failure is logged, never
fails the request). Revocation checks read Redis first and fall back to SQL on a miss or a
Redis error, writing the answer back. Refresh-token rotation runs in SQL only, in one
transaction, so reuse detection never depends on Redis being up.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from gpuproxy.accounts._kverrors import KV_ERRORS
from gpuproxy.accounts.sessions.kv import KvSessionStore
from gpuproxy.accounts.sessions.records import (
    RefreshToken,
    RotateOutcome,
    RotateResult,
    Session,
    SessionState,
)
from gpuproxy.accounts.sessions.sql import SqlSessionStore

__all__ = ["BalancedSessionStore"]

log = logging.getLogger(__name__)


class BalancedSessionStore:
    mode = "balanced"

    def __init__(self, sql: SqlSessionStore, kv: KvSessionStore) -> None:
        self.sql = sql
        self.kv = kv

    async def create(self, session: Session, refresh: RefreshToken) -> None:
        await self.sql.create(session, refresh)
        state = SessionState(
            user_id=session.user_id,
            created_at=session.created_at,
            expires_at=session.expires_at,
            revoked=False,
        )
        await self._mirror(self.kv.put_state(session.id, state, session.created_at), "create")

    async def rotate(
        self, old_hash: str, new_hash: str, new_expires_at: int, now: int
    ) -> RotateOutcome:
        outcome = await self.sql.rotate(old_hash, new_hash, new_expires_at, now)
        if outcome.result is RotateResult.REUSED:
            await self._mirror(self.kv.revoke(outcome.session_id, "reuse", now), "revoke")
        return outcome

    async def session_of(self, token_hash: str) -> str | None:
        return await self.sql.session_of(token_hash)

    async def state(self, session_id: str, user_id: str, now: int) -> SessionState | None:
        try:
            cached = await self.kv.state(session_id, user_id, now)
        except KV_ERRORS as exc:
            log.warning("session check: Redis unavailable, reading SQL (%s)", type(exc).__name__)
            return await self.sql.state(session_id, user_id, now)
        if cached is not None:
            return cached
        state = await self.sql.state(session_id, user_id, now)
        if state is not None:
            await self._mirror(self.kv.put_state(session_id, state, now), "read-through")
        return state

    async def revoke(self, session_id: str, reason: str, now: int) -> None:
        await self.sql.revoke(session_id, reason, now)
        await self._mirror(self.kv.revoke(session_id, reason, now), "revoke")

    async def revoke_user(self, user_id: str, now: int) -> None:
        await self.sql.revoke_user(user_id, now)
        await self._mirror(self.kv.revoke_user(user_id, now), "revoke-user")

    @staticmethod
    async def _mirror(operation: Awaitable[None], what: str) -> None:
        try:
            await operation
        except KV_ERRORS as exc:
            # SQL already holds the truth; a stale Redis copy expires with its TTL and
            # every instance's auth cache is invalidated over pub/sub separately.
            log.error("session %s: Redis write failed (%s)", what, type(exc).__name__)
