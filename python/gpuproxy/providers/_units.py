"""Unit conversions from provider wire formats to the normalised records."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = ["micros_from_dollars", "micros_to_float_dollars", "per_gpu", "to_float", "to_int"]


def micros_from_dollars(value: object) -> int:
    """A provider's float/str dollar price rounded to integer micro-dollars (half up).

    Providers send prices such as 0.40133333 $/h; anything below a micro-dollar is rounded.
    Non-numbers give 0 so that one bad offer cannot break a whole listing.
    """
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return 0
    if not amount.is_finite() or amount < 0:
        return 0
    return int((amount * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def micros_to_float_dollars(micros: int) -> float:
    """Micro-dollars as the float dollars a provider's API expects (bid prices, filters)."""
    return micros / 1_000_000


def per_gpu(total_micros: int, num_gpus: int) -> int:
    return total_micros // num_gpus if num_gpus > 0 else total_micros


def to_float(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def to_int(value: object, default: int = 0) -> int:
    number = to_float(value)
    return default if number is None else int(number)
