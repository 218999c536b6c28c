from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gpuproxy.accounts.keyformat import (
    KEY_ID_LENGTH,
    KEY_PREFIX,
    generate_key,
    looks_like_key,
    parse_key,
)


def test_generated_keys_parse_back() -> None:
    seen = set()
    for _ in range(50):
        key_id, secret, full = generate_key()
        assert full.startswith(KEY_PREFIX)
        assert looks_like_key(full)
        assert len(key_id) == KEY_ID_LENGTH
        assert len(secret) >= 43  # 32 random bytes in base64url
        assert parse_key(full) == (key_id, secret)
        seen.add(key_id)
    assert len(seen) == 50


def test_malformed_keys_are_refused_without_io() -> None:
    _, _, full = generate_key()
    assert parse_key(full[:-1]) is None
    assert parse_key(full + "x") is None
    assert parse_key("sk_" + full[3:]) is None
    assert parse_key(full[:20] + "-" + full[21:]) is None  # separator
    assert parse_key(full[:4] + "A" + full[5:]) is None  # key ids are lowercase
    assert parse_key(full[:-1] + "'") is None


@given(st.text(max_size=80))
def test_parse_never_raises(text: str) -> None:
    parsed = parse_key(text)
    assert parsed is None or KEY_PREFIX + parsed[0] + "_" + parsed[1] == text
