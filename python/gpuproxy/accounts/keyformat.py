"""The API key format: `gpx_<key id>_<secret>`.

The prefix makes keys recognisable (secret scanners, log redaction); the 16-character key id
is public and is how a key is looked up; the secret is 32 random bytes (43 base64url
characters) of which only a bcrypt hash is stored. Positions are fixed, so a `_` inside the
secret never confuses parsing.
"""

from __future__ import annotations

import secrets
import string

__all__ = ["KEY_ID_LENGTH", "KEY_PREFIX", "generate_key", "looks_like_key", "parse_key"]

KEY_PREFIX = "gpx_"
KEY_ID_LENGTH = 16
SECRET_BYTES = 32
_ID_ALPHABET = string.ascii_lowercase + string.digits
_ID_CHARS = frozenset(_ID_ALPHABET)
_SECRET_CHARS = frozenset(string.ascii_letters + string.digits + "-_")
_SECRET_LENGTH = 43  # len(token_urlsafe(32))
_KEY_LENGTH = len(KEY_PREFIX) + KEY_ID_LENGTH + 1 + _SECRET_LENGTH


def generate_key() -> tuple[str, str, str]:
    """A new key: (key id, secret, the whole key shown once to its owner)."""
    key_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(KEY_ID_LENGTH))
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return key_id, secret, f"{KEY_PREFIX}{key_id}_{secret}"


def looks_like_key(value: str) -> bool:
    return value.startswith(KEY_PREFIX)


def parse_key(value: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None (no database work for garbage)."""
    if len(value) != _KEY_LENGTH or not value.startswith(KEY_PREFIX):
        return None
    start = len(KEY_PREFIX)
    key_id = value[start : start + KEY_ID_LENGTH]
    if value[start + KEY_ID_LENGTH] != "_":
        return None
    secret = value[start + KEY_ID_LENGTH + 1 :]
    if not _ID_CHARS.issuperset(key_id) or not _SECRET_CHARS.issuperset(secret):
        return None
    return key_id, secret
