"""Access tokens: JWTs signed with HS256 (default), RS256 or EdDSA (JWT_ALGORITHM).

Claims: sub (user id), email, is_admin, iat, exp, jti (unique per token), plus iss and
sid (the session the token belongs to, so logout and refresh-token reuse revoke it).
`email` and `is_admin` are informative: each request re-reads the account through the
auth cache, so a demoted or disabled user loses access without waiting for `exp`.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import jwt
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)

from gpuproxy.accounts.errors import InvalidToken
from gpuproxy.config import Settings
from gpuproxy.exceptions import ConfigError

__all__ = ["ISSUER", "AccessClaims", "IssuedToken", "JwtCodec"]

ISSUER = "aiserve-gpuproxy"
_LEEWAY_S = 5  # clock skew tolerated between instances


class AccessClaims(msgspec.Struct, frozen=True):
    sub: str
    email: str
    is_admin: bool
    iat: int
    exp: int
    jti: str
    sid: str


class IssuedToken(msgspec.Struct, frozen=True):
    token: str
    jti: str
    expires_at: int  # unix seconds


class JwtCodec:
    def __init__(
        self, algorithm: str, signing_key: Any, verifying_key: Any, ttl_seconds: int
    ) -> None:
        self.algorithm = algorithm
        self._signing_key = signing_key
        self._verifying_key = verifying_key
        self.ttl_seconds = ttl_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> JwtCodec:
        algorithm = settings.jwt_algorithm
        if algorithm == "HS256":
            if not settings.jwt_secret:
                raise ConfigError("JWT_SECRET is required for JWT_ALGORITHM=HS256")
            return cls(
                algorithm, settings.jwt_secret, settings.jwt_secret, settings.jwt_ttl_seconds
            )
        pem = Path(settings.jwt_private_key_file).read_bytes()
        try:
            private = load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"JWT_PRIVATE_KEY_FILE is not a readable PEM key: {exc}") from exc
        expected = RSAPrivateKey if algorithm == "RS256" else Ed25519PrivateKey
        if not isinstance(private, expected):
            needed = "an RSA" if algorithm == "RS256" else "an Ed25519"
            raise ConfigError(
                f"JWT_PRIVATE_KEY_FILE holds a {type(private).__name__}, but "
                f"JWT_ALGORITHM={algorithm} needs {needed} key"
            )
        return cls(algorithm, private, private.public_key(), settings.jwt_ttl_seconds)

    def issue(
        self,
        *,
        user_id: str,
        email: str,
        is_admin: bool,
        session_id: str,
        now_s: int,
        not_after_s: int | None = None,
    ) -> IssuedToken:
        """Sign a token valid for the configured lifetime (never past `not_after_s`)."""
        exp = now_s + self.ttl_seconds
        if not_after_s is not None:
            exp = min(exp, not_after_s)
        jti = secrets.token_urlsafe(16)
        claims = {
            "iss": ISSUER,
            "sub": user_id,
            "email": email,
            "is_admin": is_admin,
            "iat": now_s,
            "exp": exp,
            "jti": jti,
            "sid": session_id,
        }
        token = jwt.encode(claims, self._signing_key, algorithm=self.algorithm)
        return IssuedToken(token=token, jti=jti, expires_at=exp)

    @property
    def leeway_s(self) -> int:
        return _LEEWAY_S

    def verifying_key_bytes(self) -> bytes:
        """What another verifier needs (the Rust data plane): the HS256 secret, or the
        public key in PEM."""
        key = self._verifying_key
        if isinstance(key, str):
            return key.encode()
        pem: bytes = key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        return pem

    def decode(self, token: str) -> AccessClaims:
        """Verified claims, or InvalidToken (bad signature, expired, malformed, wrong issuer)."""
        try:
            payload = jwt.decode(
                token,
                self._verifying_key,
                algorithms=[self.algorithm],
                issuer=ISSUER,
                leeway=_LEEWAY_S,
                options={"require": ["exp", "iat", "sub", "jti", "sid"]},
            )
            return msgspec.convert(payload, AccessClaims)
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token expired") from exc
        except (jwt.InvalidTokenError, msgspec.ValidationError) as exc:
            raise InvalidToken("invalid token") from exc
