"""/api/v1/admin: user management, any user's keys, audit log, account stats (admins only).

Every route needs an admin account; an API key also needs the `admin` scope. Others get 403.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from gpuproxy.accounts.errors import NotFound
from gpuproxy.accounts.service import AccountsService
from gpuproxy.accounts.users import User
from gpuproxy.api.accounts.common import accounts_of, client_ip
from gpuproxy.api.accounts.schemas import (
    AdminCreateApiKey,
    AdminCreateUser,
    AdminUpdateApiKey,
    AdminUpdateUser,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyOut,
    AuditEventOut,
    AuditPage,
    UserList,
    UserOut,
    key_created,
    key_out,
    ms_to_datetime,
    user_out,
)
from gpuproxy.api.deps import ServicesDep
from gpuproxy.api.guards import principal_of, requires_admin
from gpuproxy.clock import now_ms

__all__ = ["AdminController"]

Id = Annotated[str, Parameter(max_length=64)]


async def _user(accounts: AccountsService, user_id: str) -> User:
    user = await accounts.users.get(user_id)
    if user is None:
        raise NotFound("user not found")
    return user


class AdminController(Controller):
    path = "/api/v1/admin"
    tags = ["admin"]  # noqa: RUF012 - Litestar reads it as a class attribute
    guards = [requires_admin]  # noqa: RUF012

    @get("/users", summary="List users")
    async def list_users(
        self,
        services: ServicesDep,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
        offset: Annotated[int, Parameter(ge=0)] = 0,
        search: Annotated[str, Parameter(max_length=254, description="email prefix")] = "",
    ) -> UserList:
        users = await accounts_of(services).users.list(
            limit=limit, offset=offset, search=search.strip().lower()
        )
        return UserList(users=[user_out(u) for u in users], limit=limit, offset=offset)

    @post("/users", status_code=HTTP_201_CREATED, summary="Create a user")
    async def create_user(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        data: JSONBody[AdminCreateUser],
    ) -> UserOut:
        user = await accounts_of(services).register(
            email=data.email,
            password=data.password,
            name=data.name,
            is_admin=data.is_admin,
            rate_limit_per_minute=data.rate_limit_per_minute,
            created_by=principal_of(request),
            ip=client_ip(request),
        )
        return user_out(user)

    @get("/users/{user_id:str}", summary="One user")
    async def get_user(self, services: ServicesDep, user_id: Id) -> UserOut:
        return user_out(await _user(accounts_of(services), user_id))

    @patch("/users/{user_id:str}", summary="Change name, admin flag, active flag, rate limit")
    async def update_user(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        user_id: Id,
        data: JSONBody[AdminUpdateUser],
    ) -> UserOut:
        """Disabling a user ends their sessions and stops their keys on every instance
        within a second; `rate_limit_per_minute: 0` restores the server default."""
        user = await accounts_of(services).update_user(
            principal_of(request),
            user_id,
            ip=client_ip(request),
            name=data.name,
            is_admin=data.is_admin,
            is_active=data.is_active,
            rate_limit_per_minute=data.rate_limit_per_minute,
        )
        return user_out(user)

    @post(
        "/users/{user_id:str}/logout",
        status_code=HTTP_204_NO_CONTENT,
        summary="End every session of a user",
    )
    async def logout_user(self, services: ServicesDep, user_id: Id) -> None:
        accounts = accounts_of(services)
        await _user(accounts, user_id)
        await accounts.revoke_user_access(user_id)

    @get("/users/{user_id:str}/apikeys", summary="A user's API keys")
    async def user_keys(self, services: ServicesDep, user_id: Id) -> ApiKeyList:
        accounts = accounts_of(services)
        await _user(accounts, user_id)
        at = now_ms()
        return ApiKeyList(api_keys=[key_out(k, at) for k in await accounts.list_api_keys(user_id)])

    @post(
        "/users/{user_id:str}/apikeys",
        status_code=HTTP_201_CREATED,
        summary="Create an API key for a user (shown once)",
    )
    async def create_user_key(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        user_id: Id,
        data: JSONBody[AdminCreateApiKey],
    ) -> ApiKeyCreated:
        """Like a user's own key; `rate_limit_per_minute` at most the user's limit, and
        `priority` orders the admission queue. An admin API key stays within its own
        scopes and expiry here too."""
        accounts = accounts_of(services)
        owner = await _user(accounts, user_id)
        expires_ms = None
        if data.expires_at is not None:
            expires_ms = int(data.expires_at.timestamp() * 1000)
        key, full_key = await accounts.create_api_key(
            principal_of(request),
            name=data.name,
            scopes=data.scopes,
            rate_limit_per_minute=data.rate_limit_per_minute,
            expires_at_ms=expires_ms,
            priority=data.priority,
            owner=owner,
            ip=client_ip(request),
        )
        return key_created(key, full_key, now_ms())

    @patch("/apikeys/{key_id:str}", summary="Change any API key's priority or rate limit")
    async def update_key(
        self,
        key_id: Id,
        data: JSONBody[AdminUpdateApiKey],
        services: ServicesDep,
        request: Request[Any, Any, Any],
    ) -> ApiKeyOut:
        """`priority` (0-255) orders the admission queue, higher first;
        `rate_limit_per_minute` at most the owner's limit, 0 removes the key's own limit.
        Every instance applies the change to the key's next request."""
        key = await accounts_of(services).update_api_key(
            principal_of(request),
            key_id,
            priority=data.priority,
            rate_limit_per_minute=data.rate_limit_per_minute,
            ip=client_ip(request),
        )
        return key_out(key, now_ms())

    @delete("/apikeys/{key_id:str}", status_code=HTTP_204_NO_CONTENT, summary="Revoke any API key")
    async def revoke_key(
        self, request: Request[Any, Any, Any], services: ServicesDep, key_id: Id
    ) -> None:
        await accounts_of(services).revoke_api_key(
            principal_of(request), key_id, any_owner=True, ip=client_ip(request)
        )

    @get("/audit", summary="Security events, newest first")
    async def audit(
        self,
        services: ServicesDep,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
        before: Annotated[int | None, Parameter(ge=0, description="unix ms, for paging")] = None,
        action: Annotated[str | None, Parameter(max_length=64)] = None,
        actor_id: Annotated[str | None, Parameter(max_length=64)] = None,
    ) -> AuditPage:
        events = await accounts_of(services).audit.list(
            limit=limit, before=before, action=action, actor_id=actor_id
        )
        return AuditPage(
            events=[
                AuditEventOut(
                    id=e.id,
                    at=ms_to_datetime(e.at),
                    action=e.action,
                    success=e.success,
                    actor_id=e.actor_id,
                    actor_email=e.actor_email,
                    target=e.target,
                    ip=e.ip,
                    detail=e.detail,
                )
                for e in events
            ],
            next_before=events[-1].at if len(events) == limit else None,
        )

    @get("/stats", summary="Account statistics")
    async def stats(self, services: ServicesDep) -> dict[str, int]:
        return await accounts_of(services).stats()
