"""How the gateway proves itself to a worker: one secret per worker, derived from its token.

A rented GPU's worker port is reachable by anyone on the internet; without a check it would
serve free, unmetered inference. Both sides derive the same secret from the one-time
registration token the rent flow gave the instance (HMAC-SHA256, so the token itself is
never sent to the worker's port): the worker requires `Authorization: Bearer <secret>` on
every request from its first second, and the gateway sends it (the Rust forwarder puts it
in place of anything else). The proxy keeps only the derived value, in memory.

A worker started without a token (standalone, or a static upstream) uses the secret it is
given (`GPUPROXY_WORKER_SECRET`) or, with none, serves without authentication and says so.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["authorization_for_secret", "authorization_for_token", "authorized", "serve_secret"]

_LABEL = b"gpuproxy worker serve v1"


def serve_secret(registration_token: str) -> str:
    """The serving secret bound to a registration token."""
    digest = hmac.new(registration_token.encode(), _LABEL, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorization_for_secret(secret: str) -> str:
    return f"Bearer {secret}"


def authorization_for_token(registration_token: str) -> str:
    """The `Authorization` value a worker registered with this token accepts."""
    return authorization_for_secret(serve_secret(registration_token))


def authorized(expected: bytes, presented: bytes | None) -> bool:
    """Constant-time comparison of the presented `Authorization` header."""
    return presented is not None and secrets.compare_digest(expected, presented)
