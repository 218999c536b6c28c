"""SESSION_MODE=redis: sessions and refresh tokens in the key-value store.

Values are small `|`-separated strings so the Lua scripts and their Python twins (for the
in-memory store) stay simple and identical in behaviour:

- `gpx:sess:<sid>`  = `user_id|created_ms|expires_ms|revoked_ms` (0 = not revoked)
- `gpx:rt:<sha256>` = `session_id|user_id|used` (0/1; kept until expiry to detect reuse)
- `gpx:urev:<uid>`  = ms: sessions created at or before it are revoked (user-wide logout)

Every read-modify-write is one atomic script, so two workers refreshing the same token
cannot both win.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gpuproxy.accounts.sessions.records import (
    RefreshToken,
    RotateOutcome,
    RotateResult,
    Session,
    SessionState,
)
from gpuproxy.storage.kv import KeyValueStore, LocalState, Script

__all__ = ["KvSessionStore", "parse_session_value"]

_ROTATE_LUA = """
local rt = redis.call('GET', KEYS[1])
if not rt then return 0 end
if string.match(rt, '^([^|]*)|') ~= ARGV[4] then return 0 end
local sess = redis.call('GET', KEYS[3])
if not sess then return 0 end
local uid, created, expires, revoked = string.match(sess, '^([^|]*)|(%d+)|(%d+)|(%d+)$')
if not uid then return 0 end
local now = tonumber(ARGV[1])
if revoked ~= '0' or tonumber(expires) <= now then return 0 end
local urev = redis.call('GET', KEYS[4])
if urev and tonumber(urev) >= tonumber(created) then return 0 end
if string.sub(rt, -1) == '1' then
  redis.call('SET', KEYS[3], uid .. '|' .. created .. '|' .. expires .. '|' .. ARGV[1], 'KEEPTTL')
  return 2
end
redis.call('SET', KEYS[1], string.sub(rt, 1, -2) .. '1', 'KEEPTTL')
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
"""

_REVOKE_LUA = """
local sess = redis.call('GET', KEYS[1])
if not sess then return 0 end
local head, revoked = string.match(sess, '^(.*)|(%d+)$')
if not head or revoked ~= '0' then return 0 end
redis.call('SET', KEYS[1], head .. '|' .. ARGV[1], 'KEEPTTL')
return 1
"""

_STATE_LUA = """
return {redis.call('GET', KEYS[1]) or '', redis.call('GET', KEYS[2]) or ''}
"""


def parse_session_value(raw: bytes | str) -> tuple[str, int, int, int] | None:
    text = raw.decode() if isinstance(raw, bytes) else raw
    parts = text.split("|")
    if len(parts) != 4 or not all(p.isdigit() for p in parts[1:]):
        return None
    return parts[0], int(parts[1]), int(parts[2]), int(parts[3])


def _rotate_local(state: LocalState, keys: Sequence[str], args: Sequence[Any]) -> int:
    old_key, new_key, sess_key, urev_key = keys
    now, new_value, new_ttl_ms, session_id = int(args[0]), args[1], int(args[2]), args[3]
    rt = state.get_now(old_key)
    if rt is None or rt.decode().split("|", 1)[0] != session_id:
        return 0
    raw = state.get_now(sess_key)
    parsed = None if raw is None else parse_session_value(raw)
    if parsed is None:
        return 0
    uid, created, expires, revoked = parsed
    if revoked != 0 or expires <= now:
        return 0
    urev = state.get_now(urev_key)
    if urev is not None and int(urev) >= created:
        return 0
    if rt.endswith(b"1"):
        state.set_now(
            sess_key, f"{uid}|{created}|{expires}|{now}".encode(), state.ttl_now(sess_key)
        )
        return 2
    state.set_now(old_key, rt[:-1] + b"1", state.ttl_now(old_key))
    encoded = new_value if isinstance(new_value, bytes) else str(new_value).encode()
    state.set_now(new_key, encoded, new_ttl_ms / 1000)
    return 1


def _revoke_local(state: LocalState, keys: Sequence[str], args: Sequence[Any]) -> int:
    raw = state.get_now(keys[0])
    parsed = None if raw is None else parse_session_value(raw)
    if parsed is None or parsed[3] != 0:
        return 0
    uid, created, expires, _ = parsed
    state.set_now(
        keys[0], f"{uid}|{created}|{expires}|{int(args[0])}".encode(), state.ttl_now(keys[0])
    )
    return 1


def _state_local(state: LocalState, keys: Sequence[str], args: Sequence[Any]) -> list[bytes]:
    return [state.get_now(keys[0]) or b"", state.get_now(keys[1]) or b""]


ROTATE = Script(_ROTATE_LUA, _rotate_local)
REVOKE = Script(_REVOKE_LUA, _revoke_local)
STATE = Script(_STATE_LUA, _state_local)


def _sess(session_id: str) -> str:
    return f"gpx:sess:{session_id}"


def _rt(token_hash: str) -> str:
    return f"gpx:rt:{token_hash}"


def _urev(user_id: str) -> str:
    return f"gpx:urev:{user_id}"


class KvSessionStore:
    mode = "redis"

    def __init__(self, kv: KeyValueStore, max_session_seconds: int) -> None:
        self.kv = kv
        self.max_session_seconds = max_session_seconds

    async def create(self, session: Session, refresh: RefreshToken) -> None:
        ttl = max(0.001, (session.expires_at - session.created_at) / 1000)
        value = f"{session.user_id}|{session.created_at}|{session.expires_at}|0"
        await self.kv.set(_sess(session.id), value.encode(), ttl)
        await self._put_refresh(refresh)

    async def _put_refresh(self, refresh: RefreshToken) -> None:
        ttl = max(0.001, (refresh.expires_at - refresh.created_at) / 1000)
        value = f"{refresh.session_id}|{refresh.user_id}|0"
        await self.kv.set(_rt(refresh.token_hash), value.encode(), ttl)

    async def rotate(
        self, old_hash: str, new_hash: str, new_expires_at: int, now: int
    ) -> RotateOutcome:
        raw = await self.kv.get(_rt(old_hash))
        if raw is None:
            return RotateOutcome(RotateResult.INVALID)
        session_id, user_id, _ = raw.decode().split("|")
        code = int(
            await self.kv.run_script(
                ROTATE,
                [_rt(old_hash), _rt(new_hash), _sess(session_id), _urev(user_id)],
                [now, f"{session_id}|{user_id}|0", max(1, new_expires_at - now), session_id],
            )
        )
        if code == 2:
            return RotateOutcome(RotateResult.REUSED, session_id, user_id)
        if code != 1:
            return RotateOutcome(RotateResult.INVALID)
        state = await self.state(session_id, user_id, now)
        expires = state.expires_at if state is not None else new_expires_at
        return RotateOutcome(RotateResult.ROTATED, session_id, user_id, expires)

    async def session_of(self, token_hash: str) -> str | None:
        raw = await self.kv.get(_rt(token_hash))
        return None if raw is None else raw.decode().split("|", 1)[0]

    async def state(self, session_id: str, user_id: str, now: int) -> SessionState | None:
        sess_raw, urev_raw = await self.kv.run_script(
            STATE, [_sess(session_id), _urev(user_id)], []
        )
        parsed = parse_session_value(sess_raw) if sess_raw else None
        if parsed is None or parsed[0] != user_id:
            return None
        _, created, expires, revoked = parsed
        user_revoked = bool(urev_raw) and int(urev_raw) >= created
        return SessionState(
            user_id=user_id,
            created_at=created,
            expires_at=expires,
            revoked=revoked != 0 or user_revoked,
        )

    async def revoke(self, session_id: str, reason: str, now: int) -> None:
        await self.kv.run_script(REVOKE, [_sess(session_id)], [now])

    async def revoke_user(self, user_id: str, now: int) -> None:
        await self.kv.set(_urev(user_id), str(now).encode(), float(self.max_session_seconds))

    async def put_state(self, session_id: str, state: SessionState, now: int) -> None:
        """Write a state read from SQL back into the store (balanced mode's read-through)."""
        ttl = (state.expires_at - now) / 1000
        if ttl <= 0:
            return
        revoked_at = now if state.revoked else 0
        value = f"{state.user_id}|{state.created_at}|{state.expires_at}|{revoked_at}"
        await self.kv.set(_sess(session_id), value.encode(), ttl)
