"""Who is calling: the authenticated principal attached to every request (`request.user`)."""

from __future__ import annotations

import msgspec

__all__ = ["ALL_SCOPES", "Principal"]

#: Scopes an API key can carry; a JWT (interactive login) carries all of them.
ALL_SCOPES: frozenset[str] = frozenset({"inference", "gpu", "billing", "admin"})


class Principal(msgspec.Struct, frozen=True):
    """The caller of a request, resolved from a JWT or an API key.

    `scopes` limits what an API key may do; `is_admin` is the account's privilege and still
    needs the `admin` scope when the caller is an API key.
    """

    user_id: str
    email: str
    is_admin: bool = False
    scopes: frozenset[str] = ALL_SCOPES
    api_key_id: str | None = None
    rate_limit_per_minute: int | None = None
    priority: int = 0
    #: The login session of a JWT caller (logout revokes it); None for API keys.
    session_id: str | None = None
    #: The rate-limit bucket the caller counts against: the key's own when the key has a
    #: limit of its own ("k:<key id>"), else the user's ("u:<user id>").
    rate_limit_key: str | None = None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
