"""Credit accounts: the seed's credit fields over the cached ledger balance.

- credits_remaining = max(balance, 0)
- credits_overage   = max(-balance, 0)   (usage beyond the credits, up to the cap)
- credits_total     = every credit ever received (sum of positive ledger rows)
- credits_cap       = maximum overage (NULL in the row = CREDITS_DEFAULT_CAP)
- credits_auto_renew: charge the saved Stripe payment method when the balance falls below
  the threshold (once per crossing, see ledger.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpuproxy.clock import now_ms
from gpuproxy.money import micros_to_dollars
from gpuproxy.storage.database import Database, Row

__all__ = ["CreditAccount", "ensure_account", "load_account", "update_account"]


@dataclass(frozen=True, slots=True)
class CreditAccount:
    user_id: str
    balance_micros: int
    total_micros: int
    cap_micros: int
    cap_is_default: bool
    auto_renew: bool
    auto_renew_threshold_micros: int
    auto_renew_amount_micros: int
    auto_renew_armed: bool
    stripe_customer_id: str | None
    payment_method_id: str | None

    @classmethod
    def from_row(cls, row: Row | None, user_id: str, default_cap: int) -> CreditAccount:
        if row is None:
            return cls(user_id, 0, 0, default_cap, True, False, 0, 0, True, None, None)
        cap = row["cap_micros"]
        return cls(
            user_id=user_id,
            balance_micros=int(row["balance_micros"]),
            total_micros=int(row["total_micros"]),
            cap_micros=default_cap if cap is None else int(cap),
            cap_is_default=cap is None,
            auto_renew=bool(row["auto_renew"]),
            auto_renew_threshold_micros=int(row["auto_renew_threshold_micros"]),
            auto_renew_amount_micros=int(row["auto_renew_amount_micros"]),
            auto_renew_armed=bool(row["auto_renew_armed"]),
            stripe_customer_id=row["stripe_customer_id"],
            payment_method_id=row["payment_method_id"],
        )

    @property
    def remaining_micros(self) -> int:
        return max(self.balance_micros, 0)

    @property
    def overage_micros(self) -> int:
        return max(-self.balance_micros, 0)

    def to_api(self, *, pending_micros: int = 0, enforced: bool) -> dict[str, Any]:
        """The seed's fields as dollar strings, plus exact micro-dollar integers."""
        balance = self.balance_micros - pending_micros
        remaining, overage = max(balance, 0), max(-balance, 0)
        return {
            "user_id": self.user_id,
            "currency": "USD",
            "credits_remaining": micros_to_dollars(remaining),
            "credits_total": micros_to_dollars(self.total_micros),
            "credits_overage": micros_to_dollars(overage),
            "credits_cap": micros_to_dollars(self.cap_micros),
            "credits_auto_renew": self.auto_renew,
            "auto_renew_threshold": micros_to_dollars(self.auto_renew_threshold_micros),
            "auto_renew_amount": micros_to_dollars(self.auto_renew_amount_micros),
            "payment_method": f"card:{self.payment_method_id}" if self.payment_method_id else None,
            "balance_micros": balance,
            "pending_micros": pending_micros,
            "credits_remaining_micros": remaining,
            "credits_total_micros": self.total_micros,
            "credits_overage_micros": overage,
            "credits_cap_micros": self.cap_micros,
            "enforced": enforced,
        }


async def load_account(db: Database, user_id: str, default_cap: int) -> CreditAccount:
    row = await db.fetchrow("SELECT * FROM credit_accounts WHERE user_id = $1", user_id)
    return CreditAccount.from_row(row, user_id, default_cap)


async def ensure_account(db: Database, user_id: str) -> None:
    await db.execute(
        "INSERT INTO credit_accounts (user_id, updated_at) VALUES ($1, $2) "
        "ON CONFLICT (user_id) DO NOTHING",
        user_id,
        now_ms(),
    )


_UPDATABLE = frozenset(
    {
        "cap_micros",
        "auto_renew",
        "auto_renew_threshold_micros",
        "auto_renew_amount_micros",
        "stripe_customer_id",
        "payment_method_id",
    }
)


async def update_account(db: Database, user_id: str, **changes: Any) -> None:
    """Set credit settings (not balances: those only move through the ledger).

    Turning auto-renew on or changing its threshold re-arms it.
    """
    unknown = set(changes) - _UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    if not changes:
        return
    await ensure_account(db, user_id)
    columns = sorted(changes)
    assignments = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=2))
    rearm = ""
    if "auto_renew" in changes or "auto_renew_threshold_micros" in changes:
        rearm = ", auto_renew_armed = 1"
    await db.execute(
        f"UPDATE credit_accounts SET {assignments}{rearm}, updated_at = ${len(columns) + 2} "  # noqa: S608 - column names come from _UPDATABLE
        "WHERE user_id = $1",
        user_id,
        *[changes[c] for c in columns],
        now_ms(),
    )
