"""What a new or changed API key may be: its scopes, expiry, rate limit and priority.

A key only ever narrows what its creator holds. A key that creates a key cannot give it a
scope it lacks or let it outlive itself; otherwise a leaked short-lived or inference-only
key could be turned into a permanent, broader one. A key's own rate limit can only tighten
its owner's: every key of a user also counts against the user's limit, so the user's limit
is the most all of their keys together get.
"""

from __future__ import annotations

from collections.abc import Sequence

from gpuproxy.accounts.apikeys import ApiKey
from gpuproxy.accounts.errors import Forbidden, InvalidInput
from gpuproxy.accounts.principal import ALL_SCOPES, Principal

__all__ = [
    "DEFAULT_KEY_SCOPES",
    "PRIORITY_MAX",
    "PRIORITY_MIN",
    "check_expiry_within",
    "check_key_rate_limit",
    "check_priority",
    "key_scopes",
]

#: Scopes of a new key when none are asked for: what an inference or GPU client needs,
#: neither `admin` nor `keys` (least privilege).
DEFAULT_KEY_SCOPES: tuple[str, ...] = ("billing", "gpu", "inference")
#: The admission queue serves higher priorities first (README: 0-255).
PRIORITY_MIN, PRIORITY_MAX = 0, 255


def key_scopes(
    requested: Sequence[str] | None, creator: Principal, *, owner_is_admin: bool
) -> tuple[str, ...]:
    """The scopes of a new key, or Forbidden/InvalidInput naming `scopes`.

    Without `requested`, a key creating a key passes on the defaults it holds itself.
    """
    if requested is None:
        requested = DEFAULT_KEY_SCOPES
        if creator.api_key_id is not None:
            requested = tuple(s for s in DEFAULT_KEY_SCOPES if creator.has_scope(s))
    wanted = tuple(requested)
    if not wanted or set(wanted) - ALL_SCOPES:
        raise InvalidInput("scopes", f"must be a non-empty list of {', '.join(sorted(ALL_SCOPES))}")
    if "admin" in wanted and not owner_is_admin:
        raise Forbidden("scopes: the admin scope needs an admin account", param="scopes")
    beyond = sorted(set(wanted) - creator.scopes)
    if creator.api_key_id is not None and beyond:
        raise Forbidden(
            f"scopes: an API key cannot create a key with scopes it does not hold "
            f"({', '.join(beyond)})",
            param="scopes",
        )
    return wanted


def check_expiry_within(creator_key: ApiKey | None, expires_at_ms: int | None) -> None:
    """A key that expires creates only keys that expire, and no later than itself."""
    if creator_key is None or creator_key.expires_at is None:
        return
    if expires_at_ms is None:
        raise Forbidden(
            "expires_at: is required when the calling API key expires (at the latest when it does)",
            param="expires_at",
        )
    if expires_at_ms > creator_key.expires_at:
        raise Forbidden(
            "expires_at: must not be later than the expiry of the calling API key",
            param="expires_at",
        )


def check_key_rate_limit(value: int | None, owner_limit: int | None, default_limit: int) -> None:
    """A key's own limit may not exceed its owner's effective limit (0 = unlimited)."""
    effective = default_limit if owner_limit is None else owner_limit
    if value is not None and effective > 0 and value > effective:
        raise InvalidInput(
            "rate_limit_per_minute",
            f"must be at most {effective}, the account's limit per minute "
            "(a key's limit can only tighten it)",
        )


def check_priority(value: int) -> int:
    if not PRIORITY_MIN <= value <= PRIORITY_MAX:
        raise InvalidInput("priority", f"must be between {PRIORITY_MIN} and {PRIORITY_MAX}")
    return value
