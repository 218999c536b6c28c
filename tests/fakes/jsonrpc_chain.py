"""A fake EVM JSON-RPC node following `tests.fakes.jsonrpc_contract`: `eth_blockNumber`,
`eth_getTransactionByHash`, `eth_getTransactionReceipt` (JSON-RPC 2.0 over HTTP POST,
batches too), with the shapes and hex quantities of go-ethereum. Every call is checked
against the contract: a bad envelope answers -32600, an unknown method -32601 (and stays
in `rpc_requests` for the contract test), bad params -32602 with geth's message.

Test controls: `transfer_erc20(...)` puts a token transfer into a new block (or leaves it
pending); `transfer_from_contract_wallet(...)` and `batch_transfer(...)` mine what a Safe /
ERC-4337 wallet and a multisend look like on chain; `mine(n)` adds empty blocks;
`rate_limit(...)` answers like Infura or Alchemy when they throttle; `gateway_error(...)`
answers an `error` that is a plain string.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.fakes._http import FakeHttpServer, Request, Response, json_response
from tests.fakes._thread import serving_in_thread
from tests.fakes.jsonrpc_contract import JSONRPC, call_request

__all__ = ["TRANSFER_TOPIC", "FakeChain"]

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
#: keccak256("Approval(address,address,uint256)"): a log a batch may carry before ours.
APPROVAL_TOPIC = "0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925"
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
        #: Every call as the contract sees it (see `jsonrpc_contract.call_request`).
        self.rpc_requests: list[Request] = []
        self._throttle: list[dict[str, Any]] = []
        self._string_errors: list[str] = []
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

    # -- test controls ------------------------------------------------------------------------

    def mine(self, blocks: int = 1) -> int:
        self.height += blocks
        return self.height

    def rate_limit(
        self,
        times: int = 1,
        *,
        style: str = "infura",
        retry_after: int | None = None,
        backoff_seconds: float | None = None,
    ) -> None:
        """Throttle the next `times` HTTP requests: `infura` answers HTTP 429 with error
        -32005 (and `data.backoff_seconds` when given), `alchemy` HTTP 429 with error code
        429 (and `Retry-After` when given)."""
        for _ in range(times):
            self._throttle.append(
                {"style": style, "retry_after": retry_after, "backoff": backoff_seconds}
            )

    def gateway_error(self, message: str, times: int = 1) -> None:
        """Answer the next `times` requests with `"error": message` (a string)."""
        self._string_errors += [message] * times

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
        """`sender` calls `token.transfer(to, value)` itself (an externally owned account)."""
        data = _TRANSFER_SELECTOR + to.lower().removeprefix("0x").rjust(64, "0") + f"{value:064x}"
        logs = [self._transfer_log(token, sender, to, value)] if succeeded else []
        return self._transaction(sender, token, data, logs, succeeded=succeeded, mined=mined)

    def transfer_from_contract_wallet(
        self, token: str, wallet: str, signer: str, to: str, value: int
    ) -> str:
        """A contract wallet pays: `signer` (an owner, or an ERC-4337 bundler) calls the
        `wallet` contract, which calls the token; only the log names the wallet."""
        logs = [self._transfer_log(token, wallet, to, value)]
        return self._transaction(signer, wallet, "0x6a761202" + "00" * 64, logs)

    def batch_transfer(self, token: str, sender: str, payouts: list[tuple[str, int]]) -> str:
        """A multisend from `sender`: an Approval log, then one Transfer per `(to, value)`."""
        disperser = "0x" + "d1" * 20
        logs: list[dict[str, Any]] = [
            {
                "address": token.lower(),
                "topics": [APPROVAL_TOPIC, _pad(sender), _pad(disperser)],
                "data": f"0x{sum(v for _, v in payouts):064x}",
            }
        ]
        logs += [self._transfer_log(token, sender, to, value) for to, value in payouts]
        return self._transaction(sender, disperser, "0xc73a2d60" + "00" * 64, logs)

    def include(self, tx_hash: str) -> None:
        """Mine a pending transaction (as a successful transfer)."""
        tx = self.txs[tx_hash]
        to = "0x" + tx["input"][10:74][-40:]
        log = self._transfer_log(tx["to"], tx["from"], to, int(tx["input"][74:], 16))
        self._mined(tx_hash, self.mine(), [log], succeeded=True)

    # -- chain state ----------------------------------------------------------------------------

    @staticmethod
    def _transfer_log(token: str, sender: str, to: str, value: int) -> dict[str, Any]:
        return {
            "address": token.lower(),
            "topics": [TRANSFER_TOPIC, _pad(sender), _pad(to)],
            "data": f"0x{value:064x}",
        }

    def _transaction(
        self,
        sender: str,
        to: str,
        data: str,
        logs: list[dict[str, Any]],
        *,
        succeeded: bool = True,
        mined: bool = True,
    ) -> str:
        tx_hash = "0x" + secrets.token_hex(32)
        self.txs[tx_hash] = {
            "hash": tx_hash,
            "from": sender.lower(),
            "to": to.lower(),
            "input": data,
            "value": "0x0",
            "nonce": hex(len(self.txs)),
            "gas": hex(65_000),
            "blockNumber": None,
            "blockHash": None,
            "transactionIndex": None,
        }
        if mined:
            self._mined(tx_hash, self.mine(), logs, succeeded=succeeded)
        return tx_hash

    def _mined(
        self, tx_hash: str, block: int, logs: list[dict[str, Any]], *, succeeded: bool
    ) -> None:
        tx = self.txs[tx_hash]
        tx.update(
            blockNumber=hex(block),
            blockHash="0x" + secrets.token_hex(32),
            transactionIndex="0x0",
        )
        self.receipts[tx_hash] = {
            "transactionHash": tx_hash,
            "blockNumber": hex(block),
            "from": tx["from"],
            "to": tx["to"],
            "status": "0x1" if succeeded else "0x0",
            "gasUsed": hex(52_000),
            "logs": [
                {
                    **entry,
                    "blockNumber": hex(block),
                    "transactionHash": tx_hash,
                    "logIndex": hex(index),
                    "removed": False,
                }
                for index, entry in enumerate(logs)
            ],
            "contractAddress": None,
        }

    # -- the node -------------------------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        if self._throttle:
            return self._throttled(self._throttle.pop(0))
        try:
            body = request.json()
        except ValueError:
            return json_response(
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}
            )
        if self._string_errors:
            ident = body.get("id") if isinstance(body, dict) else None
            return json_response(
                {"jsonrpc": "2.0", "id": ident, "error": self._string_errors.pop(0)}
            )
        if isinstance(body, list):
            return json_response([self._call(item) for item in body])
        return json_response(self._call(body))

    @staticmethod
    def _throttled(throttle: dict[str, Any]) -> Response:
        if throttle["style"] == "alchemy":
            error: dict[str, Any] = {
                "code": 429,
                "message": "Your app has exceeded its compute units per second capacity.",
            }
        else:
            error = {"code": -32005, "message": "project ID request rate exceeded"}
            if throttle["backoff"] is not None:
                error["data"] = {
                    "see": "https://infura.io/docs/ethereum/jsonrpc/ratelimits",
                    "current_rps": 13.333,
                    "allowed_rps": 10.0,
                    "backoff_seconds": throttle["backoff"],
                }
        response = json_response({"jsonrpc": "2.0", "id": 1, "error": error}, 429)
        if throttle["retry_after"] is not None:
            response.headers["Retry-After"] = str(throttle["retry_after"])
        return response

    def _call(self, call: Any) -> dict[str, Any]:
        ident = call.get("id") if isinstance(call, dict) else None

        def error(code: int, message: str) -> dict[str, Any]:
            return {"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": message}}

        if not isinstance(call, dict) or not isinstance(call.get("method"), str):
            return error(-32600, "invalid request")
        request = call_request(call)
        self.rpc_requests.append(request)
        method = call["method"]
        self.calls.append(method)
        endpoint = JSONRPC.endpoint("RPC", method)
        if endpoint is None:
            return error(-32601, f"the method {method} does not exist/is not available")
        problems = endpoint.problems(request)
        if problems:
            loc, message, _ = problems[0]
            code = -32602 if loc[-1] == "params" else -32600
            return error(code, message if code == -32602 else "invalid request")
        if method == "eth_blockNumber":
            return {"jsonrpc": "2.0", "id": ident, "result": hex(self.height)}
        table = self.txs if method == "eth_getTransactionByHash" else self.receipts
        return {"jsonrpc": "2.0", "id": ident, "result": table.get(call["params"][0].lower())}
