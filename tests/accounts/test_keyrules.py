"""The rules of new and changed API keys, at their boundaries."""

from __future__ import annotations

import pytest

from gpuproxy.accounts.apikeys import ApiKey
from gpuproxy.accounts.errors import Forbidden, InvalidInput
from gpuproxy.accounts.keyrules import (
    check_expiry_within,
    check_key_rate_limit,
    check_priority,
    key_scopes,
)
from gpuproxy.accounts.principal import ALL_SCOPES, Principal


def _key(expires_at: int | None) -> ApiKey:
    return ApiKey(
        id="k",
        user_id="u",
        name="n",
        scopes=("inference", "keys"),
        rate_limit_per_minute=None,
        priority=0,
        expires_at=expires_at,
        last_used_at=None,
        request_count=0,
        revoked_at=None,
        created_at=0,
    )


def test_priority_range() -> None:
    assert check_priority(0) == 0
    assert check_priority(255) == 255
    for bad in (-1, 256):
        with pytest.raises(InvalidInput) as refused:
            check_priority(bad)
        assert refused.value.field == "priority"


def test_rate_limit_cap() -> None:
    check_key_rate_limit(600, None, 600)  # equal is allowed
    check_key_rate_limit(None, 10, 600)  # no own limit: only the user's applies
    check_key_rate_limit(1_000_000, None, 0)  # no server limit at all
    for value, owner, default in ((601, None, 600), (11, 10, 600), (11, 10, 0)):
        with pytest.raises(InvalidInput) as refused:
            check_key_rate_limit(value, owner, default)
        assert refused.value.field == "rate_limit_per_minute"


def test_expiry_within_the_creators() -> None:
    check_expiry_within(None, None)  # a login
    check_expiry_within(_key(None), None)  # a key that never expires
    check_expiry_within(_key(1000), 1000)
    for expires in (None, 1001):
        with pytest.raises(Forbidden) as refused:
            check_expiry_within(_key(1000), expires)
        assert refused.value.param == "expires_at"


def test_scopes_of_a_login_and_of_a_key() -> None:
    login = Principal(user_id="u", email="e", scopes=ALL_SCOPES - {"admin"})
    assert key_scopes(["keys", "gpu"], login, owner_is_admin=False) == ("keys", "gpu")
    assert key_scopes(None, login, owner_is_admin=False) == ("billing", "gpu", "inference")
    key = Principal(user_id="u", email="e", scopes=frozenset({"gpu", "keys"}), api_key_id="k")
    assert key_scopes(None, key, owner_is_admin=False) == ("gpu",)
    with pytest.raises(Forbidden):
        key_scopes(["inference"], key, owner_is_admin=False)
    with pytest.raises(InvalidInput):
        key_scopes(
            None,
            Principal(user_id="u", email="e", scopes=frozenset({"keys"}), api_key_id="k"),
            owner_is_admin=False,
        )
