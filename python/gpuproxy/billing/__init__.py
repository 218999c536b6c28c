"""Billing: the credits ledger, payments, quotas, GPU-time accrual and guard rails.

The rest of the app uses `services.billing` (`BillingService`, see `service.py` for the hot
path API); errors are in `errors.py`. One concept per module: `ledger` (append-only rows),
`credits` (the seed's credit fields), `gate` (in-memory credit check), `writer` (batched
ledger writes), `guardrails` + `windows` + `shared_windows` (the 17 spend windows, local
Rust and shared Redis), `alerts` / `notifications`, `quotas`, `accrual`, `autorenew`,
`reconcile`, `resets`, and `payments/` (Stripe, crypto, AfterDark).
"""

from gpuproxy.billing.errors import BillingError, PaymentRequiredError, QuotaExceededError
from gpuproxy.billing.reservation import Reservation
from gpuproxy.billing.service import BillingService

__all__ = [
    "BillingError",
    "BillingService",
    "PaymentRequiredError",
    "QuotaExceededError",
    "Reservation",
]
