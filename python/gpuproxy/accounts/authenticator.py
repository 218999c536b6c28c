"""Resolving credentials to a Principal: the per-request hot path.

`Authorization: Bearer <jwt | api key>` or `X-API-Key: <api key>`.

- API keys: cached in memory by SHA-256 of the whole key. A hit costs a hash, a dict
  lookup and a clock read: no database, no bcrypt. A miss looks the key up by its public
  id and runs bcrypt once, off the event loop, with concurrent misses for the same key
  sharing one check. When an entry goes stale (AUTH_CACHE_TTL_SECONDS) it is re-read from
  the database by id, without bcrypt (the secret was verified and its hash is unchanged).
- JWTs: the signature is checked once per token (cached), and the session behind it
  (`sid`) is checked through a cache with the same TTL, so logout and revocation apply.

Revocations drop entries at once here and in every other worker via `InvalidationBus`.
Every entry also re-reads the account, so disabling or demoting a user takes effect
without waiting for a token to expire.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Final, TypeVar

from gpuproxy.accounts._kverrors import KV_ERRORS
from gpuproxy.accounts.apikeys import ApiKeyRepository, KeyAuthRow
from gpuproxy.accounts.errors import AuthUnavailable, InvalidToken
from gpuproxy.accounts.keyformat import looks_like_key, parse_key
from gpuproxy.accounts.passwords import PasswordHasher
from gpuproxy.accounts.principal import ALL_SCOPES, Principal
from gpuproxy.accounts.sessions import SessionStore
from gpuproxy.accounts.tokens import AccessClaims, JwtCodec
from gpuproxy.accounts.users import UserRepository
from gpuproxy.clock import now_ms

__all__ = ["MISS", "Authenticator", "credential_from_headers"]

_MAX_CREDENTIAL = 4096
_MAX_ENTRIES = 100_000
#: Without a live invalidation channel, cached answers are trusted for at most this long.
_UNSUBSCRIBED_TTL_S = 1.0
#: What a logged-in (JWT) non-admin may do: everything but admin.
_USER_SCOPES = ALL_SCOPES - {"admin"}


class _Miss:
    """Sentinel: the cache cannot answer without I/O."""

    def __repr__(self) -> str:
        return "MISS"


MISS: Final = _Miss()


def credential_from_headers(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The credential of a request (ASGI raw headers); X-API-Key wins over Authorization."""
    authorization: bytes | None = None
    for name, value in headers:
        if name == b"x-api-key":
            key = value.strip()
            return key.decode("latin-1") if 0 < len(key) <= _MAX_CREDENTIAL else None
        if name == b"authorization":
            authorization = value
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(b" ")
    token = token.strip()
    if scheme.lower() != b"bearer" or not 0 < len(token) <= _MAX_CREDENTIAL:
        return None
    return token.decode("latin-1")


@dataclass(slots=True)
class _KeyEntry:
    principal: Principal | None  # None: a known-bad key (negative entry)
    key_id: str
    user_id: str
    secret_hash: str
    fresh_until: float  # monotonic
    expires_mono: float | None  # the key's own expiry on the monotonic clock


@dataclass(slots=True)
class _SessionEntry:
    principal: Principal | None  # None: revoked, expired or unknown
    user_id: str
    fresh_until: float


def _digest(credential: str) -> bytes:
    return hashlib.sha256(credential.encode("latin-1", "replace")).digest()


K = TypeVar("K")
V = TypeVar("V")


def _bounded_put(cache: dict[K, V], key: K, value: V) -> None:
    if len(cache) >= _MAX_ENTRIES and key not in cache:
        # Oldest insertion first: a rough LRU that keeps memory bounded under key spraying.
        for old in list(cache)[: _MAX_ENTRIES // 10]:
            del cache[old]
    cache[key] = value


class Authenticator:
    def __init__(
        self,
        *,
        users: UserRepository,
        keys: ApiKeyRepository,
        sessions: SessionStore,
        jwt: JwtCodec,
        hasher: PasswordHasher,
        ttl_s: float,
        on_key_used: Callable[[str], None],
        channel_healthy: Callable[[], bool] = lambda: True,
    ) -> None:
        self.users = users
        self.keys = keys
        self.sessions = sessions
        self.jwt = jwt
        self.hasher = hasher
        self.ttl_s = ttl_s
        self._on_key_used = on_key_used
        self._channel_healthy = channel_healthy
        self._keys: dict[bytes, _KeyEntry] = {}
        self._tokens: dict[bytes, AccessClaims] = {}
        self._sessions: dict[str, _SessionEntry] = {}
        self._inflight: dict[Hashable, asyncio.Task[Principal | None]] = {}

    def _ttl(self) -> float:
        return self.ttl_s if self._channel_healthy() else min(self.ttl_s, _UNSUBSCRIBED_TTL_S)

    # --- the hot path -------------------------------------------------------------------

    def authenticate_cached(
        self, headers: Iterable[tuple[bytes, bytes]]
    ) -> Principal | _Miss | None:
        """Answer from memory only: a Principal, None (no or bad credentials), or MISS."""
        credential = credential_from_headers(headers)
        if credential is None:
            return None
        return self._cached(credential)

    async def authenticate(self, headers: Iterable[tuple[bytes, bytes]]) -> Principal | None:
        """The caller of a request, or None. No I/O when the credential is cached.

        Raises AuthUnavailable when a session cannot be checked (Redis-only sessions and
        Redis down): the caller answers 503 rather than guess.
        """
        credential = credential_from_headers(headers)
        if credential is None:
            return None
        return await self.authenticate_credential(credential)

    async def authenticate_credential(self, credential: str) -> Principal | None:
        cached = self._cached(credential)
        if cached is not MISS:
            return cached  # type: ignore[return-value]
        if looks_like_key(credential):
            digest = _digest(credential)
            return await self._single_flight(
                ("k", digest), lambda: self._load_key(credential, digest)
            )
        try:
            claims = self._claims(credential)
        except InvalidToken:
            return None
        return await self._single_flight(("s", claims.sid), lambda: self._load_session(claims))

    def _cached(self, credential: str) -> Principal | _Miss | None:
        now = time.monotonic()
        if looks_like_key(credential):
            entry = self._keys.get(_digest(credential))
            if entry is None or entry.fresh_until <= now:
                return MISS
            if entry.principal is None:
                return None
            if entry.expires_mono is not None and entry.expires_mono <= now:
                return None
            self._on_key_used(entry.key_id)
            return entry.principal
        try:
            claims = self._claims(credential)
        except InvalidToken:
            return None
        session = self._sessions.get(claims.sid)
        if session is None or session.fresh_until <= now or session.user_id != claims.sub:
            return MISS
        return session.principal

    def _claims(self, token: str) -> AccessClaims:
        digest = _digest(token)
        claims = self._tokens.get(digest)
        if claims is None:
            claims = self.jwt.decode(token)
            _bounded_put(self._tokens, digest, claims)
        elif claims.exp <= time.time():
            del self._tokens[digest]
            raise InvalidToken("token expired")
        return claims

    async def _single_flight(
        self, key: Hashable, load: Callable[[], Awaitable[Principal | None]]
    ) -> Principal | None:
        """Concurrent misses for one key share one load (one bcrypt, one query).

        The load runs as its own task, so a client that disconnects mid-check cancels only
        its own wait, never the check other requests are waiting on.
        """
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(load())  # type: ignore[arg-type]
            self._inflight[key] = task

            def done(finished: asyncio.Task[Principal | None]) -> None:
                self._inflight.pop(key, None)
                if not finished.cancelled():
                    finished.exception()  # retrieved here; awaiting callers still re-raise

            task.add_done_callback(done)
        return await asyncio.shield(task)

    def expires_at_ms(self, credential: str) -> int | None:
        """When a credential just authenticated stops being valid on its own (a key's
        expiry, a token's `exp`), unix ms; None when it does not expire."""
        if looks_like_key(credential):
            entry = self._keys.get(_digest(credential))
            if entry is None or entry.expires_mono is None:
                return None
            return now_ms() + int((entry.expires_mono - time.monotonic()) * 1000)
        claims = self._tokens.get(_digest(credential))
        return None if claims is None else int(claims.exp * 1000)

    def cache_ttl_s(self) -> float:
        """How long an answer may be cached (shorter while invalidations may be missed)."""
        return self._ttl()

    # --- loading on a miss ----------------------------------------------------------------

    async def _load_key(self, credential: str, digest: bytes) -> Principal | None:
        parsed = parse_key(credential)
        if parsed is None:
            return None
        key_id, secret = parsed
        stale = self._keys.get(digest)
        row = await self.keys.for_auth(key_id)
        now = time.monotonic()
        at_ms = now_ms()
        if row is None or not row.usable(at_ms):
            self._put_key(digest, None, key_id, "", "", now, None)
            return None
        verified = (
            stale is not None
            and stale.principal is not None
            and stale.secret_hash == row.secret_hash
        ) or await self.hasher.verify(secret, row.secret_hash)
        if not verified:
            self._put_key(digest, None, key_id, row.key.user_id, "", now, None)
            return None
        principal = _key_principal(row)
        expires_mono = None
        if row.key.expires_at is not None:
            expires_mono = now + (row.key.expires_at - at_ms) / 1000
        self._put_key(
            digest, principal, key_id, row.key.user_id, row.secret_hash, now, expires_mono
        )
        self._on_key_used(key_id)
        return principal

    def _put_key(
        self,
        digest: bytes,
        principal: Principal | None,
        key_id: str,
        user_id: str,
        secret_hash: str,
        now: float,
        expires_mono: float | None,
    ) -> None:
        entry = _KeyEntry(principal, key_id, user_id, secret_hash, now + self._ttl(), expires_mono)
        _bounded_put(self._keys, digest, entry)

    async def _load_session(self, claims: AccessClaims) -> Principal | None:
        now = time.monotonic()
        try:
            state = await self.sessions.state(claims.sid, claims.sub, now_ms())
        except KV_ERRORS as exc:
            raise AuthUnavailable("the session store is unavailable") from exc
        if state is None:
            # Unknown, or not this user's session. Not cached: only a correctly signed token
            # gets here, and caching it could shadow the real owner's entry for this sid.
            return None
        principal: Principal | None = None
        if state.valid(now_ms()):
            user = await self.users.get(claims.sub)
            if user is not None and user.is_active:
                principal = Principal(
                    user_id=user.id,
                    email=user.email,
                    is_admin=user.is_admin,
                    scopes=ALL_SCOPES if user.is_admin else _USER_SCOPES,
                    rate_limit_per_minute=user.rate_limit_per_minute,
                    session_id=claims.sid,
                )
        _bounded_put(
            self._sessions, claims.sid, _SessionEntry(principal, claims.sub, now + self._ttl())
        )
        return principal

    # --- invalidation ----------------------------------------------------------------------

    def invalidate(self, kind: str, ident: str) -> None:
        """Drop what a revocation made stale: `key:<key id>`, `sess:<sid>`, `user:<uid>`."""
        if kind == "key":
            for digest in [d for d, e in self._keys.items() if e.key_id == ident]:
                del self._keys[digest]
        elif kind == "sess":
            self._sessions.pop(ident, None)
        elif kind == "user":
            for digest in [d for d, e in self._keys.items() if e.user_id == ident]:
                del self._keys[digest]
            for sid in [s for s, e in self._sessions.items() if e.user_id == ident]:
                del self._sessions[sid]
        elif kind == "all":
            self.reset()

    def reset(self) -> None:
        self._keys.clear()
        self._sessions.clear()


def _key_principal(row: KeyAuthRow) -> Principal:
    key = row.key
    return Principal(
        user_id=key.user_id,
        email=row.email,
        is_admin=row.is_admin,
        scopes=frozenset(key.scopes),
        api_key_id=key.id,
        rate_limit_per_minute=row.user_rate_limit_per_minute,
        key_rate_limit_per_minute=key.rate_limit_per_minute,
        priority=key.priority,
    )
