"""Login and CreateAPIKey over the accounts service (the HTTP API's /auth routes)."""

from __future__ import annotations

from typing import Any

import grpc

from gpuproxy.accounts.principal import MANAGE_KEYS_SCOPE
from gpuproxy.grpc_api import gpuproxy_pb2 as pb
from gpuproxy.grpc_api._handlers import RpcBase, unary
from gpuproxy.grpc_api.auth import authorize, peer_ip
from gpuproxy.grpc_api.errors import StatusError

__all__ = ["AccountsRpcs"]


def _required(value: str, field: str) -> str:
    if not value.strip():
        raise StatusError(
            grpc.StatusCode.INVALID_ARGUMENT, f"{field}: is required", param=field,
            reason="missing_field",
        )  # fmt: skip
    return value


class AccountsRpcs(RpcBase):
    @unary
    async def Login(self, request: pb.LoginRequest, context: Any) -> pb.LoginResponse:
        accounts = self.services.accounts
        if accounts is None:
            raise StatusError(grpc.StatusCode.UNAVAILABLE, "the accounts service is not running")
        # Same throttle, audit and session as POST /api/v1/auth/login.
        result = await accounts.login(
            email=_required(request.email, "email"),
            password=_required(request.password, "password"),
            ip=peer_ip(context),
            user_agent="grpc",
        )
        return pb.LoginResponse(
            token=result.access.token,
            user_id=result.user.id,
            email=result.user.email,
            refresh_token=result.refresh_token,
            expires_at=result.access.expires_at,
        )

    @unary
    async def CreateAPIKey(
        self, request: pb.CreateAPIKeyRequest, context: Any
    ) -> pb.CreateAPIKeyResponse:
        # Minting keys needs the `keys` scope, as on POST /api/v1/auth/api-keys.
        principal = await authorize(
            self.services, context, scope=MANAGE_KEYS_SCOPE, fallback_token=request.token
        )
        accounts: Any = self.services.accounts
        key, secret = await accounts.create_api_key(
            principal,
            name=_required(request.name, "name"),
            scopes=list(request.scopes) or None,
            ip=peer_ip(context),
        )
        return pb.CreateAPIKeyResponse(
            api_key=secret,
            name=key.name,
            created_at=key.created_at,
            key_id=key.id,
            scopes=list(key.scopes),
        )
