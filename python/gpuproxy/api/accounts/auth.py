"""/api/v1/auth: register, login, refresh, logout, me, password, API keys (own ones only)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.params import JSONBody, PathParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from gpuproxy.api.accounts.common import (
    accounts_of,
    client_ip,
    user_agent,
)
from gpuproxy.api.accounts.schemas import (
    ApiKeyCreated,
    ApiKeyList,
    ChangePassword,
    CreateApiKey,
    LoginRequest,
    LogoutRequest,
    LogoutResponse,
    MeOut,
    RefreshRequest,
    RegisterRequest,
    TokenResponse,
    UserOut,
    key_created,
    key_out,
    me_out,
    token_response,
    user_out,
)
from gpuproxy.api.deps import ServicesDep
from gpuproxy.api.guards import principal_of, requires_auth, requires_key_management
from gpuproxy.clock import now_ms

__all__ = ["AuthController"]


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post("/register", status_code=HTTP_201_CREATED, summary="Create an account")
    async def register(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        data: JSONBody[RegisterRequest],
    ) -> UserOut:
        """Email is normalised (trimmed, lowercased); password of at least 10 characters that
        is not the email. A taken email answers 409."""
        user = await accounts_of(services).register(
            email=data.email, password=data.password, name=data.name, ip=client_ip(request)
        )
        return user_out(user)

    @post("/login", status_code=HTTP_200_OK, summary="Log in: access token + refresh token")
    async def login(
        self, request: Request[Any, Any, Any], services: ServicesDep, data: JSONBody[LoginRequest]
    ) -> TokenResponse:
        """Wrong password and unknown email give the same 401 in the same time; repeated
        failures per account and per IP answer 429 with Retry-After."""
        result = await accounts_of(services).login(
            email=data.email,
            password=data.password,
            ip=client_ip(request),
            user_agent=user_agent(request),
        )
        return token_response(result, int(time.time()))

    @post("/refresh", status_code=HTTP_200_OK, summary="Rotate the refresh token")
    async def refresh(
        self, request: Request[Any, Any, Any], services: ServicesDep, data: JSONBody[RefreshRequest]
    ) -> TokenResponse:
        """The presented refresh token is spent; presenting it again revokes the session."""
        result = await accounts_of(services).refresh(data.refresh_token, ip=client_ip(request))
        return token_response(result, int(time.time()))

    @post(
        "/logout",
        status_code=HTTP_200_OK,
        guards=[requires_auth],
        summary="Revoke the current session",
    )
    async def logout(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        data: JSONBody[LogoutRequest | None] = None,
    ) -> LogoutResponse:
        """Ends the session of the Bearer JWT (every instance rejects it within a second).
        With an API key, name the session by its `refresh_token`."""
        session_id = await accounts_of(services).logout(
            principal_of(request),
            refresh_token=None if data is None else data.refresh_token,
            ip=client_ip(request),
        )
        return LogoutResponse(revoked_session=session_id)

    @get("/me", guards=[requires_auth], summary="The caller's account")
    async def me(self, request: Request[Any, Any, Any], services: ServicesDep) -> MeOut:
        principal = principal_of(request)
        user = await accounts_of(services).me(principal)
        return me_out(user, principal)

    @post(
        "/password",
        status_code=HTTP_204_NO_CONTENT,
        guards=[requires_auth],
        summary="Change the password (ends every session)",
    )
    async def change_password(
        self, request: Request[Any, Any, Any], services: ServicesDep, data: JSONBody[ChangePassword]
    ) -> None:
        await accounts_of(services).change_password(
            principal_of(request),
            current=data.current_password,
            new=data.new_password,
            ip=client_ip(request),
        )

    @post(
        ["/apikey", "/apikeys"],
        status_code=HTTP_201_CREATED,
        guards=[requires_key_management],
        summary="Create an API key (shown once)",
    )
    async def create_api_key(
        self, request: Request[Any, Any, Any], services: ServicesDep, data: JSONBody[CreateApiKey]
    ) -> ApiKeyCreated:
        """Format `gpx_<key id>_<secret>`. Use it as `X-API-Key: <key>` or
        `Authorization: Bearer <key>`. Needs the `keys` scope; a key creating a key gives it
        at most its own scopes, and an expiring key only keys that expire no later than
        itself (403 naming `scopes` / `expires_at`). `rate_limit_per_minute` may not exceed
        the account's limit (400)."""
        expires_ms = None
        if data.expires_at is not None:
            expires_ms = int(data.expires_at.timestamp() * 1000)
        key, full_key = await accounts_of(services).create_api_key(
            principal_of(request),
            name=data.name,
            scopes=data.scopes,
            rate_limit_per_minute=data.rate_limit_per_minute,
            expires_at_ms=expires_ms,
            ip=client_ip(request),
        )
        return key_created(key, full_key, now_ms())

    @get(
        ["/apikey", "/apikeys"],
        guards=[requires_key_management],
        summary="The caller's API keys (needs the `keys` scope)",
    )
    async def list_api_keys(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> ApiKeyList:
        keys = await accounts_of(services).list_api_keys(principal_of(request).user_id)
        at = now_ms()
        return ApiKeyList(api_keys=[key_out(k, at) for k in keys])

    @delete(
        ["/apikey/{key_id:str}", "/apikeys/{key_id:str}"],
        status_code=HTTP_204_NO_CONTENT,
        guards=[requires_key_management],
        summary="Revoke one of the caller's API keys",
    )
    async def revoke_api_key(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        key_id: Annotated[str, PathParameter(max_length=64)],
    ) -> None:
        """Another user's key answers 404, like a key that does not exist. Revocation
        reaches every worker's cache within a second. Needs the `keys` scope, except for a
        key revoking itself."""
        await accounts_of(services).revoke_api_key(
            principal_of(request), key_id, ip=client_ip(request)
        )
