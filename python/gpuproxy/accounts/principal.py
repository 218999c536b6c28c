"""Who is calling: the authenticated principal attached to every request (`request.user`)."""

from __future__ import annotations

import msgspec

__all__ = ["ALL_SCOPES", "MANAGE_KEYS_SCOPE", "Principal"]

#: Creating, listing and revoking API keys. A separate scope so that a key handed to an
#: inference client cannot mint keys or revoke its owner's other keys.
MANAGE_KEYS_SCOPE = "keys"
#: Scopes an API key can carry; a JWT (interactive login) carries all of them.
ALL_SCOPES: frozenset[str] = frozenset({"inference", "gpu", "billing", "admin", MANAGE_KEYS_SCOPE})


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
    #: The user's limit, shared by all the user's keys and sessions (None: server default).
    rate_limit_per_minute: int | None = None
    priority: int = 0
    #: The login session of a JWT caller (logout revokes it); None for API keys.
    session_id: str | None = None
    #: An API key's own limit, counted in the key's bucket on top of the user's (it can
    #: only tighten: a key never gets more than its user).
    key_rate_limit_per_minute: int | None = None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
