"""A fake EVM JSON-RPC node: `eth_blockNumber`, `eth_getTransactionByHash`,
`eth_getTransactionReceipt` (JSON-RPC 2.0 over HTTP POST, batches too), with the shapes and
hex quantities of go-ethereum. Unknown methods answer -32601, bad params -32602.

Test controls: `transfer_erc20(...)` puts a token transfer into a new block (or leaves it
pending), `mine(n)` adds empty blocks.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.fakes._http import FakeHttpServer, Request, Response, json_response
from tests.fakes._thread import serving_in_thread

__all__ = ["TRANSFER_TOPIC", "FakeChain"]

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
_TRANSFER_SELECTOR = "0xa9059cbb"


def _pad(address: str) -> str:
    return "0x" + address.lower().removeprefix("0x").rjust(64, "0")


class FakeChain:
    def __init__(self, height: int = 19_000_000) -> None:
        self.server = FakeHttpServer()
        self.height = height
        self.txs: dict[str, dict[str, Any]] = {}
        self.receipts: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.server.route("POST", "/")(self._handle)

    @contextmanager
    def in_thread(self) -> Iterator[FakeChain]:
        """Serve from a thread of its own (for apps under Litestar's test client)."""
        with serving_in_thread(self.server):
            yield self

    async def __aenter__(self) -> FakeChain:
        await self.server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.stop()

    @property
    def url(self) -> str:
        return self.server.base_url + "/"

    def mine(self, blocks: int = 1) -> int:
        self.height += blocks
        return self.height

    def transfer_erc20(
        self,
        token: str,
        sender: str,
        to: str,
        value: int,
        *,
        succeeded: bool = True,
        mined: bool = True,
    ) -> str:
        tx_hash = "0x" + secrets.token_hex(32)
        block = self.mine() if mined else None
        data = _TRANSFER_SELECTOR + to.lower().removeprefix("0x").rjust(64, "0") + f"{value:064x}"
        self.txs[tx_hash] = {
            "hash": tx_hash,
            "from": sender.lower(),
            "to": token.lower(),
            "input": data,
            "value": "0x0",
            "nonce": hex(len(self.txs)),
            "gas": hex(65_000),
            "blockNumber": None if block is None else hex(block),
            "blockHash": None if block is None else "0x" + secrets.token_hex(32),
            "transactionIndex": None if block is None else "0x0",
        }
        if block is not None:
            self._receipt(tx_hash, block, token, sender, to, value, succeeded)
        return tx_hash

    def include(self, tx_hash: str) -> None:
        """Mine a pending transaction (as a successful transfer)."""
        tx = self.txs[tx_hash]
        block = self.mine()
        tx["blockNumber"] = hex(block)
        to = "0x" + tx["input"][10:74][-40:]
        self._receipt(tx_hash, block, tx["to"], tx["from"], to, int(tx["input"][74:], 16), True)

    def _receipt(
        self, tx_hash: str, block: int, token: str, sender: str, to: str, value: int, ok: bool
    ) -> None:
        logs = []
        if ok:
            logs.append(
                {
                    "address": token.lower(),
                    "topics": [TRANSFER_TOPIC, _pad(sender), _pad(to)],
                    "data": f"0x{value:064x}",
                    "blockNumber": hex(block),
                    "transactionHash": tx_hash,
                    "logIndex": "0x0",
                    "removed": False,
                }
            )
        self.receipts[tx_hash] = {
            "transactionHash": tx_hash,
            "blockNumber": hex(block),
            "from": sender.lower(),
            "to": token.lower(),
            "status": "0x1" if ok else "0x0",
            "gasUsed": hex(52_000),
            "logs": logs,
            "contractAddress": None,
        }

    async def _handle(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            return json_response(
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}
            )
        if isinstance(body, list):
            return json_response([self._call(item) for item in body])
        return json_response(self._call(body))

    def _call(self, call: Any) -> dict[str, Any]:
        if not isinstance(call, dict) or call.get("jsonrpc") != "2.0" or "method" not in call:
            return {
                "jsonrpc": "2.0",
                "id": None,
                "error": {"code": -32600, "message": "invalid request"},
            }
        ident, method, params = call.get("id"), call["method"], call.get("params") or []
        self.calls.append(method)

        def error(code: int, message: str) -> dict[str, Any]:
            return {"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": message}}

        if method == "eth_blockNumber":
            return {"jsonrpc": "2.0", "id": ident, "result": hex(self.height)}
        if method in ("eth_getTransactionByHash", "eth_getTransactionReceipt"):
            if len(params) != 1 or not isinstance(params[0], str) or len(params[0]) != 66:
                return error(
                    -32602,
                    "invalid argument 0: hex string has length "
                    f"{len(str(params[0])) - 2 if params else 0}, want 64 for common.Hash",
                )
            table = self.txs if method == "eth_getTransactionByHash" else self.receipts
            return {"jsonrpc": "2.0", "id": ident, "result": table.get(params[0].lower())}
        return error(-32601, f"the method {method} does not exist/is not available")
