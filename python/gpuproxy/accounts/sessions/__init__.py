"""Session stores per SESSION_MODE: `sql`, `redis`, `balanced` (Redis first, SQL fallback)."""

from __future__ import annotations

from gpuproxy.accounts.sessions.balanced import BalancedSessionStore
from gpuproxy.accounts.sessions.kv import KvSessionStore
from gpuproxy.accounts.sessions.records import (
    RefreshToken,
    RotateOutcome,
    RotateResult,
    Session,
    SessionState,
    SessionStore,
    hash_refresh_token,
)
from gpuproxy.accounts.sessions.sql import SqlSessionStore
from gpuproxy.storage.database import Database
from gpuproxy.storage.kv import KeyValueStore

__all__ = [
    "BalancedSessionStore",
    "KvSessionStore",
    "RefreshToken",
    "RotateOutcome",
    "RotateResult",
    "Session",
    "SessionState",
    "SessionStore",
    "SqlSessionStore",
    "hash_refresh_token",
    "open_session_store",
]


def open_session_store(
    mode: str, db: Database, kv: KeyValueStore, max_session_seconds: int
) -> SessionStore:
    if mode == "sql":
        return SqlSessionStore(db)
    if mode == "redis":
        return KvSessionStore(kv, max_session_seconds)
    if mode == "balanced":
        return BalancedSessionStore(SqlSessionStore(db), KvSessionStore(kv, max_session_seconds))
    raise ValueError(f"unknown SESSION_MODE {mode!r}")
