"""Payments: Stripe, crypto (EVM stablecoin) and AfterDark, all crediting the ledger once."""

from gpuproxy.billing.payments.facade import PaymentRequest, Payments
from gpuproxy.billing.payments.preferred import PreferredPayment, parse_preferred
from gpuproxy.billing.payments.records import PaymentRecord

__all__ = ["PaymentRecord", "PaymentRequest", "Payments", "PreferredPayment", "parse_preferred"]
