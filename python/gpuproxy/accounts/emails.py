"""Email validation and normalisation (one canonical form per mailbox in the database)."""

from __future__ import annotations

import re

from gpuproxy.accounts.errors import InvalidInput

__all__ = ["MAX_EMAIL_LENGTH", "normalize_email"]

MAX_EMAIL_LENGTH = 254
# A practical subset of RFC 5322: dot-atom local part, DNS labels with a final label of
# letters. Quotes, spaces, comments and IP literals are refused on purpose.
_LOCAL = r"[a-z0-9!#$%&*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&*+/=?^_`{|}~-]+)*"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_EMAIL = re.compile(rf"^{_LOCAL}@(?:{_LABEL}\.)+[a-z]{{2,63}}$")


def normalize_email(raw: str, field: str = "email") -> str:
    """Trim and lowercase `raw`; raise InvalidInput naming `field` when it is not an email."""
    email = raw.strip().lower()
    if not email:
        raise InvalidInput(field, "is required")
    if len(email) > MAX_EMAIL_LENGTH or len(email.split("@", 1)[0]) > 64:
        raise InvalidInput(field, "is too long")
    if not _EMAIL.match(email):
        raise InvalidInput(field, "is not a valid email address")
    return email
