"""Money at the API edge: decimal dollar strings <-> integer micro-dollars.

Everything inside the service is integer micro-dollars (1 USD = 1,000,000); this module
is the only place decimals appear.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

__all__ = ["MICROS_PER_DOLLAR", "dollars_to_micros", "micros_to_dollars"]

MICROS_PER_DOLLAR = 1_000_000


def dollars_to_micros(value: str | int | float | Decimal) -> int:
    """Parse a dollar amount ("12.50", 12.5) into micro-dollars, exactly.

    Raises ValueError for non-numbers and for more than 6 decimal places (sub-micro amounts).
    """
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    micros = amount * MICROS_PER_DOLLAR
    if micros != micros.to_integral_value():
        raise ValueError(f"more than 6 decimal places: {value!r}")
    return int(micros)


def micros_to_dollars(micros: int) -> str:
    """Format micro-dollars as a plain decimal string with 6 places ("12.500000")."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), MICROS_PER_DOLLAR)
    return f"{sign}{whole}.{frac:06d}"
