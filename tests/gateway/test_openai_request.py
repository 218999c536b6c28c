"""The body sent upstream for a stream: include_usage asked on the client's behalf, spliced
into the client's bytes when it sent no stream_options (no re-encoding), else re-encoded."""

from __future__ import annotations

import json

import pytest

from gpuproxy.gateway.openai_request import ENDPOINTS, parse_request

CHAT = ENDPOINTS["chat"]


S = b'{"model":"m","stream":true'
USAGE = {"include_usage": True}


@pytest.mark.parametrize(
    ("raw", "options", "strip", "spliced"),
    [
        (b" " + S + b',"n":1}', USAGE, True, True),
        (S + b',"stream_options":null}', USAGE, True, False),
        (S + b',"stream_options":{"x":1}}', {"x": 1, **USAGE}, True, False),
        (S + b',"stream_options":{"include_usage":true}}', USAGE, False, False),
    ],
)
def test_stream_asks_for_usage(
    raw: bytes, options: dict[str, object], strip: bool, spliced: bool
) -> None:
    request = parse_request(raw, CHAT)
    sent = json.loads(request.body)
    assert sent["stream_options"] == options
    assert request.body.count(b'"stream_options"') == 1  # never a duplicate member
    assert {k: v for k, v in sent.items() if k != "stream_options"} == {
        k: v for k, v in json.loads(raw).items() if k != "stream_options"
    }
    assert request.strip_usage is strip
    # Spliced: the added member first, then the client's own bytes unchanged.
    added = b' {"stream_options":{"include_usage":true},'.lstrip()
    assert (request.body.lstrip().startswith(added) and request.body.endswith(raw[-8:])) is spliced


def test_plain_body_is_forwarded_untouched() -> None:
    raw = b'{"model":"m","messages":[],"max_tokens":5}'
    request = parse_request(raw, CHAT)
    assert request.body is raw
    assert (request.model, request.max_tokens, request.stream) == ("m", 5, False)


def test_prompt_estimate_is_kept_and_the_parsed_body_released() -> None:
    raw = json.dumps(
        {"model": "m", "messages": [{"role": "user", "content": "word " * 400}]}
    ).encode()
    request = parse_request(raw, ENDPOINTS["chat"])
    first = request.prompt_estimate()
    assert first > 100
    # A held stream must not keep the decoded messages alive once the estimate is taken.
    assert request.fields == {}
    assert request.prompt_estimate() == first
    assert request.body == raw
