"""API contracts for the fakes: each endpoint of a real service written down once, with the
source of every fact beside it, so a fake refuses what the real service refuses.

A `Contract` is a list of `Endpoint`s (verb, path pattern, query and body fields). A fake
asks `contract.endpoint(method, path)` which endpoint a request hits (None: the real
service does not have it) and `endpoint.problems(request)` what is wrong with it, as
(location, message, kind) triples in the style of pydantic / FastAPI validation errors;
each fake renders them in its service's own error shape. Contract tests use
`contract.unknown(requests)` to fail when the product calls an endpoint the contract does
not know.

Types follow pydantic's default (lax) mode, which FastAPI services validate with: an `int`
field takes an integer or a string of digits ("12", as every query parameter is), never a
boolean, a float or other text ("US").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes._http import Request

__all__ = ["Contract", "Endpoint", "Field", "Problem"]

#: (location, message, kind), e.g. (("body", "hardware_id"), "Field required", "missing").
Problem = tuple[tuple[str, ...], str, str]

_KIND_NAMES = {int: "integer", str: "string", list: "list", dict: "dictionary", bool: "boolean"}


@dataclass(frozen=True)
class Field:
    """One field of a query or JSON body. `items` types a list's elements; `fields` (with
    `closed`) describes a nested object; `check` returns a message when a value is refused."""

    name: str
    kind: type = str
    required: bool = True
    items: type | None = None
    fields: tuple[Field, ...] = ()
    closed: bool = False
    check: Callable[[Any], str | None] | None = None
    source: str = ""

    def problems(self, value: Any, loc: tuple[str, ...]) -> list[Problem]:
        problem = _type_problem(value, self.kind, loc)
        if problem is not None:
            return [problem]
        found: list[Problem] = []
        if self.items is not None and isinstance(value, list):
            for index, item in enumerate(value):
                item_problem = _type_problem(item, self.items, (*loc, str(index)))
                if item_problem is not None:
                    found.append(item_problem)
        if self.fields and isinstance(value, dict):
            found += _object_problems(value, self.fields, self.closed, loc)
        if not found and self.check is not None:
            message = self.check(value)
            if message:
                found.append((loc, message, "value_error"))
        return found


@dataclass(frozen=True)
class Endpoint:
    """A verb and a path (a regex as the fakes' router takes it) with its fields."""

    method: str
    path: str
    source: str
    query: tuple[Field, ...] = ()
    body: tuple[Field, ...] | None = None
    closed_body: bool = False
    #: How the body is read (default JSON; e.g. Stripe's form encoding decoded to nested
    #: dicts and lists, whose leaves are strings).
    decode: Callable[[bytes], Any] | None = None
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pattern", re.compile(f"^{self.path}$"))

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and self._pattern.match(path) is not None

    def problems(self, request: Request) -> list[Problem]:
        """What the real service would refuse in `request` (empty: nothing)."""
        found: list[Problem] = []
        for spec in self.query:
            raw = request.arg(spec.name)
            if raw is None:
                if spec.required:
                    found.append((("query", spec.name), "Field required", "missing"))
                continue
            found += spec.problems(raw, ("query", spec.name))
        if self.body is not None:
            try:
                body = self.decode(request.body) if self.decode else request.json()
            except ValueError:
                return [*found, (("body",), "JSON decode error", "json_invalid")]
            if not isinstance(body, dict):
                return [*found, (("body",), "Input should be a valid dictionary", "dict_type")]
            found += _object_problems(body, self.body, self.closed_body, ("body",))
        return found


@dataclass(frozen=True)
class Contract:
    """Every endpoint of one service that the product may call."""

    service: str
    endpoints: tuple[Endpoint, ...]

    def endpoint(self, method: str, path: str) -> Endpoint | None:
        return next((e for e in self.endpoints if e.matches(method, path)), None)

    def unknown(self, requests: Iterable[Request]) -> list[str]:
        """`METHOD path` of each request that hits no endpoint of this contract."""
        return [f"{r.method} {r.path}" for r in requests if self.endpoint(r.method, r.path) is None]


def _object_problems(
    value: dict[str, Any], fields: tuple[Field, ...], closed: bool, loc: tuple[str, ...]
) -> list[Problem]:
    found: list[Problem] = []
    known = {f.name for f in fields}
    if closed:
        for name in sorted(set(value) - known):
            found.append(((*loc, name), "Extra inputs are not permitted", "extra_forbidden"))
    for spec in fields:
        if spec.name not in value or value[spec.name] is None:
            if spec.required:
                found.append(((*loc, spec.name), "Field required", "missing"))
            continue
        found += spec.problems(value[spec.name], (*loc, spec.name))
    return found


def _type_problem(value: Any, kind: type, loc: tuple[str, ...]) -> Problem | None:
    name = _KIND_NAMES.get(kind, kind.__name__)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            return (loc, "Input should be a valid integer", "int_type")
        if isinstance(value, str) and not value.lstrip("-").isdigit():
            return (loc, "Input should be a valid integer, unable to parse string", "int_parsing")
        return None
    if kind is dict and not isinstance(value, dict):
        return (loc, f"Input should be a valid {name}", "dict_type")
    if kind is list and not isinstance(value, list):
        return (loc, f"Input should be a valid {name}", "list_type")
    if kind is str and not isinstance(value, str):
        return (loc, f"Input should be a valid {name}", "string_type")
    if kind is bool and not isinstance(value, bool):
        return (loc, f"Input should be a valid {name}", "bool_type")
    return None
