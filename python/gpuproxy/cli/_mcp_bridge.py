"""`aiserve-gpuproxy-client mcp`: a stdio MCP server that relays to a gateway's MCP endpoint.

Desktop MCP clients (Claude Desktop, IDEs) start local servers and speak newline-delimited
JSON-RPC on their stdin/stdout. This bridge posts each message to
`{url}/api/v1/mcp` with the API key, keeps the session id and protocol revision the
server answered `initialize` with, and writes every message the server sends back (one
JSON response, or the events of an SSE answer such as progress) as one line on stdout.
Nothing else goes to stdout; diagnostics go to stderr. At end of input the session is
ended (DELETE).

Messages are relayed one at a time, in order: a client's cancellation sent while a long
call runs is delivered after it.
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any, TextIO

import httpx

from gpuproxy.cli._api import auth_headers

__all__ = ["run_bridge"]

_JSON_RPC_SERVER_ERROR = -32000
_PARSE_ERROR = -32700


def _write(out: TextIO, message: Any) -> None:
    out.write(json.dumps(message, separators=(",", ":")) + "\n")
    out.flush()


def _error(request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


class _Bridge:
    def __init__(self, http: httpx.Client, endpoint: str, out: TextIO) -> None:
        self.http = http
        self.endpoint = endpoint
        self.out = out
        self.session_id: str | None = None
        self.version: str | None = None

    def _headers(self) -> dict[str, str]:
        headers = {
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        }
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        if self.version:
            headers["MCP-Protocol-Version"] = self.version
        return headers

    def _relay(self, request_id: Any, answer: Any, status: int) -> None:
        """Write a server message; an HTTP refusal becomes the request's JSON-RPC error."""
        if isinstance(answer, dict) and answer.get("jsonrpc") == "2.0":
            if "error" in answer and answer.get("id") is None and request_id is not None:
                answer = {**answer, "id": request_id}  # a transport refusal names no request
            if answer.get("id") is not None or "method" in answer:
                _write(self.out, answer)
            return
        if isinstance(answer, list):  # a batch's answers
            for item in answer:
                _write(self.out, item)
            return
        if request_id is None:
            return  # nobody waits for an answer to a notification
        error = answer.get("error") if isinstance(answer, dict) else None
        text = error.get("message") if isinstance(error, dict) else None
        message = f"HTTP {status}: {text or 'the server refused the request'}"
        _write(self.out, _error(request_id, _JSON_RPC_SERVER_ERROR, message, {"status": status}))

    def _remember(self, response: httpx.Response, message: dict[str, Any]) -> None:
        session = response.headers.get("mcp-session-id")
        if session:
            self.session_id = session
        result = message.get("result")
        if isinstance(result, dict) and isinstance(result.get("protocolVersion"), str):
            self.version = result["protocolVersion"]

    def send(self, line: str) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            _write(self.out, _error(None, _PARSE_ERROR, "stdin: a line is not valid JSON"))
            return
        request_id = message.get("id") if isinstance(message, dict) else None
        initialize = isinstance(message, dict) and message.get("method") == "initialize"
        try:
            with self.http.stream(
                "POST", self.endpoint, content=line.encode(), headers=self._headers()
            ) as response:
                if response.status_code == 202:
                    return
                kind = response.headers.get("content-type", "")
                if kind.startswith("text/event-stream"):
                    for event in response.iter_lines():
                        if event.startswith("data:"):
                            self._relay(request_id, json.loads(event[5:]), response.status_code)
                    return
                response.read()
                try:
                    answer = response.json()
                except ValueError:
                    answer = None
                if initialize and response.status_code == 200 and isinstance(answer, dict):
                    self._remember(response, answer)
                self._relay(request_id, answer, response.status_code)
        except httpx.HTTPError as exc:
            print(f"mcp bridge: {self.endpoint}: {exc}", file=sys.stderr)
            if request_id is not None:
                _write(self.out, _error(request_id, _JSON_RPC_SERVER_ERROR, f"unreachable: {exc}"))

    def close(self) -> None:
        if self.session_id:
            # On failure nothing is lost: the server forgets idle sessions anyway.
            with contextlib.suppress(httpx.HTTPError):
                self.http.delete(self.endpoint, headers=self._headers())


def run_bridge(url: str, key: str, stdin: TextIO, stdout: TextIO, timeout_s: float) -> int:
    endpoint = url.rstrip("/") + "/api/v1/mcp"
    headers = {**auth_headers(key), "User-Agent": "aiserve-gpuproxy-client mcp"}
    with httpx.Client(headers=headers, timeout=httpx.Timeout(timeout_s, connect=10)) as http:
        bridge = _Bridge(http, endpoint, stdout)
        try:
            for line in stdin:
                if line.strip():
                    bridge.send(line.strip())
        finally:
            bridge.close()
    return 0
