"""JSON-RPC 2.0 framing for MCP: message checks, error codes, response shapes."""

from __future__ import annotations

from typing import Any

__all__ = [
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "RESOURCE_NOT_FOUND",
    "RpcError",
    "check_message",
    "error_response",
    "is_request",
    "result_response",
]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
#: MCP's code for resources/read of an unknown URI.
RESOURCE_NOT_FOUND = -32002


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def error_response(request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def result_response(request_id: Any, result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def is_request(message: dict[str, Any]) -> bool:
    """A request (it gets an answer) rather than a notification or a client's response."""
    return "method" in message and "id" in message


def check_message(message: Any) -> dict[str, Any]:
    """A JSON-RPC 2.0 message object, or RpcError(-32600) naming what is wrong."""
    if not isinstance(message, dict):
        raise RpcError(INVALID_REQUEST, "a JSON-RPC message must be a JSON object")
    if message.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, 'jsonrpc: must be "2.0"')
    if "method" in message:
        if not isinstance(message["method"], str):
            raise RpcError(INVALID_REQUEST, "method: must be a string")
        request_id = message.get("id")
        bad_id = isinstance(request_id, bool) or not isinstance(request_id, str | int)
        if "id" in message and bad_id:
            raise RpcError(INVALID_REQUEST, "id: must be a string or an integer")
        params = message.get("params")
        if params is not None and not isinstance(params, dict):
            raise RpcError(INVALID_PARAMS, "params: must be a JSON object")
    elif "result" not in message and "error" not in message:
        raise RpcError(INVALID_REQUEST, "a message needs a method, a result or an error")
    return message
