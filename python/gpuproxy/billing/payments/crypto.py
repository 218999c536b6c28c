"""Crypto payments: an ERC-20 stablecoin transfer, verified on an EVM JSON-RPC endpoint.

1. `create`: a payment request naming the receiving address (CRYPTO_RECEIVING_ADDRESS), the
   token (CRYPTO_TOKEN_ADDRESS, CRYPTO_TOKEN_DECIMALS; USDC/USDT have 6, so one token unit
   is one micro-dollar) and an exact amount. The amount carries a random tag of under one
   cent, unique among open requests, so a transfer matches one request only.
2. `submit(tx_hash)`: `eth_getTransactionReceipt` must show a successful transaction with a
   `Transfer(from=wallet, to=receiving address, value=amount)` log emitted by the token
   contract, `wallet` being the one named in `X-Preferred-Payment`; `eth_blockNumber` gives
   the confirmations (CRYPTO_CONFIRMATIONS). Then the account is credited once: the ledger
   key is `crypto:{network}:{tx_hash}` and a transaction hash can belong to one payment only.
   The log is the proof, not the transaction's own `from`/`to`: a contract wallet (Safe,
   ERC-4337 account) is called by an owner or a bundler and calls the token itself, and a
   batch (multisend, disperse) emits several transfers, any one of which may be ours.
   `eth_getTransactionByHash` only tells "not mined yet" from "unknown".
Native-coin transfers are not accepted: their dollar value would need a price oracle.
The JSON-RPC client (`jsonrpc.py`) backs off on rate limits.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

from gpuproxy.billing.errors import (
    BillingConflict,
    BillingNotFound,
    InvalidBillingInput,
    ProviderNotConfigured,
)
from gpuproxy.billing.payments.crediting import Crediter, is_unique_violation
from gpuproxy.billing.payments.jsonrpc import JsonRpcClient, quantity
from gpuproxy.billing.payments.preferred import PreferredPayment
from gpuproxy.billing.payments.records import PaymentRecord, PaymentStore
from gpuproxy.config import Settings
from gpuproxy.storage.database import Database

__all__ = ["TRANSFER_TOPIC", "CryptoPayments"]

log = logging.getLogger(__name__)

#: keccak256("Transfer(address,address,uint256)")
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
_TX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_TAG_MAX = 9_999


def _topic_address(topic: str) -> str:
    return "0x" + topic[-40:].lower()


class CryptoPayments:
    def __init__(
        self, settings: Settings, db: Database, store: PaymentStore, credit: Crediter
    ) -> None:
        self._settings = settings
        self._db = db
        self._store = store
        self._credit = credit
        self._rpc = JsonRpcClient(settings.crypto_rpc_url)

    async def close(self) -> None:
        await self._rpc.aclose()

    def _require_configured(self) -> None:
        s = self._settings
        missing = [
            name
            for name, value in (
                ("CRYPTO_RPC_URL", s.crypto_rpc_url),
                ("CRYPTO_RECEIVING_ADDRESS", s.crypto_receiving_address),
                ("CRYPTO_TOKEN_ADDRESS", s.crypto_token_address),
            )
            if not value
        ]
        if not s.crypto_enabled or missing:
            raise ProviderNotConfigured(
                "crypto payments are not enabled on this server"
                + (f" (missing {', '.join(missing)})" if s.crypto_enabled else "")
            )
        for name, value in (
            ("CRYPTO_RECEIVING_ADDRESS", s.crypto_receiving_address),
            ("CRYPTO_TOKEN_ADDRESS", s.crypto_token_address),
        ):
            if not _ADDRESS.match(value):
                raise ProviderNotConfigured(f"{name} is not an 0x address")

    def units(self, micros: int) -> int:
        """Token base units for an amount in micro-dollars (1 token = 1 USD)."""
        decimals = self._settings.crypto_token_decimals
        if decimals >= 6:
            return int(micros * 10 ** (decimals - 6))
        step = 10 ** (6 - decimals)
        if micros % step:
            raise InvalidBillingInput(f"amount: this token has {decimals} decimals", param="amount")
        return int(micros // step)

    async def create(
        self,
        user_id: str,
        preferred: PreferredPayment,
        amount_micros: int,
        currency: str,
        idempotency_key: str,
    ) -> PaymentRecord:
        self._require_configured()
        network = self._settings.crypto_network
        if preferred.network != network:
            raise InvalidBillingInput(
                f"X-Preferred-Payment: network {preferred.network!r} is not accepted; "
                f"this server takes payments on {network}",
                param="X-Preferred-Payment",
            )
        existing = await self._store.by_key(idempotency_key)
        if existing is not None:
            if (
                existing.user_id != user_id
                or existing.provider != "crypto"
                or existing.details.get("requested_micros") != amount_micros
            ):
                raise BillingConflict(
                    "Idempotency-Key was already used for a different payment",
                    param="Idempotency-Key",
                    code="idempotency_key_reused",
                )
            return existing
        step = 10 ** max(6 - self._settings.crypto_token_decimals, 0)
        for _ in range(20):
            tagged = amount_micros + (secrets.randbelow(_TAG_MAX) + 1) * step
            taken = await self._db.fetchval(
                "SELECT COUNT(*) FROM payments WHERE provider = 'crypto' "
                "AND status = 'pending' AND amount_micros = $1",
                tagged,
            )
            if not taken:
                break
        else:
            raise BillingConflict("too many open crypto payments of this amount; retry later")
        units = self.units(tagged)
        record, _ = await self._store.create(
            user_id=user_id,
            provider="crypto",
            method="crypto_transfer",
            amount_micros=tagged,
            currency=currency,
            idempotency_key=idempotency_key,
            details={
                "requested_micros": amount_micros,
                "network": network,
                "pay_to": self._settings.crypto_receiving_address.lower(),
                "token": self._settings.crypto_token_address.lower(),
                "token_decimals": self._settings.crypto_token_decimals,
                "amount_units": str(units),
                "from_wallet": preferred.wallet,
                "confirmations_required": self._settings.crypto_confirmations,
            },
        )
        return record

    async def submit(
        self, user_id: str, payment_id: str, tx_hash: str
    ) -> tuple[PaymentRecord, dict[str, Any]]:
        """Verify a transfer for the payment; credits once it has enough confirmations.

        Returns the payment and a verification report (`status`: pending or credited).
        """
        self._require_configured()
        if not _TX_HASH.match(tx_hash or ""):
            raise InvalidBillingInput("tx_hash: expected 0x and 64 hex digits", param="tx_hash")
        tx_hash = tx_hash.lower()
        payment = await self._store.get(payment_id)
        if payment is None or payment.user_id != user_id or payment.provider != "crypto":
            raise BillingNotFound("no such crypto payment", param="payment_id")
        if payment.status == "succeeded":
            if payment.external_id == tx_hash:
                return payment, {"status": "credited"}
            raise BillingConflict(
                "this payment was already credited with another transaction", param="tx_hash"
            )
        used = await self._store.by_external("crypto", tx_hash)
        if used is not None and used.id != payment.id:
            raise BillingConflict("this transaction was already used", param="tx_hash")

        receipt = await self._rpc.call("eth_getTransactionReceipt", [tx_hash])
        if not isinstance(receipt, dict):
            tx = await self._rpc.call("eth_getTransactionByHash", [tx_hash])
            reason = "transaction not mined yet" if tx else "transaction not found (yet)"
            return payment, {"status": "pending", "reason": reason}
        _check_transfer(payment, receipt)
        head = quantity(await self._rpc.call("eth_blockNumber", []), "block number")
        confirmations = head - quantity(receipt.get("blockNumber"), "receipt block") + 1
        required = self._settings.crypto_confirmations
        if confirmations < required:
            return payment, {
                "status": "pending",
                "reason": "waiting for confirmations",
                "confirmations": confirmations,
                "confirmations_required": required,
            }
        try:
            await self._credit(
                payment,
                payment.amount_micros,
                key=f"crypto:{self._settings.crypto_network}:{tx_hash}",
                external_id=tx_hash,
                ledger_external_id=tx_hash,
                description=f"crypto top-up on {self._settings.crypto_network}",
                metadata={"tx_hash": tx_hash, "confirmations": confirmations},
            )
        except Exception as exc:
            if is_unique_violation(exc):
                raise BillingConflict(
                    "this transaction was already used", param="tx_hash"
                ) from None
            raise
        updated = await self._store.get(payment.id)
        assert updated is not None
        return updated, {"status": "credited", "confirmations": confirmations}


@dataclass(frozen=True, slots=True)
class _Transfer:
    token: str
    sender: str
    to: str
    value: int


def _transfers(receipt: dict[str, Any]) -> list[_Transfer]:
    """The ERC-20 `Transfer` logs of a receipt (ERC-721 transfers have 4 topics; logs
    removed by a reorganisation do not count)."""
    found = []
    for entry in receipt.get("logs") or []:
        if not isinstance(entry, dict) or entry.get("removed") is True:
            continue
        topics = [str(t).lower() for t in entry.get("topics") or []]
        data = str(entry.get("data") or "")
        if len(topics) != 3 or topics[0] != TRANSFER_TOPIC or not data.startswith("0x"):
            continue
        try:
            value = int(data, 16)
        except ValueError:
            continue
        sender, to = _topic_address(topics[1]), _topic_address(topics[2])
        found.append(_Transfer(str(entry.get("address") or "").lower(), sender, to, value))
    return found


def _check_transfer(payment: PaymentRecord, receipt: dict[str, Any]) -> None:
    """Refuse unless one Transfer log of the token pays exactly this payment."""
    details = payment.details
    token, pay_to = str(details["token"]), str(details["pay_to"])
    wallet, units = str(details["from_wallet"]), int(details["amount_units"])

    def refuse(reason: str) -> InvalidBillingInput:
        return InvalidBillingInput(f"tx_hash: {reason}", param="tx_hash")

    if receipt.get("status") != "0x1":
        raise refuse("the transaction failed on chain")
    of_token = [t for t in _transfers(receipt) if t.token == token]
    if not of_token:
        raise refuse("the transaction does not call the accepted token contract")
    from_wallet = [t for t in of_token if t.sender == wallet]
    if not from_wallet:
        raise refuse("the token was not sent from the wallet of this payment")
    to_us = [t for t in from_wallet if t.to == pay_to]
    if not to_us:
        raise refuse("no token transfer to the receiving address in this transaction")
    if any(t.value == units for t in to_us):
        return
    values = ", ".join(str(t.value) for t in to_us)
    raise refuse(f"the transfer is {values} units, this payment needs {units}")
