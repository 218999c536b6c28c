"""`X-Preferred-Payment` and `X-Billing`: which provider and which saved method to use.

Accepted forms:
- `card:pm_...`             a Stripe PaymentMethod id (saved with Stripe.js / Elements)
- `crypto:<network>:<0x wallet>`  pay in the configured stablecoin from that wallet
- `afterdark` (optionally `afterdark:<anything>`)
A raw card number (`card:4242...:12/25:123` in the original docs) is refused with 400 and is
never echoed, stored, logged or forwarded: card data must go to Stripe directly, not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gpuproxy.billing.errors import InvalidBillingInput

__all__ = ["PROVIDERS", "PreferredPayment", "parse_preferred", "resolve_provider"]

PROVIDERS = ("stripe", "crypto", "afterdark")
_HEADER = "X-Preferred-Payment"
_PM = re.compile(r"^pm_[A-Za-z0-9_]{3,200}$")
_WALLET = re.compile(r"^0x[0-9a-fA-F]{40}$")
_NETWORK = re.compile(r"^[a-z0-9_-]{1,40}$")
_DIGITS = re.compile(r"\d")

RAW_CARD_MESSAGE = (
    "raw card numbers are not accepted: create a Stripe PaymentMethod (pm_...) with "
    "Stripe.js, Elements or the Stripe API, then send X-Preferred-Payment: card:pm_..., "
    "or omit it to pay through Stripe Checkout"
)


@dataclass(frozen=True, slots=True)
class PreferredPayment:
    kind: str  # card | crypto | afterdark
    payment_method: str | None = None
    network: str | None = None
    wallet: str | None = None

    @property
    def provider(self) -> str:
        return "stripe" if self.kind == "card" else self.kind


def parse_preferred(value: str | None, *, param: str = _HEADER) -> PreferredPayment | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    scheme, _, rest = text.partition(":")
    scheme = scheme.lower()
    if scheme == "card":
        if _PM.match(rest):
            return PreferredPayment("card", payment_method=rest)
        if _DIGITS.search(rest):
            raise InvalidBillingInput(RAW_CARD_MESSAGE, param=param, code="raw_card_refused")
        raise InvalidBillingInput(
            f"{param}: expected card:pm_... (a Stripe PaymentMethod id)", param=param
        )
    if scheme == "crypto":
        network, _, wallet = rest.partition(":")
        network = network.lower()
        if not _NETWORK.match(network) or not _WALLET.match(wallet):
            raise InvalidBillingInput(
                f"{param}: expected crypto:<network>:<0x wallet address of 40 hex digits>",
                param=param,
            )
        return PreferredPayment("crypto", network=network, wallet=wallet.lower())
    if scheme == "afterdark":
        return PreferredPayment("afterdark")
    if _DIGITS.search(text) and len(_DIGITS.findall(text)) >= 12:
        # Looks like a bare card number: refuse without echoing it.
        raise InvalidBillingInput(RAW_CARD_MESSAGE, param=param, code="raw_card_refused")
    raise InvalidBillingInput(
        f"{param}: expected card:pm_..., crypto:<network>:<wallet> or afterdark", param=param
    )


def resolve_provider(
    body_provider: str | None, billing_header: str | None, preferred: PreferredPayment | None
) -> str:
    """One provider from the body, `X-Billing` and the preferred method; they must agree."""
    named: list[tuple[str, str]] = []
    for source, value in (("provider", body_provider), ("X-Billing", billing_header)):
        if value is not None and value.strip():
            lowered = value.strip().lower()
            if lowered not in PROVIDERS:
                raise InvalidBillingInput(
                    f"{source}: expected one of {', '.join(PROVIDERS)}", param=source
                )
            named.append((source, lowered))
    if preferred is not None:
        named.append((_HEADER, preferred.provider))
    if not named:
        raise InvalidBillingInput(
            "provider: expected one of stripe, crypto, afterdark", param="provider"
        )
    first = named[0][1]
    for source, value in named[1:]:
        if value != first:
            raise InvalidBillingInput(
                f"{source} says {value} but {named[0][0]} says {first}", param=source
            )
    return first
