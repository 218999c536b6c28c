"""Unit conversions from provider wire formats to the normalised records."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = [
    "micros_from_dollars",
    "micros_to_float_dollars",
    "offer_price",
    "per_gpu",
    "to_float",
    "to_int",
]


def _micros(value: object) -> int | None:
    """Dollars (float or str) rounded half up to micro-dollars; None when not a finite number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not amount.is_finite():
        return None
    return int((amount * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def micros_from_dollars(value: object) -> int:
    """A provider's float/str dollar price rounded to integer micro-dollars (half up).

    Providers send prices such as 0.40133333 $/h; anything below a micro-dollar is rounded.
    Non-numbers give 0: use this for prices that are shown, never for one that is charged
    or that decides what to rent (`offer_price` is that one).
    """
    micros = _micros(value)
    return micros if micros is not None and micros > 0 else 0


def offer_price(value: object) -> tuple[int, str | None]:
    """An offer's price in micro-dollars and, when it is not a valid positive price, why.

    A missing, garbled, negative or zero marketplace price must never read as "free": such
    an offer is listed with price 0 and this reason, sorts last and cannot be rented.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0, "the provider sent no price for this offer"
    micros = _micros(value)
    if micros is None:
        return 0, f"the provider's price {str(value)[:32]!r} is not a number"
    if micros <= 0:
        return 0, "the provider's price is not positive"
    return micros, None


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
