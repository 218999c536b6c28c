"""Spend allowances for the Rust data plane: money reserved once, spent by many requests.

The data plane serves inference without Python on the request path, so it cannot call
`BillingService.reserve` per request. Instead it asks here, once per user per process and
allowance lifetime, for an *allowance*: a normal reservation (quotas, credit gate, the 17
spend windows, shared through Redis when configured) of max(the asking request's worst case,
GATEWAY_ALLOWANCE_MICROS). Its requests then take holds from it in Rust. Each settled
request is charged here from the usage ring (ledger row with the request id, credit gate),
and when the allowance retires (expired, replaced, short) its total is committed to the
windows and the rest released.

A user with a request quota gets single-use allowances: `reserve` counts one request each.

Size: an allowance held by one process is spend another process (or instance) cannot use
until it closes, so it is also capped at a tenth of the user's tightest guard-rail limit
(`SHARE_OF_LIMIT`): with a $1 per 5 minutes limit an allowance is at most $0.10 (or the
request's own worst case when that is more), and every instance keeps getting its part.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gpuproxy.billing.ledger import EntryType
from gpuproxy.billing.reservation import Reservation
from gpuproxy.exceptions import ApiError

if TYPE_CHECKING:
    from gpuproxy.billing.service import BillingService

__all__ = ["SHARE_OF_LIMIT", "Allowance", "AllowanceBook"]

log = logging.getLogger(__name__)

#: An allowance is at most this fraction of the user's tightest spend-window limit.
SHARE_OF_LIMIT = 0.1


@dataclass(slots=True)
class Allowance:
    reservation: Reservation
    #: what the credit gate still holds for it (charges release it as they come)
    held_left: int
    spent: int = 0


class AllowanceBook:
    def __init__(self, billing: BillingService, size_micros: int) -> None:
        self.billing = billing
        self.size_micros = size_micros
        self._ids = itertools.count(1)
        self._live: dict[int, Allowance] = {}

    def __len__(self) -> int:
        return len(self._live)

    async def grant(self, user_id: str, need: int) -> tuple[int, int, bool]:
        """(allowance id, amount, single use) or raises the billing refusal (ApiError)."""
        if need < 0:
            raise ValueError("need must be >= 0")
        billing = self.billing
        quota = await billing.quotas.get(user_id)
        if quota is not None and quota.max_requests is not None:
            reservation = await billing.reserve(user_id, need)
            return self._keep(reservation, single_use=True)
        size = max(need, self.size_for(user_id))
        try:
            reservation = await billing.reserve(user_id, size, count_request=False)
        except ApiError:
            if size == need:
                raise
            # Not enough room for a whole allowance: just this request's worst case.
            reservation = await billing.reserve(user_id, need, count_request=False)
        return self._keep(reservation, single_use=False)

    def size_for(self, user_id: str) -> int:
        """The allowance to ask for (before the request's own need)."""
        limits = [v for v in self.billing.guard.limits(user_id).values() if v is not None]
        if not limits:
            return self.size_micros
        return min(self.size_micros, int(min(limits) * SHARE_OF_LIMIT))

    def _keep(self, reservation: Reservation, *, single_use: bool) -> tuple[int, int, bool]:
        allowance_id = next(self._ids)
        self._live[allowance_id] = Allowance(reservation, reservation.amount)
        return allowance_id, reservation.amount, single_use

    def charge(self, allowance_id: int, cost: int, ref: str | None) -> None:
        """A settled request cost `cost`: ledger row and credit gate now, windows at close."""
        allowance = self._live.get(allowance_id)
        if allowance is None or cost <= 0:
            return
        user_id = allowance.reservation.user_id
        released = min(cost, allowance.held_left)
        allowance.held_left -= released
        allowance.spent += cost
        self.billing.gate.settle(user_id, released, cost)
        self.billing.writer.add(user_id, EntryType.USAGE, cost, ref)

    def close(self, allowance_id: int, spent: int) -> None:
        """Rust retired it with every request settled: commit the total, release the rest."""
        allowance = self._live.pop(allowance_id, None)
        if allowance is None:
            return
        if spent != allowance.spent:
            # Rows and the closing travel in one ring, rows first: a mismatch is a bug.
            # The windows get Rust's total, which counts every settled request.
            log.warning(
                "allowance %s closed at %s micro-dollars but %s were charged",
                allowance_id,
                spent,
                allowance.spent,
            )
        reservation = allowance.reservation
        guard = reservation.take_guard()  # (settles the handle: no release at collection)
        self.billing.guard.commit(guard, max(spent, allowance.spent))
        self.billing.gate.settle(reservation.user_id, allowance.held_left, 0)

    def close_all(self) -> None:
        """Shutdown: whatever Rust did not close is released at what was charged."""
        for allowance_id, allowance in list(self._live.items()):
            self.close(allowance_id, allowance.spent)
