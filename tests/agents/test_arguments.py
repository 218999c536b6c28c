"""The pieces of the agent layer that need no server: argument checks against an input
schema, version negotiation, the loopback address of the data plane, tool results."""

from __future__ import annotations

from typing import Any

import pytest

from gpuproxy.agents.action import object_schema
from gpuproxy.agents.actions import ACTIONS, BY_TOOL, find_action
from gpuproxy.agents.arguments import check_arguments
from gpuproxy.agents.errors import ActionInvalid, UnknownAction
from gpuproxy.agents.inference import DataPlaneClient, loopback_host
from gpuproxy.agents.mcp.tools import error_result, tool_descriptor
from gpuproxy.agents.mcp.versions import LATEST, negotiate
from gpuproxy.agents.sexpr import MAX_DEPTH, SexprError, Symbol, dumps, parse

SCHEMA = object_schema(
    {
        "count": {"type": "integer", "minimum": 1, "maximum": 16},
        "amount": {"type": ["string", "number"]},
        "mode": {"type": "string", "enum": ["a", "b"]},
        "items": {"type": "array", "minItems": 1},
        "name": {"type": "string", "maxLength": 5},
    },
    ("count",),
)


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({}, "count"),
        ({"count": None}, "count"),
        ({"count": True}, "count"),  # a JSON boolean is not an integer
        ({"count": 1.5}, "count"),
        ({"count": 0}, "count"),
        ({"count": 17}, "count"),
        ({"count": 1, "amount": [1]}, "amount"),
        ({"count": 1, "mode": "c"}, "mode"),
        ({"count": 1, "items": []}, "items"),
        ({"count": 1, "name": "toolong"}, "name"),
        ({"count": 1, "other": 1}, "other"),
        ([1], "arguments"),
        ("x", "arguments"),
    ],
)
def test_bad_arguments_name_the_field(arguments: Any, field: str) -> None:
    with pytest.raises(ActionInvalid) as caught:
        check_arguments(SCHEMA, arguments)
    assert caught.value.param == field
    assert caught.value.http_status == 400


def test_good_arguments_pass_unchanged() -> None:
    good = {"count": 2, "amount": "1.50", "mode": "a", "items": [1], "name": "ok"}
    assert check_arguments(SCHEMA, good) == good
    assert check_arguments(SCHEMA, {"count": 16, "amount": 2}) == {"count": 16, "amount": 2}
    assert check_arguments(object_schema({}), None) == {}


def test_every_action_has_a_unique_tool_and_object_schemas() -> None:
    assert len(BY_TOOL) == len(ACTIONS)
    for action in ACTIONS:
        assert action.input_schema["type"] == "object"
        assert action.output_schema["type"] == "object"
        assert action.scope in {"gpu", "billing", "inference"}
        for name in action.input_schema.get("required", ()):
            assert name in action.input_schema["properties"]
    assert find_action("list_offers") is find_action("list_gpu_instances")
    with pytest.raises(UnknownAction):
        find_action("rm_rf")


def test_version_negotiation() -> None:
    assert negotiate("2025-06-18") == "2025-06-18"
    assert negotiate("2025-03-26") == "2025-03-26"
    assert negotiate("2024-11-05") == LATEST  # before Streamable HTTP: not offered
    assert negotiate("garbage") == LATEST == "2025-11-25"


def test_tool_shapes_follow_the_revision() -> None:
    action = BY_TOOL["destroy_gpu_instance"]
    new = tool_descriptor(action, "2025-11-25")
    old = tool_descriptor(action, "2025-03-26")
    assert new["annotations"]["destructiveHint"] is True
    assert "outputSchema" in new
    assert "outputSchema" not in old
    assert "title" not in old


def test_an_unexpected_error_result_reveals_nothing() -> None:
    result = error_result(RuntimeError("password=hunter2 at /secret/path"))
    assert result["isError"] is True
    assert "hunter2" not in str(result)
    assert result["content"][0]["text"] == "error 500: internal server error"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("0.0.0.0", "127.0.0.1"),
        ("::", "[::1]"),
        ("[::]", "[::1]"),
        ("127.0.0.1", "127.0.0.1"),
        ("10.1.2.3", "10.1.2.3"),
        ("::1", "[::1]"),
        ("", "127.0.0.1"),
        ("gateway.local", "gateway.local"),
    ],
)
def test_loopback_host(host: str, expected: str) -> None:
    assert loopback_host(host) == expected


async def test_client_from_listen_uses_the_bound_port() -> None:
    client = DataPlaneClient.from_listen("0.0.0.0:8080", 9999)
    v6 = DataPlaneClient.from_listen("[::]:8080")
    try:
        assert client.base_url == "http://127.0.0.1:9999"
        assert v6.base_url == "http://[::1]:8080"
    finally:
        await client.aclose()
        await v6.aclose()


def test_sexpr_round_trip_and_faults() -> None:
    value = parse('(tell :content "say \\"hi\\" \\\\ now" :x (a (b)))')
    assert value == [Symbol("tell"), Symbol(":content"), 'say "hi" \\ now', Symbol(":x"),
                     [Symbol("a"), [Symbol("b")]]]  # fmt: skip
    assert parse(dumps(value)) == value
    assert dumps([Symbol("a b"), "x"]) == '("a b" "x")'  # a symbol that needs quotes is quoted
    for text, position in [("(a", 0), ("(a))", 3), ('"x', 0), ("", 0), (")", 0)]:
        with pytest.raises(SexprError) as caught:
            parse(text)
        assert caught.value.position == position, text
    with pytest.raises(SexprError, match="nested deeper"):
        parse("(" * (MAX_DEPTH + 1) + ")" * (MAX_DEPTH + 1))
