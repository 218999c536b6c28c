from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpuproxy.money import dollars_to_micros, micros_to_dollars


def test_parses_exactly() -> None:
    assert dollars_to_micros("12.50") == 12_500_000
    assert dollars_to_micros("0.000001") == 1
    assert dollars_to_micros(3) == 3_000_000


@pytest.mark.parametrize("bad", ["abc", "1.0000001", "nan", "inf", ""])
def test_rejects_non_amounts(bad: str) -> None:
    with pytest.raises(ValueError, match=r"not a|decimal places"):
        dollars_to_micros(bad)


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_round_trip(micros: int) -> None:
    assert dollars_to_micros(micros_to_dollars(micros)) == micros
