"""FIPA ACL and KQML messages: reading a request, running its content as an action, and
the reply in the same dialect and the same syntax (s-expression or the seed's JSON).

The content names a tool and its arguments, as an s-expression `(list_gpu_instances
:provider local)`, a string holding one, or JSON `{"tool": ..., "arguments": {...}}`.
Replies carry `:in-reply-to` (the request's `:reply-with`), the `:conversation-id`, and
the result as JSON in `:content` (`:language json`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from gpuproxy.agents.action import Action, AgentContext
from gpuproxy.agents.actions import find_action, run_action
from gpuproxy.agents.errors import ActionInvalid
from gpuproxy.agents.sexpr import SExpr, SexprError, Symbol, dumps, parse
from gpuproxy.api.errors import error_parts

__all__ = [
    "DIALECTS",
    "AclMessage",
    "Dialect",
    "NotUnderstood",
    "answer",
    "from_json",
    "from_sexpr",
    "not_understood",
]

_NAME = "aiserve-gpuproxy"


@dataclass(frozen=True)
class Dialect:
    name: str
    #: performatives that ask for an action's result
    asks: frozenset[str]
    #: every performative of the standard (others are not understood)
    known: frozenset[str]
    success: str
    refused: str  # the caller may not (403)
    failed: str  # the action failed
    not_understood: str  # the message could not be read


FIPA = Dialect(
    "fipa",
    asks=frozenset({"request", "query-ref", "query-if"}),
    known=frozenset(
        [
            "accept-proposal",
            "agree",
            "cancel",
            "cfp",
            "confirm",
            "disconfirm",
            "failure",
            "inform",
            "inform-if",
            "inform-ref",
            "not-understood",
            "propagate",
            "propose",
            "proxy",
            "query-if",
            "query-ref",
            "refuse",
            "reject-proposal",
            "request",
            "request-when",
            "request-whenever",
            "subscribe",
        ]
    ),
    success="inform",
    refused="refuse",
    failed="failure",
    not_understood="not-understood",
)
KQML = Dialect(
    "kqml",
    asks=frozenset({"ask-one", "ask-all", "achieve", "evaluate"}),
    known=frozenset(
        [
            "ask-if",
            "ask-all",
            "ask-one",
            "stream-all",
            "tell",
            "untell",
            "deny",
            "insert",
            "uninsert",
            "achieve",
            "unachieve",
            "advertise",
            "subscribe",
            "error",
            "sorry",
            "ready",
            "next",
            "rest",
            "discard",
            "register",
            "unregister",
            "forward",
            "broadcast",
            "evaluate",
            "reply",
            "recommend-one",
            "recruit-one",
        ]
    ),
    success="tell",
    refused="sorry",
    failed="sorry",
    not_understood="error",
)
DIALECTS = {"fipa": FIPA, "kqml": KQML}


class AclMessage(msgspec.Struct, kw_only=True):
    performative: str
    params: dict[str, Any]  # keyword (without ':') -> str or nested SExpr / JSON value
    syntax: str  # "sexpr" | "json"


class NotUnderstood(ValueError):
    """The message could not be read; `detail` says where."""


def from_sexpr(text: str) -> AclMessage:
    try:
        value = parse(text)
    except SexprError as exc:
        raise NotUnderstood(str(exc)) from None
    if not isinstance(value, list) or not value or not isinstance(value[0], Symbol):
        raise NotUnderstood("at position 0: a message is (performative :keyword value ...)")
    params: dict[str, Any] = {}
    rest = value[1:]
    for i in range(0, len(rest), 2):
        key = rest[i]
        if not (isinstance(key, Symbol) and key.startswith(":")) or i + 1 >= len(rest):
            raise NotUnderstood(f"element {i + 2}: expected :keyword value pairs")
        params[key[1:].lower()] = rest[i + 1]
    return AclMessage(performative=value[0].lower(), params=params, syntax="sexpr")


def from_json(body: dict[str, Any]) -> AclMessage:
    performative = body.get("performative")
    if not isinstance(performative, str):
        raise NotUnderstood("performative: required, a string")
    params = {k.replace("_", "-"): v for k, v in body.items() if k != "performative"}
    return AclMessage(performative=performative.lower(), params=params, syntax="json")


def _scalar(raw: SExpr, rule: dict[str, Any]) -> Any:
    """A symbol or string as the JSON type the argument's schema wants."""
    if isinstance(raw, list):
        return [_scalar(v, {}) for v in raw]
    kinds = rule.get("type", "string")
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if "string" in kinds or not isinstance(raw, Symbol):
        return str(raw)
    if raw in ("true", "false") and "boolean" in kinds:
        return raw == "true"
    for kind, convert in (("integer", int), ("number", float)):
        if kind in kinds:
            try:
                return convert(raw)
            except ValueError:
                pass
    return str(raw)


def _content(raw: Any) -> tuple[Action, Any]:
    """(action, arguments) named by a message's content."""
    if isinstance(raw, str) and not isinstance(raw, Symbol):
        text = raw.strip()
        if text.startswith("{"):
            try:
                raw = msgspec.json.decode(text)
            except msgspec.DecodeError:
                raise ActionInvalid("content", "is not valid JSON") from None
        else:
            try:
                raw = parse(text)
            except SexprError as exc:
                raise ActionInvalid("content", str(exc)) from None
    if isinstance(raw, dict):
        tool = raw.get("tool", raw.get("skill"))
        if not isinstance(tool, str):
            raise ActionInvalid("content", 'names no tool: {"tool": ..., "arguments": {...}}')
        return find_action(tool), raw.get("arguments", raw.get("tool_input"))
    if isinstance(raw, Symbol):
        return find_action(raw), {}
    if isinstance(raw, list) and raw and isinstance(raw[0], Symbol):
        action = find_action(raw[0])
        properties = action.input_schema.get("properties", {})
        arguments: dict[str, Any] = {}
        pairs = raw[1:]
        for i in range(0, len(pairs) - 1, 2):
            key = pairs[i]
            if isinstance(key, Symbol) and key.startswith(":"):
                name = key[1:].replace("-", "_")
                arguments[name] = _scalar(pairs[i + 1], properties.get(name, {}))
        if len(pairs) % 2:
            raise ActionInvalid("content", "expected (tool :argument value ...)")
        return action, arguments
    raise ActionInvalid("content", "expected (tool :argument value ...) or JSON")


def _reply(dialect: Dialect, message: AclMessage, performative: str, content: Any) -> Any:
    fields: dict[str, Any] = {"sender": Symbol(_NAME)}
    if "sender" in message.params:
        fields["receiver"] = message.params["sender"]
    if "reply-with" in message.params:
        fields["in-reply-to"] = message.params["reply-with"]
    if "conversation-id" in message.params:
        fields["conversation-id"] = message.params["conversation-id"]
    if message.syntax == "json":
        body = {k.replace("-", "_"): v for k, v in fields.items()}
        return {"performative": performative, **body, "content": content}
    items: list[SExpr] = [Symbol(performative)]
    for key, value in fields.items():  # as the request wrote them (symbols stay symbols)
        items += [Symbol(":" + key), value if isinstance(value, list | str) else str(value)]
    text = content if isinstance(content, str) else msgspec.json.encode(content).decode()
    items += [Symbol(":language"), Symbol("json"), Symbol(":content"), text]
    return dumps(items)


def not_understood(dialect: Dialect, syntax: str, detail: str) -> Any:
    """The reply to a message that could not be read (it has no sender to answer)."""
    empty = AclMessage(performative="", params={}, syntax=syntax)
    return _reply(dialect, empty, dialect.not_understood, {"error": detail})


async def answer(ctx: AgentContext, dialect: Dialect, message: AclMessage) -> tuple[int, Any]:
    """(HTTP status, reply) to one message: 200 with inform/tell, refuse/sorry or
    failure/sorry (the outcome is in the reply); 400 with not-understood/error."""
    if message.performative not in dialect.known:
        detail = f"performative {message.performative!r} is not {dialect.name.upper()}"
        return 400, _reply(dialect, message, dialect.not_understood, {"error": detail})
    if message.performative not in dialect.asks:
        asks = ", ".join(sorted(dialect.asks))
        detail = f"{message.performative} is not handled here; ask with {asks}"
        return 400, _reply(dialect, message, dialect.not_understood, {"error": detail})
    try:
        action, arguments = _content(message.params.get("content"))
        result = await run_action(ctx, action, arguments)
    except Exception as exc:  # the REST status, message and field (a 500 says nothing more)
        status, body, _headers = error_parts(exc)
        refused = dialect.refused if status in (401, 403) else dialect.failed
        detail = body["error"]
        error = {"error": detail["message"], "code": detail.get("code"), "status": status}
        if detail.get("param"):
            error["param"] = detail["param"]
        return 200, _reply(dialect, message, refused, error)
    if message.performative == "query-if":
        result = {"answer": bool(result), "result": result}
    return 200, _reply(dialect, message, dialect.success, result)
