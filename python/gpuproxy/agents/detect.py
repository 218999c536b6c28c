"""Which agent protocol a message to `/api/v1/agent` speaks.

An `X-Agent-Protocol` header decides; otherwise the body does, in the seed's order: a
JSON-RPC method of MCP, one of A2A, the seed's A2A form `{action, ...}`, the seed's ACP
form `{header, payload}`, FIPA ACL or KQML in the seed's JSON form (by its performative),
LangChain's `{input: {tool, ...}}`. A body that fits none (or an unknown header value) is
a 400 that lists what was tried. CUIC is not served yet; s-expressions go to /api/v1/fipa
and /api/v1/kqml, ACP runs to /api/v1/acp/runs.
"""

from __future__ import annotations

from typing import Any

from gpuproxy.agents.a2a.server import METHODS as A2A_METHODS
from gpuproxy.agents.acl import DIALECTS
from gpuproxy.agents.errors import ActionInvalid

__all__ = ["PROTOCOLS", "detect_protocol"]

PROTOCOLS = ("mcp", "a2a", "acp", "langchain", "fipa", "kqml")
_MCP_METHODS = ("initialize", "ping")
_MCP_PREFIXES = ("tools/", "resources/", "prompts/", "notifications/", "logging/", "completion/")
_TRIED = (
    "tried: MCP (a JSON-RPC method such as initialize or tools/call), A2A (a JSON-RPC "
    "method such as SendMessage, or {action, from_agent, parameters}), ACP "
    "({header, payload: {command, parameters}}), LangChain ({input: {tool, tool_input}}), "
    "FIPA ACL and KQML in JSON ({performative, content}); CUIC is not served; "
    "or set X-Agent-Protocol: " + ", ".join(PROTOCOLS)
)


def _jsonrpc_protocol(method: Any) -> str | None:
    if not isinstance(method, str):
        return None
    if method in A2A_METHODS:
        return "a2a"
    if method in _MCP_METHODS or method.startswith(_MCP_PREFIXES):
        return "mcp"
    return None


def detect_protocol(header: str | None, body: dict[str, Any]) -> str:
    if header is not None:
        chosen = header.strip().lower()
        if chosen not in PROTOCOLS:
            raise ActionInvalid("X-Agent-Protocol", f"must be one of {', '.join(PROTOCOLS)}")
        return chosen
    if "jsonrpc" in body:
        found = _jsonrpc_protocol(body.get("method"))
        if found is None:
            raise ActionInvalid("method", f"not a method of a protocol served here; {_TRIED}")
        return found
    if isinstance(body.get("action"), str):
        return "a2a"
    if isinstance(body.get("header"), dict) and isinstance(body.get("payload"), dict):
        return "acp"
    performative = body.get("performative")
    if isinstance(performative, str):
        for name in ("fipa", "kqml"):
            if performative.lower() in DIALECTS[name].known:
                return name
    message = body.get("input")
    if isinstance(message, dict) and "tool" in message:
        return "langchain"
    raise ActionInvalid("body", f"could not tell the agent protocol; {_TRIED}")
