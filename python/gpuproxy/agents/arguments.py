"""Checking an action's arguments against its input JSON Schema, naming the bad field.

The schemas are small and flat on purpose (objects of scalars, with an object or array
where the REST body has one), so the checks are the top level's: required fields, no
unknown fields, JSON types, enums and numeric bounds. Nested objects are passed to the
same parsers the REST routes use, which name their own bad fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpuproxy.agents.errors import ActionInvalid

__all__ = ["check_arguments"]

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def _matches(value: Any, kind: str | list[str]) -> bool:
    kinds = [kind] if isinstance(kind, str) else kind
    for name in kinds:
        if name == "null" and value is None:
            return True
        # bool is an int in Python but not a JSON integer or number
        if isinstance(value, bool) and name in ("integer", "number"):
            continue
        if isinstance(value, _TYPES.get(name, ())):
            return True
    return False


def _check_value(field: str, value: Any, rule: Mapping[str, Any]) -> None:
    kind = rule.get("type")
    if kind is not None and not _matches(value, kind):
        raise ActionInvalid(field, f"must be of type {kind}")
    if "enum" in rule and value not in rule["enum"]:
        allowed = ", ".join(str(v) for v in rule["enum"])
        raise ActionInvalid(field, f"must be one of {allowed}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in rule and value < rule["minimum"]:
            raise ActionInvalid(field, f"must be at least {rule['minimum']}")
        if "maximum" in rule and value > rule["maximum"]:
            raise ActionInvalid(field, f"must be at most {rule['maximum']}")
    if isinstance(value, str) and len(value) > rule.get("maxLength", 10_000):
        raise ActionInvalid(field, f"longer than {rule.get('maxLength', 10_000)} characters")
    if isinstance(value, list) and "minItems" in rule and len(value) < rule["minItems"]:
        raise ActionInvalid(field, f"needs at least {rule['minItems']} item(s)")


def check_arguments(schema: Mapping[str, Any], arguments: Any) -> dict[str, Any]:
    """`arguments` as a dict when it fits `schema` (None counts as {}); else ActionInvalid."""
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise ActionInvalid("arguments", "must be a JSON object")
    properties: Mapping[str, Any] = schema.get("properties", {})
    for name in schema.get("required", ()):
        if arguments.get(name) is None:
            raise ActionInvalid(name, "is required")
    for name, value in arguments.items():
        rule = properties.get(name)
        if rule is None:
            if schema.get("additionalProperties", True) is False:
                raise ActionInvalid(name, "is not a known argument")
            continue
        if value is not None:
            _check_value(name, value, rule)
    return dict(arguments)
