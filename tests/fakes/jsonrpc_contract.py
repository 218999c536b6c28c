"""The Ethereum JSON-RPC API as the product uses it: each method, its params and answers,
and the errors and rate limits of real endpoints, with where each fact comes from.

A call is checked as an `Endpoint` whose verb is "RPC" and whose path is the method name
(`call_request` turns one JSON-RPC call into such a request), so `JSONRPC.unknown(...)`
lists the methods the product called that the contract does not know.

Sources:
- SPEC: JSON-RPC 2.0, https://www.jsonrpc.org/specification (envelope; -32700 parse error,
  -32600 invalid request, -32601 method not found, -32602 invalid params; `error` is an
  object with an integer `code` and a string `message`).
- EXEC: ethereum/execution-apis (https://ethereum.github.io/execution-apis/api-documentation/)
  and https://ethereum.org/developers/docs/apis/json-rpc: eth_blockNumber (no params, hex
  quantity), eth_getTransactionByHash / eth_getTransactionReceipt (one 32-byte hash; the
  object or null while unknown / not mined), receipt `status` 0x1 / 0x0, `logs`.
- GETH: go-ethereum's messages for a bad hash ("hex string has length N, want 64 for
  common.Hash", "hex string without 0x prefix").
- EIP-1474: -32005 "limit exceeded".
- INFURA: https://docs.infura.io/api/networks/ethereum/how-to/avoid-rate-limiting
  (HTTP 429 + -32005, `data.backoff_seconds`).
- ALCHEMY: https://docs.alchemy.com/reference/throughput (HTTP 429, error code 429,
  `Retry-After` in whole seconds).
- ASSUMED: an `error` that is a plain string: not allowed by SPEC, seen from some gateways
  and proxies; the product must not break on it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.fakes._contract import Contract, Endpoint, Field
from tests.fakes._http import Request

__all__ = ["JSONRPC", "call_request", "hash_param_problem"]

_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")


def _version(value: Any) -> str | None:
    return None if value == "2.0" else 'jsonrpc must be "2.0"'


def _no_params(value: Any) -> str | None:
    return None if value == [] else "too many arguments, want at most 0"


def hash_param_problem(value: Any) -> str | None:
    """GETH's refusal of a transaction-hash parameter list (None: accepted)."""
    if not isinstance(value, list) or len(value) != 1:
        return "missing value for required argument 0"
    param = value[0]
    if not isinstance(param, str) or not param.startswith("0x"):
        return (
            "invalid argument 0: json: cannot unmarshal hex string without 0x prefix "
            "into Go value of type common.Hash"
        )
    if not _HASH.match(param):
        return (
            f"invalid argument 0: hex string has length {len(param) - 2}, want 64 for common.Hash"
        )
    return None


def _envelope(params: Field) -> tuple[Field, ...]:
    return (
        Field("jsonrpc", str, check=_version, source="SPEC"),
        # SPEC: a request without `id` is a notification and gets no answer.
        Field("id", object, source="SPEC"),
        Field("method", str, source="SPEC"),
        params,
    )


def _method(name: str, params: Field, source: str) -> Endpoint:
    return Endpoint("RPC", re.escape(name), source, body=_envelope(params), closed_body=True)


JSONRPC = Contract(
    "Ethereum JSON-RPC",
    (
        _method(
            "eth_blockNumber",
            Field("params", list, required=False, check=_no_params, source="EXEC"),
            "EXEC eth_blockNumber",
        ),
        _method(
            "eth_getTransactionByHash",
            Field("params", list, check=hash_param_problem, source="EXEC + GETH"),
            "EXEC eth_getTransactionByHash",
        ),
        _method(
            "eth_getTransactionReceipt",
            Field("params", list, check=hash_param_problem, source="EXEC + GETH"),
            "EXEC eth_getTransactionReceipt",
        ),
    ),
)


def call_request(call: dict[str, Any]) -> Request:
    """One JSON-RPC call as a request the contract can check (verb RPC, path = method)."""
    return Request("RPC", str(call.get("method")), "", {}, {}, json.dumps(call).encode())
