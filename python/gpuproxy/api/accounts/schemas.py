"""Request and response bodies of the auth and admin routes (msgspec Structs -> OpenAPI).

Times are RFC 3339 UTC strings in JSON; input constraints are declared here so that a bad
value is a 400 naming the field before any handler runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from gpuproxy.accounts.apikeys import ApiKey
from gpuproxy.accounts.keyformat import KEY_PREFIX
from gpuproxy.accounts.keyrules import PRIORITY_MAX, PRIORITY_MIN
from gpuproxy.accounts.principal import Principal
from gpuproxy.accounts.service import LoginResult
from gpuproxy.accounts.users import User

__all__ = [
    "AdminCreateApiKey",
    "AdminCreateUser",
    "AdminUpdateApiKey",
    "AdminUpdateUser",
    "ApiKeyCreated",
    "ApiKeyList",
    "ApiKeyOut",
    "AuditEventOut",
    "AuditPage",
    "ChangePassword",
    "CreateApiKey",
    "LoginRequest",
    "LogoutRequest",
    "LogoutResponse",
    "MeOut",
    "RefreshRequest",
    "RegisterRequest",
    "TokenResponse",
    "UserList",
    "UserOut",
    "key_out",
    "ms_to_datetime",
    "user_out",
]

KeyScope = Literal["inference", "gpu", "billing", "admin", "keys"]
Email = Annotated[str, Meta(min_length=3, max_length=254, examples=["user@example.com"])]
Password = Annotated[str, Meta(min_length=10, max_length=1024)]
Name = Annotated[str, Meta(max_length=200)]
RateLimit = Annotated[int, Meta(ge=1, le=1_000_000)]
Priority = Annotated[int, Meta(ge=PRIORITY_MIN, le=PRIORITY_MAX)]


def ms_to_datetime(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def opt_datetime(value: int | None) -> datetime | None:
    return None if value is None else ms_to_datetime(value)


class RegisterRequest(msgspec.Struct, kw_only=True):
    email: Email
    password: Password
    name: Name = ""


class LoginRequest(msgspec.Struct, kw_only=True):
    email: Email
    password: Annotated[str, Meta(min_length=1, max_length=1024)]


class RefreshRequest(msgspec.Struct, kw_only=True):
    refresh_token: Annotated[str, Meta(min_length=1, max_length=512)]


class LogoutRequest(msgspec.Struct, kw_only=True):
    #: Needed only when logging out with an API key (a JWT names its own session).
    refresh_token: Annotated[str, Meta(min_length=1, max_length=512)] | None = None


class ChangePassword(msgspec.Struct, kw_only=True):
    current_password: Annotated[str, Meta(min_length=1, max_length=1024)]
    new_password: Password


class CreateApiKey(msgspec.Struct, kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    #: Defaults to inference, gpu and billing (a key creating a key: those it holds);
    #: `admin` only for admin accounts; `keys` lets the key manage keys.
    scopes: list[KeyScope] | None = None
    #: This key's own, tighter limit: at most the account's limit, which all of the
    #: account's keys share. Without it the key has only the account's limit.
    rate_limit_per_minute: RateLimit | None = None
    #: Needed, and no later than the caller's, when the caller is an expiring API key.
    expires_at: Annotated[datetime, Meta(tz=True)] | None = None


class AdminCreateApiKey(CreateApiKey, kw_only=True):
    #: Admission-queue priority: higher is served first when backends are busy.
    priority: Priority = 0


class AdminUpdateApiKey(msgspec.Struct, kw_only=True):
    priority: Priority | None = None
    #: 0 removes the key's own limit (it then has only the account's).
    rate_limit_per_minute: Annotated[int, Meta(ge=0, le=1_000_000)] | None = None


class UserOut(msgspec.Struct, kw_only=True):
    id: str
    email: str
    name: str
    is_admin: bool
    is_active: bool
    rate_limit_per_minute: int | None
    created_at: datetime
    last_login_at: datetime | None


class MeOut(UserOut, kw_only=True):
    auth: Literal["jwt", "api_key"]
    scopes: list[str]
    api_key_id: str | None
    session_id: str | None


class TokenResponse(msgspec.Struct, kw_only=True):
    token: str  # the access token (the seeds' name)
    access_token: str  # the same, under the OAuth 2 name
    token_type: Literal["Bearer"]
    expires_in: int
    expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    user_id: str
    email: str
    user: UserOut


class LogoutResponse(msgspec.Struct, kw_only=True):
    revoked_session: str


class ApiKeyOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    prefix: str  # how the key starts, to recognise it (never the secret)
    scopes: list[str]
    rate_limit_per_minute: int | None
    priority: int
    expires_at: datetime | None
    last_used_at: datetime | None
    request_count: int
    created_at: datetime
    revoked_at: datetime | None
    active: bool


class ApiKeyCreated(ApiKeyOut, kw_only=True):
    key: str  # shown once; only a bcrypt hash of its secret is stored
    api_key: str  # the same (the seeds' gRPC name)


class ApiKeyList(msgspec.Struct, kw_only=True):
    api_keys: list[ApiKeyOut]


class UserList(msgspec.Struct, kw_only=True):
    users: list[UserOut]
    limit: int
    offset: int


class AdminCreateUser(msgspec.Struct, kw_only=True):
    email: Email
    password: Password
    name: Name = ""
    is_admin: bool = False
    rate_limit_per_minute: RateLimit | None = None


class AdminUpdateUser(msgspec.Struct, kw_only=True):
    name: Name | None = None
    is_admin: bool | None = None
    is_active: bool | None = None
    #: 0 puts the user back on the server default (RATE_LIMIT_PER_MINUTE).
    rate_limit_per_minute: Annotated[int, Meta(ge=0, le=1_000_000)] | None = None


class AuditEventOut(msgspec.Struct, kw_only=True):
    id: str
    at: datetime
    action: str
    success: bool
    actor_id: str | None
    actor_email: str
    target: str
    ip: str
    detail: dict[str, object]


class AuditPage(msgspec.Struct, kw_only=True):
    events: list[AuditEventOut]
    #: Pass as `before` to get the next (older) page; null at the end.
    next_before: int | None


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        name=user.name,
        is_admin=user.is_admin,
        is_active=user.is_active,
        rate_limit_per_minute=user.rate_limit_per_minute,
        created_at=ms_to_datetime(user.created_at),
        last_login_at=opt_datetime(user.last_login_at),
    )


def me_out(user: User, principal: Principal) -> MeOut:
    base = msgspec.structs.asdict(user_out(user))
    return MeOut(
        **base,
        auth="api_key" if principal.api_key_id else "jwt",
        scopes=sorted(principal.scopes),
        api_key_id=principal.api_key_id,
        session_id=principal.session_id,
    )


def token_response(result: LoginResult, now_s: int) -> TokenResponse:
    return TokenResponse(
        token=result.access.token,
        access_token=result.access.token,
        token_type="Bearer",  # noqa: S106 - the OAuth token type
        expires_in=max(0, result.access.expires_at - now_s),
        expires_at=datetime.fromtimestamp(result.access.expires_at, tz=UTC),
        refresh_token=result.refresh_token,
        refresh_expires_at=datetime.fromtimestamp(result.refresh_expires_at, tz=UTC),
        user_id=result.user.id,
        email=result.user.email,
        user=user_out(result.user),
    )


def key_out(key: ApiKey, at_ms: int) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        name=key.name,
        prefix=f"{KEY_PREFIX}{key.id}_",
        scopes=list(key.scopes),
        rate_limit_per_minute=key.rate_limit_per_minute,
        priority=key.priority,
        expires_at=opt_datetime(key.expires_at),
        last_used_at=opt_datetime(key.last_used_at),
        request_count=key.request_count,
        created_at=ms_to_datetime(key.created_at),
        revoked_at=opt_datetime(key.revoked_at),
        active=key.revoked_at is None and (key.expires_at is None or key.expires_at > at_ms),
    )


def key_created(key: ApiKey, full_key: str, at_ms: int) -> ApiKeyCreated:
    base = msgspec.structs.asdict(key_out(key, at_ms))
    return ApiKeyCreated(**base, key=full_key, api_key=full_key)
