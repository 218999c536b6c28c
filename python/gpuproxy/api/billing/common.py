"""Helpers shared by the billing and guard-rail routes."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gpuproxy.api.guards import principal_of
from gpuproxy.billing.errors import InvalidBillingInput, ProviderNotConfigured
from gpuproxy.billing.ledger import count_entries, list_entries
from gpuproxy.billing.service import BillingService
from gpuproxy.money import dollars_to_micros
from gpuproxy.services import Services

if TYPE_CHECKING:
    from litestar import Request

__all__ = [
    "Amount",
    "billing_of",
    "caller_page",
    "notifications_page",
    "page",
    "parse_amount",
    "transactions_page",
]

#: A dollar amount as a JSON number (50, 12.5) or string ("12.50"): msgspec decodes both
#: into Decimal (a `Decimal | str` union would break the OpenAPI schema generation).
Amount = Decimal


def billing_of(services: Services) -> BillingService:
    billing = services.billing
    if billing is None:
        raise ProviderNotConfigured("the billing service is not running")
    return billing


def parse_amount(
    value: Any, field: str, *, allow_negative: bool = False, allow_zero: bool = False
) -> int:
    """Dollars -> micro-dollars, or 400 naming `field`."""
    try:
        micros = dollars_to_micros(value)
    except (ValueError, TypeError):
        raise InvalidBillingInput(
            f"{field}: expected a dollar amount such as 12.50 (at most 6 decimals)", param=field
        ) from None
    if micros < 0 and not allow_negative:
        raise InvalidBillingInput(f"{field}: must not be negative", param=field)
    if micros == 0 and not allow_zero:
        raise InvalidBillingInput(f"{field}: must not be zero", param=field)
    if abs(micros) > 10**15:
        raise InvalidBillingInput(f"{field}: too large", param=field)
    return micros


def page(
    limit: int | None, offset: int | None, *, default: int = 50, maximum: int = 200
) -> tuple[int, int]:
    """Validated (limit, offset): 400 naming the parameter when out of range."""
    chosen = default if limit is None else limit
    if not 1 <= chosen <= maximum:
        raise InvalidBillingInput(f"limit: expected 1 to {maximum}", param="limit")
    start = 0 if offset is None else offset
    if start < 0:
        raise InvalidBillingInput("offset: expected 0 or more", param="offset")
    return chosen, start


def caller_page(
    request: Request[Any, Any, Any], services: Services, limit: int | None, offset: int | None
) -> tuple[BillingService, str, int, int]:
    """(billing, caller's user id, size, start) for a list of the caller's own rows.

    The order is the handlers' order of checks: the page (400) before the service (503).
    """
    size, start = page(limit, offset)
    return billing_of(services), principal_of(request).user_id, size, start


async def transactions_page(
    billing: BillingService, user_id: str, size: int, start: int
) -> dict[str, Any]:
    """One page of a user's ledger, newest first, with the total count (own and admin view)."""
    entries = await list_entries(billing.db, user_id, limit=size, offset=start)
    return {
        "transactions": [e.to_api() for e in entries],
        "limit": size,
        "offset": start,
        "total": await count_entries(billing.db, user_id),
    }


async def notifications_page(
    billing: BillingService, user_id: str, key: str, size: int, start: int, kind_prefix: str = ""
) -> dict[str, Any]:
    """One page of a user's notifications (all, or those whose kind starts `kind_prefix`)."""
    items = await billing.notifier.recent(
        user_id, kind_prefix=kind_prefix, limit=size, offset=start
    )
    return {key: items, "limit": size, "offset": start}
