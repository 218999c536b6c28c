"""AccountsService: users, logins, sessions, API keys and their checks, in one object.

One instance per worker process lives on `Services.accounts`. HTTP handlers, the auth
middleware, the gateway's raw /v1 routes and the admin CLI all go through it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import msgspec

from gpuproxy.accounts._ids import new_id
from gpuproxy.accounts._kverrors import KV_ERRORS
from gpuproxy.accounts.apikeys import ApiKey, ApiKeyRepository
from gpuproxy.accounts.audit import AuditLog
from gpuproxy.accounts.authenticator import Authenticator
from gpuproxy.accounts.emails import normalize_email
from gpuproxy.accounts.errors import (
    AuthUnavailable,
    Forbidden,
    InvalidCredentials,
    InvalidInput,
    InvalidToken,
    NotFound,
)
from gpuproxy.accounts.invalidation import InvalidationBus
from gpuproxy.accounts.keyformat import generate_key
from gpuproxy.accounts.keyrules import (
    check_expiry_within,
    check_key_rate_limit,
    check_priority,
    key_scopes,
)
from gpuproxy.accounts.keyusage import KeyUsageRecorder
from gpuproxy.accounts.passwords import PasswordHasher, validate_new_password
from gpuproxy.accounts.principal import Principal
from gpuproxy.accounts.ratelimit import RateDecision, RateLimiter
from gpuproxy.accounts.sessions import (
    RefreshToken,
    RotateResult,
    Session,
    SessionStore,
    hash_refresh_token,
    open_session_store,
)
from gpuproxy.accounts.throttle import LoginThrottle
from gpuproxy.accounts.tokens import IssuedToken, JwtCodec
from gpuproxy.accounts.users import User, UserRepository
from gpuproxy.clock import now_ms
from gpuproxy.config import Settings
from gpuproxy.storage.database import Database
from gpuproxy.storage.kv import KeyValueStore

__all__ = ["AccountsService", "LoginResult"]

log = logging.getLogger(__name__)

MAX_ACTIVE_KEYS_PER_USER = 200
MAX_NAME_LENGTH = 200
REFRESH_PREFIX = "gpx_rt_"


class LoginResult(msgspec.Struct, frozen=True, kw_only=True):
    user: User
    access: IssuedToken
    refresh_token: str
    refresh_expires_at: int  # unix seconds
    session_id: str


def _clean_name(raw: str, field: str, *, required: bool) -> str:
    name = " ".join(raw.split())
    if required and not name:
        raise InvalidInput(field, "is required")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(field, f"must be at most {MAX_NAME_LENGTH} characters")
    if any(ord(c) < 32 for c in name):
        raise InvalidInput(field, "must not contain control characters")
    return name


def check_rate_limit(value: int | None, field: str = "rate_limit_per_minute") -> int | None:
    if value is not None and not 1 <= value <= 1_000_000:
        raise InvalidInput(field, "must be between 1 and 1000000")
    return value


class AccountsService:
    def __init__(self, settings: Settings, db: Database, kv: KeyValueStore) -> None:
        self.settings = settings
        self.db = db
        self.kv = kv
        self.users = UserRepository(db)
        self.keys = ApiKeyRepository(db)
        self.audit = AuditLog(db)
        self.hasher = PasswordHasher(settings.bcrypt_rounds)
        self.jwt = JwtCodec.from_settings(settings)
        self.sessions: SessionStore = open_session_store(
            settings.session_mode, db, kv, settings.refresh_ttl_seconds
        )
        self.usage = KeyUsageRecorder(self.keys)
        self.throttle = LoginThrottle(
            kv,
            max_per_account=settings.login_max_failures,
            max_per_ip=settings.login_max_failures_per_ip,
            window_s=settings.login_lockout_seconds,
        )
        self.limiter = RateLimiter(kv, settings.rate_limit_per_minute)
        self.bus = InvalidationBus(kv, self._on_invalidation, self._on_reset)
        #: other caches of credentials (the data plane's): told every revocation
        self.invalidation_listeners: list[Callable[[str, str], None]] = []
        #: Told of every new account after it is stored (billing grants the starting
        #: credit); a failing listener is logged and does not undo the registration.
        self.registration_listeners: list[Callable[[User], Awaitable[object]]] = []
        self.authenticator = Authenticator(
            users=self.users,
            keys=self.keys,
            sessions=self.sessions,
            jwt=self.jwt,
            hasher=self.hasher,
            ttl_s=settings.auth_cache_ttl_seconds,
            on_key_used=self.usage.touch,
            channel_healthy=lambda: self.bus.healthy,
        )

    # --- lifecycle ----------------------------------------------------------------------

    async def start(
        self,
        supervise: Callable[[str, Callable[[], Awaitable[None]]], object],
        *,
        ready_within_s: float = 3.0,
    ) -> None:
        """Start the invalidation listener and the usage writer (`supervise(name, loop)`, e.g.
        `Services.supervise`, restarts them after errors); wait for the listener."""
        supervise("accounts-invalidation", self.bus.run)
        supervise("accounts-key-usage", self.usage.run)
        if not await self.bus.wait_ready(ready_within_s):
            log.warning(
                "auth invalidation channel not live after %.0f s; caching auth for at most 1 s",
                ready_within_s,
            )

    async def close(self) -> None:
        try:
            await self.usage.flush()
        except Exception:
            log.exception("final API key usage write failed")

    def _on_invalidation(self, kind: str, ident: str) -> None:
        self.authenticator.invalidate(kind, ident)
        for listener in self.invalidation_listeners:
            listener(kind, ident)

    def _on_reset(self) -> None:
        self.authenticator.reset()
        for listener in self.invalidation_listeners:
            listener("all", "")

    # --- the request path ---------------------------------------------------------------

    async def authenticate(self, headers: Iterable[tuple[bytes, bytes]]) -> Principal | None:
        """The caller of a request (ASGI headers), or None; no I/O for a cached credential."""
        return await self.authenticator.authenticate(headers)

    def authenticate_cached(self, headers: Iterable[tuple[bytes, bytes]]) -> object:
        """Memory only: a Principal, None, or `authenticator.MISS` (then await authenticate)."""
        return self.authenticator.authenticate_cached(headers)

    async def rate_limit(self, principal: Principal) -> RateDecision | None:
        """Count one request of `principal`; None when it has no limit."""
        return await self.limiter.check(principal)

    # --- registration and login ---------------------------------------------------------

    async def register(
        self,
        *,
        email: str,
        password: str,
        name: str = "",
        ip: str = "",
        is_admin: bool = False,
        created_by: Principal | None = None,
        rate_limit_per_minute: int | None = None,
    ) -> User:
        """Create an account (self-service, or `created_by` an admin; None from the CLI
        when `is_admin` or rate limits are set)."""
        email = normalize_email(email)
        validate_new_password(password, email)
        name = _clean_name(name, "name", required=False)
        check_rate_limit(rate_limit_per_minute)
        password_hash = await self.hasher.hash(password)
        user = await self.users.create(
            email=email,
            name=name,
            password_hash=password_hash,
            is_admin=is_admin,
            rate_limit_per_minute=rate_limit_per_minute,
        )
        if created_by is None:
            actor_id, actor_email = user.id, email
        else:
            actor_id, actor_email = created_by.user_id, created_by.email
        await self.audit.record(
            "register" if created_by is None else "user.create",
            actor_id=actor_id,
            actor_email=actor_email,
            target=user.id,
            ip=ip,
            detail={"email": email, "is_admin": is_admin},
        )
        for listener in self.registration_listeners:
            try:
                await listener(user)
            except Exception:
                log.exception("a registration listener failed for user %s", user.id)
        return user

    async def login(
        self, *, email: str, password: str, ip: str = "", user_agent: str = ""
    ) -> LoginResult:
        email = normalize_email(email)
        await self.throttle.attempt(email, ip)
        user = await self.users.get_by_email(email)
        if user is None:
            # Same bcrypt work as a real check: the answer time does not reveal accounts.
            await self.hasher.verify_dummy(password)
            ok = False
        else:
            ok = await self.hasher.verify(password, user.password_hash) and user.is_active
        if user is None or not ok:
            await self.audit.record(
                "login",
                success=False,
                actor_id=None if user is None else user.id,
                actor_email=email,
                ip=ip,
            )
            raise InvalidCredentials()
        await self.throttle.succeeded(email, ip)
        if self.hasher.needs_rehash(user.password_hash):
            await self.users.update(user.id, password_hash=await self.hasher.hash(password))
        await self.users.record_login(user.id)
        result = await self._new_session(user, ip=ip, user_agent=user_agent)
        await self.audit.record(
            "login",
            actor_id=user.id,
            actor_email=email,
            ip=ip,
            detail={"session": result.session_id},
        )
        return result

    async def _new_session(self, user: User, *, ip: str, user_agent: str) -> LoginResult:
        now = now_ms()
        session = Session(
            id=new_id(),
            user_id=user.id,
            created_at=now,
            expires_at=now + self.settings.refresh_ttl_seconds * 1000,
            user_agent=user_agent[:300],
            ip=ip,
        )
        refresh_token = REFRESH_PREFIX + secrets.token_urlsafe(32)
        refresh = RefreshToken(
            token_hash=hash_refresh_token(refresh_token),
            session_id=session.id,
            user_id=user.id,
            created_at=now,
            expires_at=session.expires_at,
        )
        try:
            await self.sessions.create(session, refresh)
        except KV_ERRORS as exc:
            raise AuthUnavailable("the session store is unavailable") from exc
        access = self._issue(user, session.id, session.expires_at, now)
        return LoginResult(
            user=user,
            access=access,
            refresh_token=refresh_token,
            refresh_expires_at=session.expires_at // 1000,
            session_id=session.id,
        )

    def _issue(self, user: User, session_id: str, session_expires_ms: int, now: int) -> IssuedToken:
        return self.jwt.issue(
            user_id=user.id,
            email=user.email,
            is_admin=user.is_admin,
            session_id=session_id,
            now_s=now // 1000,
            not_after_s=session_expires_ms // 1000,
        )

    async def refresh(self, refresh_token: str, *, ip: str = "") -> LoginResult:
        """Rotate: the old refresh token is spent; presenting it again revokes the session."""
        if not refresh_token.startswith(REFRESH_PREFIX) or len(refresh_token) > 200:
            raise InvalidToken("invalid refresh token")
        now = now_ms()
        new_token = REFRESH_PREFIX + secrets.token_urlsafe(32)
        try:
            outcome = await self.sessions.rotate(
                hash_refresh_token(refresh_token),
                hash_refresh_token(new_token),
                now + self.settings.refresh_ttl_seconds * 1000,
                now,
            )
        except KV_ERRORS as exc:
            raise AuthUnavailable("the session store is unavailable") from exc
        if outcome.result is RotateResult.REUSED:
            await self.bus.publish("sess", outcome.session_id)
            await self.audit.record(
                "refresh_reuse",
                success=False,
                actor_id=outcome.user_id,
                target=outcome.session_id,
                ip=ip,
            )
            log.warning("refresh token reuse: session %s revoked", outcome.session_id)
            raise InvalidToken("refresh token already used; the session has been revoked")
        if outcome.result is not RotateResult.ROTATED:
            raise InvalidToken("invalid or expired refresh token")
        user = await self.users.get(outcome.user_id)
        if user is None or not user.is_active:
            await self._revoke_session(outcome.session_id, "user_inactive")
            raise InvalidToken("invalid or expired refresh token")
        access = self._issue(user, outcome.session_id, outcome.expires_at, now)
        return LoginResult(
            user=user,
            access=access,
            refresh_token=new_token,
            refresh_expires_at=outcome.expires_at // 1000,
            session_id=outcome.session_id,
        )

    async def logout(
        self, principal: Principal, *, refresh_token: str | None = None, ip: str = ""
    ) -> str:
        """Revoke the caller's session (JWT) or the session of `refresh_token`; its id."""
        session_id = principal.session_id
        if session_id is None and refresh_token:
            try:
                session_id = await self.sessions.session_of(hash_refresh_token(refresh_token))
                state = (
                    None
                    if session_id is None
                    else await self.sessions.state(session_id, principal.user_id, now_ms())
                )
            except KV_ERRORS as exc:
                raise AuthUnavailable("the session store is unavailable") from exc
            if state is None:  # unknown, or somebody else's session
                raise InvalidToken("invalid refresh token")
        if session_id is None:
            raise InvalidInput("refresh_token", "is required when logging out with an API key")
        await self._revoke_session(session_id, "logout")
        await self.audit.record(
            "logout",
            actor_id=principal.user_id,
            actor_email=principal.email,
            target=session_id,
            ip=ip,
        )
        return session_id

    async def _revoke_session(self, session_id: str, reason: str) -> None:
        try:
            await self.sessions.revoke(session_id, reason, now_ms())
        except KV_ERRORS as exc:
            raise AuthUnavailable("the session store is unavailable") from exc
        await self.bus.publish("sess", session_id)

    async def revoke_user_access(self, user_id: str) -> None:
        """End every session of a user and drop their cached keys everywhere."""
        try:
            await self.sessions.revoke_user(user_id, now_ms())
        except KV_ERRORS as exc:
            raise AuthUnavailable("the session store is unavailable") from exc
        await self.bus.publish("user", user_id)

    async def change_password(
        self, principal: Principal, *, current: str, new: str, ip: str = ""
    ) -> None:
        """Needs the current password; every session of the user ends (log in again)."""
        user = await self.me(principal)
        if not await self.hasher.verify(current, user.password_hash):
            await self.audit.record(
                "password.change", success=False, actor_id=user.id, actor_email=user.email, ip=ip
            )
            raise InvalidInput("current_password", "is not correct")
        validate_new_password(new, user.email, field="new_password")
        await self.users.update(user.id, password_hash=await self.hasher.hash(new))
        await self.revoke_user_access(user.id)
        await self.audit.record("password.change", actor_id=user.id, actor_email=user.email, ip=ip)

    async def me(self, principal: Principal) -> User:
        user = await self.users.get(principal.user_id)
        if user is None:
            raise NotFound("user not found")
        return user

    # --- API keys -----------------------------------------------------------------------

    async def create_api_key(
        self,
        principal: Principal,
        *,
        name: str,
        scopes: Sequence[str] | None = None,
        rate_limit_per_minute: int | None = None,
        expires_at_ms: int | None = None,
        priority: int = 0,
        ip: str = "",
        owner: User | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key for the caller (or for `owner`, by an admin); (key, the key shown once).

        When the caller is itself an API key (on any route), the new key stays within the
        caller's scopes and expiry (`keyrules`)."""
        name = _clean_name(name, "name", required=True)
        if owner is None:
            owner = await self.me(principal)
        wanted = key_scopes(scopes, principal, owner_is_admin=owner.is_admin)
        check_rate_limit(rate_limit_per_minute)
        check_key_rate_limit(
            rate_limit_per_minute, owner.rate_limit_per_minute, self.settings.rate_limit_per_minute
        )
        check_priority(priority)
        if expires_at_ms is not None and expires_at_ms <= now_ms():
            raise InvalidInput("expires_at", "must be in the future")
        if principal.api_key_id is not None:
            check_expiry_within(await self.keys.get(principal.api_key_id), expires_at_ms)
        user_id = owner.id
        active = await self.keys.list_for_user(user_id, include_revoked=False)
        if len(active) >= MAX_ACTIVE_KEYS_PER_USER:
            raise InvalidInput("name", f"at most {MAX_ACTIVE_KEYS_PER_USER} active keys per user")
        key_id, secret, full_key = generate_key()
        key = await self.keys.insert(
            key_id=key_id,
            user_id=user_id,
            name=name,
            secret_hash=await self.hasher.hash(secret),
            scopes=wanted,
            rate_limit_per_minute=rate_limit_per_minute,
            expires_at=expires_at_ms,
            priority=priority,
        )
        await self.audit.record(
            "apikey.create",
            actor_id=principal.user_id,
            actor_email=principal.email,
            target=key_id,
            ip=ip,
            detail={"owner": user_id, "scopes": list(key.scopes), "name": name},
        )
        return key, full_key

    async def list_api_keys(self, user_id: str) -> list[ApiKey]:
        return await self.keys.list_for_user(user_id)

    async def revoke_api_key(
        self, principal: Principal, key_id: str, *, any_owner: bool = False, ip: str = ""
    ) -> ApiKey:
        """Revoke one of the caller's keys (any key with `any_owner`, for admins).

        Another user's key answers NotFound, exactly like a key that does not exist.
        """
        key = await self.keys.revoke(key_id, user_id=None if any_owner else principal.user_id)
        if key is None:
            raise NotFound("API key not found")
        await self._key_changed("apikey.revoke", principal, key, ip)
        return key

    async def _key_changed(
        self, action: str, actor: Principal, key: ApiKey, ip: str, **detail: Any
    ) -> None:
        """Every worker drops the key from its credential caches (the data plane's too),
        and the audit log records who did it."""
        await self.bus.publish("key", key.id)
        await self.audit.record(
            action,
            actor_id=actor.user_id,
            actor_email=actor.email,
            target=key.id,
            ip=ip,
            detail={"owner": key.user_id, **detail},
        )

    async def update_api_key(
        self,
        actor: Principal,
        key_id: str,
        *,
        priority: int | None = None,
        rate_limit_per_minute: int | None = None,
        ip: str = "",
    ) -> ApiKey:
        """Admin change of any key's priority or own rate limit (0 = share the owner's).

        Every worker's credential cache drops the key, so the data plane queues and limits
        its next request with the new values."""
        key = await self.keys.get(key_id)
        if key is None:
            raise NotFound("API key not found")
        changes: dict[str, int | None] = {}
        if priority is not None:
            changes["priority"] = check_priority(priority)
        new_limit = key.rate_limit_per_minute
        if rate_limit_per_minute is not None:
            new_limit = None if rate_limit_per_minute == 0 else rate_limit_per_minute
            check_rate_limit(new_limit)
            owner = await self.users.get(key.user_id)
            check_key_rate_limit(
                new_limit,
                None if owner is None else owner.rate_limit_per_minute,
                self.settings.rate_limit_per_minute,
            )
            changes["rate_limit_per_minute"] = new_limit
        if not changes:
            return key
        updated = await self.keys.update(
            key_id,
            priority=key.priority if priority is None else priority,
            rate_limit_per_minute=new_limit,
        )
        if updated is None:
            raise NotFound("API key not found")
        await self._key_changed("apikey.update", actor, updated, ip, **changes)
        return updated

    # --- administration -------------------------------------------------------------------

    async def update_user(
        self, actor: Principal | None, user_id: str, *, ip: str = "", **changes: Any
    ) -> User:
        """Admin change of name / is_admin / is_active / rate_limit_per_minute."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if "name" in changes:
            changes["name"] = _clean_name(changes["name"], "name", required=False)
        if changes.get("rate_limit_per_minute") == 0:
            changes["rate_limit_per_minute"] = None  # back to the server default
        elif "rate_limit_per_minute" in changes:
            check_rate_limit(changes["rate_limit_per_minute"])
        before = await self.users.get(user_id)
        if before is None:
            raise NotFound("user not found")
        if (
            actor is not None
            and actor.user_id == user_id
            and (changes.get("is_admin") is False or changes.get("is_active") is False)
        ):
            raise Forbidden("admins cannot demote or disable themselves")
        user = await self.users.update(user_id, **changes)
        if user is None:
            raise NotFound("user not found")
        if before.is_active and not user.is_active:
            await self.revoke_user_access(user_id)
        else:
            await self.bus.publish("user", user_id)
        await self.audit.record(
            "user.update",
            actor_id=None if actor is None else actor.user_id,
            actor_email="cli" if actor is None else actor.email,
            target=user_id,
            ip=ip,
            detail={k: v for k, v in changes.items() if k != "password_hash"},
        )
        return user

    async def stats(self) -> dict[str, int]:
        now = now_ms()
        row = await self.db.fetchrow(
            "SELECT "
            "(SELECT COUNT(*) FROM users) AS users, "
            "(SELECT COUNT(*) FROM users WHERE is_admin = 1) AS admins, "
            "(SELECT COUNT(*) FROM users WHERE is_active = 1) AS active_users, "
            "(SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL "
            "  AND (expires_at IS NULL OR expires_at > $1)) AS active_api_keys, "
            "(SELECT COUNT(*) FROM api_keys) AS api_keys, "
            "(SELECT COALESCE(SUM(request_count), 0) FROM api_keys) AS api_key_requests, "
            "(SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > $1) "
            "  AS active_sql_sessions, "
            "(SELECT COUNT(*) FROM audit_log WHERE at > $2) AS audit_events_24h",
            now,
            now - 86_400_000,
        )
        return {k: int(v) for k, v in (row or {}).items()}
