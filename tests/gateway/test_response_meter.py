"""Usage extraction, first-token timing and text counting on forwarded responses."""

from __future__ import annotations

import json

from gpuproxy.gateway.response_meter import ResponseMeter
from gpuproxy.gateway.tokens import estimate_tokens, prompt_tokens_estimate


def sse(obj: object) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def chunk(text: str) -> bytes:
    return sse(
        {
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": text}}],
            "usage": None,
        }
    )


USAGE = sse(
    {
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
    }
)
ROLE = sse({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})


def test_usage_chunk_is_read_and_stripped_when_the_client_did_not_ask() -> None:
    meter = ResponseMeter(sse=True, strip_usage=True)
    stream = ROLE + chunk("Hel") + chunk("lo!") + USAGE + b"data: [DONE]\n\n"
    out = b"".join(meter.feed(stream[i : i + 7]) for i in range(0, len(stream), 7))
    out += meter.flush()
    assert b'"prompt_tokens"' not in out
    assert out == ROLE + chunk("Hel") + chunk("lo!") + b"data: [DONE]\n\n"
    usage = meter.result(prompt_estimate=99)
    assert (usage.prompt_tokens, usage.completion_tokens, usage.estimated) == (7, 3, False)


def test_usage_chunk_is_kept_when_the_client_asked() -> None:
    meter = ResponseMeter(sse=True, strip_usage=False)
    stream = chunk("Hi") + USAGE + b"data: [DONE]\n\n"
    assert meter.feed(stream) == stream
    assert meter.result(0).completion_tokens == 3


def test_partial_events_are_held_until_complete() -> None:
    meter = ResponseMeter(sse=True)
    event = chunk("abc")
    assert meter.feed(event[:10]) == b""
    assert meter.feed(event[10:]) == event
    assert meter.flush() == b""


def test_first_token_time_ignores_the_empty_role_chunk() -> None:
    meter = ResponseMeter(sse=True)
    meter.feed(ROLE)
    assert meter.first_token_at is None
    meter.feed(chunk("x"))
    assert meter.first_token_at is not None


def test_cancelled_stream_counts_only_delivered_text() -> None:
    meter = ResponseMeter(sse=True)
    for text in ["aaaa", "bbbb", "cccc"]:
        out = meter.feed(chunk(text))
        meter.delivered(out)
    meter.feed(chunk("never sent"))  # the client was gone before this was delivered
    usage = meter.result(prompt_estimate=5)
    assert usage.estimated
    assert usage.prompt_tokens == 5
    assert usage.completion_tokens == estimate_tokens("aaaabbbbcccc") == 3


def test_long_stream_without_usage_keeps_little_and_counts_every_character() -> None:
    meter = ResponseMeter(sse=True)
    pieces = [f"word{i} é\n" for i in range(3000)]  # ~300 KiB of events, escapes included
    for piece in pieces:
        out = meter.feed(chunk(piece))
        meter.delivered(out)
        # Delivered events are measured and dropped as they pile up, not kept to the end.
        assert sum(len(b) for b in meter._retained) < 4 * 1024
    meter.delivered(meter.flush())
    usage = meter.result(prompt_estimate=5)
    assert usage.estimated
    assert usage.completion_tokens == estimate_tokens("".join(pieces))


def test_stream_with_usage_stops_keeping_text_once_usage_is_known() -> None:
    meter = ResponseMeter(sse=True)
    meter.delivered(meter.feed(chunk("Hello") + USAGE))
    meter.delivered(meter.feed(chunk("late")))
    assert meter._retained == []
    assert meter.result(prompt_estimate=99).completion_tokens == 3


def test_json_response_usage_and_fallback_count() -> None:
    meter = ResponseMeter(sse=False)
    body = json.dumps(
        {
            "choices": [{"message": {"content": "12345678"}}],
            "usage": {"prompt_tokens": 4, "completion_tokens": 2},
        }
    ).encode()
    meter.feed(body[:5])
    meter.feed(body[5:])
    assert meter.body() == body
    assert meter.result(0).completion_tokens == 2
    no_usage = ResponseMeter(sse=False)
    no_usage.feed(json.dumps({"choices": [{"text": "12345678"}]}).encode())
    usage = no_usage.result(prompt_estimate=3)
    assert (usage.prompt_tokens, usage.completion_tokens, usage.estimated) == (3, 2, True)


def test_prompt_estimates() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("a") == 1
    assert estimate_tokens("abcdefgh") == 2
    chat = {
        "messages": [
            {"role": "user", "content": "abcd"},
            {"role": "user", "content": [{"type": "text", "text": "abcdefgh"}]},
        ]
    }
    assert prompt_tokens_estimate(chat) == 4 + 1 + 4 + 2
    assert prompt_tokens_estimate({"prompt": "abcdefgh"}) == 2
    assert prompt_tokens_estimate({"input": ["abcd", "abcd"]}) == 2
    assert prompt_tokens_estimate({"input": [[1, 2, 3], [4]]}) == 4
