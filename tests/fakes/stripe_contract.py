"""The Stripe API as the product uses it: every endpoint, parameter and rule the fake
follows, each with where it comes from.

Sources:
- REF: the API reference, https://docs.stripe.com/api (pages named below).
- SDK: stripe/stripe-python 12.5.0+ (`_http_client.py` `_should_retry`, `_api_requestor.py`
  `specific_v1_api_error`, `_encode.py`): how requests are encoded and which answers the SDK
  retries.
- DOCS: https://docs.stripe.com/rate-limits, /idempotency, /error-codes, /webhooks.
- ASSUMED: none of these says; written down so it can be checked.

Request bodies are form-encoded with bracketed keys (`metadata[user_id]`,
`line_items[0][price_data][currency]`; SDK `_encode.py`), so every leaf is a string. Stripe
refuses a parameter it does not know (400 `parameter_unknown`, DOCS error-codes); the
bodies here are closed over what the product sends, so a new parameter fails the contract
test until it is looked up and added.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes._contract import Contract, Endpoint, Field, Problem

__all__ = ["STRIPE", "decode_form", "param_name", "stripe_problem"]

_ID = "(?P<id>[^/]+)"


def decode_form(body: bytes) -> dict[str, Any]:
    """`a[b][0][c]=v` pairs -> nested dicts and lists, as Stripe reads them."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            nxt = None if last else parts[index + 1]
            container: Any = [] if nxt is not None and nxt.isdigit() else {}
            if isinstance(node, list):
                position = int(part)
                while len(node) <= position:
                    node.append(None)
                if last:
                    node[position] = value
                else:
                    if node[position] is None:
                        node[position] = container
                    node = node[position]
            else:
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, container)
    return root


def _boolean(value: Any) -> str | None:
    # REF: booleans are sent as the strings true/false (SDK _encode.py).
    return None if value in ("true", "false") else f"Invalid boolean: {value}"


def _currency(value: Any) -> str | None:
    # REF payment_intents/create: a three-letter ISO code in lowercase.
    return None if re.fullmatch(r"[a-z]{3}", value) else f"Invalid currency: {value}"


def _metadata(value: Any) -> str | None:
    # DOCS https://docs.stripe.com/metadata: up to 50 keys, keys up to 40 characters,
    # values up to 500 characters.
    if len(value) > 50:
        return "Metadata can have up to 50 keys"
    for key, item in value.items():
        if len(key) > 40 or not isinstance(item, str) or len(item) > 500:
            return f"Invalid metadata[{key}]"
    return None


def _limit(value: Any) -> str | None:
    # REF refunds/list: "Limit can range between 1 and 100".
    return None if 1 <= int(value) <= 100 else "This value must be between 1 and 100"


def _url(value: Any) -> str | None:
    return None if value.startswith(("https://", "http://")) else f"Not a valid URL: {value}"


_METADATA = Field("metadata", dict, required=False, check=_metadata, source="DOCS metadata")
_PRICE_DATA = (
    Field("currency", str, check=_currency, source="REF checkout/sessions/create"),
    Field("unit_amount", int, source="REF checkout/sessions/create"),
    Field("product_data", dict, fields=(Field("name", str),), source="REF"),
)
_LINE_ITEM = (
    Field("price_data", dict, fields=_PRICE_DATA, closed=True, source="REF"),
    Field("quantity", int, source="REF checkout/sessions/create"),
)


def _line_items(value: Any) -> str | None:
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            return f"Invalid line_items[{index}]"
        problems = Field("item", dict, fields=_LINE_ITEM, closed=True).problems(item, ())
        if problems:
            return f"Invalid line_items[{index}]: {problems[0][1]}"
    return None if value else "Missing required param: line_items."


def _post(path: str, source: str, *body: Field) -> Endpoint:
    """A form-encoded POST whose body may hold only `body` (Stripe refuses the rest)."""
    return Endpoint("POST", path, source, body=body, closed_body=True, decode=decode_form)


def _optional(name: str, kind: type = str, **rules: Any) -> Field:
    """An optional parameter, as the endpoint's REF page lists it."""
    return Field(name, kind, required=False, source=rules.pop("source", "REF"), **rules)


STRIPE = Contract(
    "Stripe",
    (
        _post("/v1/customers", "REF customers/create", _optional("email"), _METADATA),
        Endpoint("GET", f"/v1/customers/{_ID}", "REF customers/retrieve"),
        _post(
            f"/v1/payment_methods/{_ID}/attach",
            "REF payment_methods/attach",
            Field("customer", str, source="REF payment_methods/attach: required"),
        ),
        Endpoint("GET", f"/v1/payment_methods/{_ID}", "REF payment_methods/retrieve"),
        _post(
            "/v1/payment_intents",
            "REF payment_intents/create",
            Field("amount", int, source="REF: required, in the smallest currency unit"),
            Field("currency", str, check=_currency, source="REF: required"),
            _optional("customer"),
            _optional("payment_method"),
            _optional("payment_method_types", list, items=str),
            _optional("confirm", check=_boolean),
            _optional("off_session", check=_boolean),
            _optional("description"),
            _METADATA,
        ),
        Endpoint("GET", f"/v1/payment_intents/{_ID}", "REF payment_intents/retrieve"),
        _post(
            "/v1/checkout/sessions",
            "REF checkout/sessions/create",
            Field("mode", str, source="REF: payment | setup | subscription"),
            Field("line_items", list, check=_line_items, source="REF"),
            Field("success_url", str, check=_url, source="REF"),
            _optional("cancel_url", check=_url),
            _optional("client_reference_id"),
            _optional("customer"),
            _optional("customer_email"),
            _optional("payment_intent_data", dict, fields=(_METADATA,), closed=True),
            _METADATA,
        ),
        Endpoint("GET", f"/v1/checkout/sessions/{_ID}", "REF checkout/sessions/retrieve"),
        Endpoint(
            "GET",
            "/v1/refunds",
            "REF refunds/list",
            query=(
                _optional("charge"),
                _optional("payment_intent"),
                _optional("limit", int, check=_limit),
                _optional("starting_after", source="REF pagination"),
            ),
        ),
    ),
)


def param_name(loc: tuple[str, ...]) -> str:
    """Stripe's name of a parameter: `line_items[0][price_data]` for a nested location."""
    parts = loc[1:] or loc
    return parts[0] + "".join(f"[{p}]" for p in parts[1:])


def stripe_problem(problem: Problem) -> dict[str, Any]:
    """The `error` object Stripe answers (400) for a refused parameter (DOCS error-codes)."""
    loc, message, kind = problem
    param = param_name(loc)
    if kind == "missing":
        return {
            "type": "invalid_request_error",
            "code": "parameter_missing",
            "param": param,
            "message": f"Missing required param: {param}.",
        }
    if kind == "extra_forbidden":
        return {
            "type": "invalid_request_error",
            "code": "parameter_unknown",
            "param": param,
            "message": f"Received unknown parameter: {param}",
        }
    if kind.startswith("int_"):
        return {
            "type": "invalid_request_error",
            "code": "parameter_invalid_integer",
            "param": param,
            "message": f"Invalid integer: {param}",
        }
    return {"type": "invalid_request_error", "param": param, "message": message}
