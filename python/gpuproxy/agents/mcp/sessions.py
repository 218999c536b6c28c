"""MCP sessions (`Mcp-Session-Id`) in the key-value store, so every worker process and
instance sees them (Redis in production).

A session is bound to the user that opened it: another user's credential with the same
id is answered like an unknown session (404), so a leaked id alone grants nothing. Idle
sessions expire; `initialize` opens a new one.
"""

from __future__ import annotations

import secrets

import msgspec

from gpuproxy.storage.kv import KeyValueStore

__all__ = ["SESSION_TTL_S", "McpSession", "SessionStore"]

#: An idle session lives this long; each request renews it.
SESSION_TTL_S = 3600.0
_PREFIX = "mcp:session:"


class McpSession(msgspec.Struct, frozen=True):
    id: str
    user_id: str
    protocol_version: str
    client_name: str = ""


class SessionStore:
    def __init__(self, kv: KeyValueStore) -> None:
        self.kv = kv

    async def open(self, user_id: str, protocol_version: str, client_name: str) -> McpSession:
        # Visible ASCII only (the transport's rule); 256 bits from the OS's CSPRNG.
        session = McpSession(secrets.token_urlsafe(32), user_id, protocol_version, client_name)
        await self.kv.set(_PREFIX + session.id, msgspec.json.encode(session), SESSION_TTL_S)
        return session

    async def find(self, session_id: str, user_id: str) -> McpSession | None:
        """The caller's live session (renewed), or None: unknown, expired or another user's."""
        if not 1 <= len(session_id) <= 128:
            return None
        raw = await self.kv.get(_PREFIX + session_id)
        if raw is None:
            return None
        session = msgspec.json.decode(raw, type=McpSession)
        if session.user_id != user_id:
            return None
        await self.kv.set(_PREFIX + session_id, raw, SESSION_TTL_S)
        return session

    async def close(self, session: McpSession) -> None:
        await self.kv.delete(_PREFIX + session.id)
