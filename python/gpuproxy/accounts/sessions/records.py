"""What every session store stores and answers, whatever the backend."""

from __future__ import annotations

import hashlib
from enum import Enum
from typing import Protocol

import msgspec

__all__ = [
    "RefreshToken",
    "RotateOutcome",
    "RotateResult",
    "Session",
    "SessionState",
    "SessionStore",
    "hash_refresh_token",
]


def hash_refresh_token(token: str) -> str:
    """Refresh tokens are 32 random bytes: a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """One login (a refresh-token family)."""

    id: str
    user_id: str
    created_at: int
    expires_at: int
    user_agent: str = ""
    ip: str = ""


class RefreshToken(msgspec.Struct, frozen=True, kw_only=True):
    token_hash: str
    session_id: str
    user_id: str
    created_at: int
    expires_at: int


class SessionState(msgspec.Struct, frozen=True, kw_only=True):
    """The answer of a revocation check."""

    user_id: str
    created_at: int
    expires_at: int
    revoked: bool

    def valid(self, at_ms: int) -> bool:
        return not self.revoked and self.expires_at > at_ms


class RotateResult(Enum):
    ROTATED = "rotated"
    REUSED = "reused"  # an already-used token came back: the family is now revoked
    INVALID = "invalid"  # unknown, expired, or its session is revoked


class RotateOutcome(msgspec.Struct, frozen=True):
    result: RotateResult
    session_id: str = ""
    user_id: str = ""
    expires_at: int = 0


class SessionStore(Protocol):
    """Sessions and refresh tokens in SQL, in Redis, or in both (SESSION_MODE)."""

    mode: str

    async def create(self, session: Session, refresh: RefreshToken) -> None: ...

    async def rotate(
        self, old_hash: str, new_hash: str, new_expires_at: int, now: int
    ) -> RotateOutcome:
        """Spend `old_hash` and store `new_hash` in its session atomically; presenting an
        already-spent token revokes the whole session (REUSED)."""

    async def session_of(self, token_hash: str) -> str | None:
        """The session a refresh token (used or not) belongs to."""

    async def state(self, session_id: str, user_id: str, now: int) -> SessionState | None:
        """None when the session is unknown or not `user_id`'s (treated as revoked)."""

    async def revoke(self, session_id: str, reason: str, now: int) -> None: ...

    async def revoke_user(self, user_id: str, now: int) -> None:
        """Revoke every session of a user (disabled, demoted, password changed)."""
