from __future__ import annotations

import pytest

from gpuproxy.accounts.emails import normalize_email
from gpuproxy.accounts.errors import InvalidInput


def test_normalises_case_and_spaces() -> None:
    assert normalize_email("  Alice.Smith+gpu@Example.COM ") == "alice.smith+gpu@example.com"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "plainaddress",
        "a@b",
        "a b@example.com",
        "a@example.com'; DROP TABLE users;--",
        "' OR '1'='1",
        "x@" + "a" * 250 + ".com",
        "a@-example.com",
        '"quoted"@example.com',
    ],
)
def test_rejects_what_is_not_an_email(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_email(raw)
    assert caught.value.field == "email"
