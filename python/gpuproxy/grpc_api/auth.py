"""Who is calling an RPC: the same credentials, principals, rate limits and scopes as REST.

Metadata keys are HTTP header names (`authorization: Bearer <JWT or API key>`,
`x-api-key`), so the HTTP path's one decision (`gpuproxy.accounts.admission.admit`:
authenticate, then count the request against the caller's rate limits) is reused as is.
"""

from __future__ import annotations

from typing import Any

import grpc

from gpuproxy.accounts.admission import admit
from gpuproxy.accounts.authenticator import credential_from_headers
from gpuproxy.accounts.principal import Principal
from gpuproxy.grpc_api.errors import StatusError, grpc_code
from gpuproxy.services import Services

__all__ = [
    "authentication_required",
    "authorize",
    "credential_headers",
    "metadata_headers",
    "peer_ip",
]

#: The metadata a caller authenticates with (forwarded to the data plane for proxy RPCs).
_CREDENTIAL_KEYS = frozenset({"authorization", "x-api-key"})


def authentication_required() -> StatusError:
    """UNAUTHENTICATED for a call that brought no credential."""
    return StatusError(
        grpc.StatusCode.UNAUTHENTICATED,
        "authentication required: send metadata 'authorization: Bearer <token>' or "
        "'x-api-key: <key>'",
        reason="authentication_required",
        param="authorization",
    )


def metadata_headers(context: Any) -> list[tuple[bytes, bytes]]:
    """The call's metadata as ASGI-style raw headers (binary `-bin` entries left out)."""
    headers: list[tuple[bytes, bytes]] = []
    for key, value in context.invocation_metadata() or ():
        if isinstance(value, str):
            headers.append((key.lower().encode("latin-1"), value.encode("latin-1", "replace")))
    return headers


def credential_headers(context: Any) -> dict[str, str]:
    """The caller's credential metadata, as headers for a request made on its behalf."""
    return {
        key.decode(): value.decode("latin-1")
        for key, value in metadata_headers(context)
        if key.decode() in _CREDENTIAL_KEYS
    }


def peer_ip(context: Any) -> str:
    """The client's address from grpc's peer string (`ipv4:1.2.3.4:5`, `ipv6:[::1]:5`)."""
    peer: str = context.peer() or ""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    if kind == "ipv6":
        return rest.rpartition(":")[0].strip("[]")
    return ""


async def authorize(
    services: Services,
    context: Any,
    *,
    scope: str | None = None,
    admin: bool = False,
    fallback_token: str = "",
) -> Principal:
    """The authenticated caller, counted by the rate limiter; otherwise a StatusError:
    UNAUTHENTICATED, RESOURCE_EXHAUSTED (rate limit), PERMISSION_DENIED (scope, admin),
    UNAVAILABLE (the credential store cannot answer).

    `fallback_token` is a JWT carried in the request message (the seed's
    CreateAPIKeyRequest.token), used only when the metadata has no credential."""
    accounts = services.accounts
    if accounts is None:
        raise StatusError(grpc.StatusCode.UNAVAILABLE, "the accounts service is not running")
    headers = metadata_headers(context)
    if credential_from_headers(headers) is None and fallback_token:
        headers.append((b"authorization", f"Bearer {fallback_token}".encode("latin-1")))
    principal, refusal, _limits = await admit(accounts, headers)
    if refusal is not None:
        status, message, code, _headers = refusal
        raise StatusError(grpc_code(status), message, reason=code)
    if principal is None:
        raise authentication_required()
    if scope is not None and not principal.has_scope(scope):
        raise StatusError(
            grpc.StatusCode.PERMISSION_DENIED,
            f"this API key lacks the '{scope}' scope",
            reason="insufficient_scope",
        )
    if admin and not (principal.is_admin and principal.has_scope("admin")):
        raise StatusError(
            grpc.StatusCode.PERMISSION_DENIED, "admin privilege required", reason="admin_required"
        )
    return principal
