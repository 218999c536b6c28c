from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from gpuproxy.accounts.errors import InvalidToken
from gpuproxy.accounts.tokens import ISSUER, JwtCodec
from gpuproxy.config import Settings
from gpuproxy.exceptions import ConfigError


def _issue(codec: JwtCodec, now: int | None = None, not_after: int | None = None) -> str:
    return codec.issue(
        user_id="u1",
        email="u1@example.com",
        is_admin=False,
        session_id="s1",
        now_s=int(time.time()) if now is None else now,
        not_after_s=not_after,
    ).token


def test_hs256_round_trip_has_the_claims(settings: Settings) -> None:
    codec = JwtCodec.from_settings(settings)
    issued = codec.issue(
        user_id="u1", email="u1@example.com", is_admin=True, session_id="s1", now_s=1_000
    )
    assert issued.expires_at == 1_000 + settings.jwt_ttl_seconds
    header = json.loads(base64.urlsafe_b64decode(issued.token.split(".")[0] + "=="))
    assert header["alg"] == "HS256"
    payload = jwt.decode(issued.token, options={"verify_signature": False})
    assert {"sub", "email", "is_admin", "iat", "exp", "jti", "sid", "iss"} <= set(payload)
    assert payload["iss"] == ISSUER
    assert payload["sid"] == "s1"
    assert payload["is_admin"] is True
    fresh = _issue(codec)
    claims = codec.decode(fresh)
    assert claims.sub == "u1"
    assert claims.sid == "s1"
    assert not claims.is_admin


def test_lifetime_is_configurable_and_capped_by_the_session(
    make_settings: Callable[..., Settings],
) -> None:
    codec = JwtCodec.from_settings(make_settings(JWT_TTL_SECONDS="120"))
    now = int(time.time())
    assert (
        codec.issue(
            user_id="u", email="e@x.io", is_admin=False, session_id="s", now_s=now
        ).expires_at
        == now + 120
    )
    capped = codec.issue(
        user_id="u", email="e@x.io", is_admin=False, session_id="s", now_s=now, not_after_s=now + 5
    )
    assert capped.expires_at == now + 5


def test_tampered_token_is_refused(settings: Settings) -> None:
    codec = JwtCodec.from_settings(settings)
    token = _issue(codec)
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["is_admin"] = True
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidToken):
        codec.decode(f"{head}.{forged}.{signature}")
    with pytest.raises(InvalidToken):
        codec.decode(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))


def test_other_secret_and_alg_none_are_refused(settings: Settings) -> None:
    codec = JwtCodec.from_settings(settings)
    claims = jwt.decode(_issue(codec), options={"verify_signature": False})
    other = jwt.encode(claims, "another-secret-that-is-long-enough-0123456789", algorithm="HS256")
    with pytest.raises(InvalidToken):
        codec.decode(other)
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(InvalidToken):
        codec.decode(unsigned)


def test_expired_token_is_refused(settings: Settings) -> None:
    codec = JwtCodec.from_settings(settings)
    old = _issue(codec, now=int(time.time()) - 100_000, not_after=int(time.time()) - 60)
    with pytest.raises(InvalidToken, match="expired"):
        codec.decode(old)


def test_missing_session_claim_is_refused(settings: Settings) -> None:
    codec = JwtCodec.from_settings(settings)
    now = int(time.time())
    token = jwt.encode(
        {"iss": ISSUER, "sub": "u", "email": "e", "is_admin": False, "iat": now,
         "exp": now + 60, "jti": "j"},
        settings.jwt_secret,
        algorithm="HS256",
    )  # fmt: skip
    with pytest.raises(InvalidToken):
        codec.decode(token)


def _write_key(path: Path, key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.mark.parametrize("algorithm", ["RS256", "EdDSA"])
def test_asymmetric_algorithms(
    algorithm: str, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if algorithm == "RS256"
        else ed25519.Ed25519PrivateKey.generate()
    )
    path = _write_key(tmp_path / "jwt.pem", key)
    settings = make_settings(JWT_ALGORITHM=algorithm.lower(), JWT_PRIVATE_KEY_FILE=str(path))
    codec = JwtCodec.from_settings(settings)
    token = _issue(codec)
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    assert codec.decode(token).sub == "u1"
    # A token signed with the HS256 secret must not pass an RS256/EdDSA verifier.
    claims = jwt.decode(token, options={"verify_signature": False})
    with pytest.raises(InvalidToken):
        codec.decode(jwt.encode(claims, "x" * 40, algorithm="HS256"))


def test_asymmetric_needs_a_matching_key_file(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    with pytest.raises(ConfigError, match="JWT_PRIVATE_KEY_FILE"):
        make_settings(JWT_ALGORITHM="RS256", JWT_PRIVATE_KEY_FILE=str(tmp_path / "missing.pem"))
    path = _write_key(tmp_path / "ed.pem", ed25519.Ed25519PrivateKey.generate())
    settings = make_settings(JWT_ALGORITHM="RS256", JWT_PRIVATE_KEY_FILE=str(path))
    with pytest.raises(ConfigError, match="RSA"):
        JwtCodec.from_settings(settings)
