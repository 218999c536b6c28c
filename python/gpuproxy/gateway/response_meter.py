"""Watches a forwarded response go by: usage, time to first token, delivered text.

Streams (SSE): chunks are cut at event boundaries (a partial event waits for its end, it
would be useless to the client anyway); the hot path per chunk is a concatenation, a
`rfind` and a `find`, all in C. Events are only decoded when they carry a non-null
`usage`, and the final usage chunk is removed when the gateway asked for it on the
client's behalf (clients that did not ask may index `choices[0]`).

What was delivered counts when no usage arrives (client cancelled, upstream without usage
support): completion tokens are then estimated from the text that actually reached the
client. A stream keeps its delivered events only until they reach `_COMPACT_BYTES`; then
their text is measured (characters, which is all the estimate needs and adds up exactly)
and the events are let go, so a long or long-held stream does not grow with its length.
Plain JSON responses are buffered (up to `retain_limit` bytes) and decoded once at the end.
"""

from __future__ import annotations

import re
import time
from typing import Any

import msgspec

from gpuproxy.gateway.tokens import estimate_tokens, tokens_for_chars

__all__ = ["ResponseMeter", "Usage"]

_USAGE = b'"usage"'
_EVENT_END = b"\n\n"
_FIRST_TOKEN = re.compile(rb'"(?:content|text|reasoning_content)"\s*:\s*"[^"]')
_RETAIN_LIMIT = 8 * 1024 * 1024
#: Delivered SSE bytes kept before their text is measured and they are dropped.
_COMPACT_BYTES = 2 * 1024


class _UsageBody(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _WithUsage(msgspec.Struct):
    usage: _UsageBody | None = None
    choices: list[Any] | None = None


_with_usage = msgspec.json.Decoder(_WithUsage)
_any = msgspec.json.Decoder()


class Usage(msgspec.Struct, frozen=True):
    prompt_tokens: int
    completion_tokens: int
    estimated: bool


class ResponseMeter:
    """One response's observer. `feed(chunk)` returns the bytes to send on (maybe fewer)."""

    __slots__ = (
        "_retained",
        "_retained_bytes",
        "_tail",
        "_text_chars",
        "first_token_at",
        "retain_limit",
        "sse",
        "strip_usage",
        "usage",
    )

    def __init__(
        self, *, sse: bool, strip_usage: bool = False, retain_limit: int = _RETAIN_LIMIT
    ) -> None:
        self.sse = sse
        self.strip_usage = strip_usage
        self.retain_limit = retain_limit
        self.usage: _UsageBody | None = None
        self.first_token_at: float | None = None
        self._tail = b""
        self._retained: list[bytes] = []
        self._retained_bytes = 0
        #: characters of text in delivered events already measured and dropped (streams)
        self._text_chars = 0

    def feed(self, chunk: bytes) -> bytes:
        if not self.sse:
            self._retain(chunk)
            return chunk
        data = self._tail + chunk if self._tail else chunk
        end = data.rfind(_EVENT_END)
        if end < 0:
            self._tail = data
            return b""
        cut = end + 2
        self._tail = data[cut:]
        events = data[:cut]
        if self.first_token_at is None and _FIRST_TOKEN.search(events):
            self.first_token_at = time.perf_counter()
        if _USAGE in events:
            events = self._take_usage(events)
        return events

    def delivered(self, sent: bytes) -> None:
        """`sent` (whole events) reached the client: it counts for billing a cancelled stream."""
        if not self.sse or self.usage is not None:
            return  # exact usage already known: the text will not be needed
        self._retained.append(sent)
        self._retained_bytes += len(sent)
        if self._retained_bytes >= _COMPACT_BYTES:
            self._text_chars += len(self._stream_text())
            self._retained.clear()
            self._retained_bytes = 0

    def flush(self) -> bytes:
        """The bytes held back at the end of the stream (an unterminated last event)."""
        tail, self._tail = self._tail, b""
        return tail

    def _retain(self, data: bytes) -> None:
        if self._retained_bytes + len(data) <= self.retain_limit:
            self._retained.append(data)
            self._retained_bytes += len(data)

    def _take_usage(self, events: bytes) -> bytes:
        kept: list[bytes] = []
        changed = False
        for event in events.split(_EVENT_END):
            if not event:
                continue
            if _USAGE in event and event.startswith(b"data:"):
                payload = event[5:].strip()
                try:
                    parsed = _with_usage.decode(payload)
                except msgspec.DecodeError:
                    parsed = None
                if parsed is not None and parsed.usage is not None:
                    self.usage = parsed.usage
                    if self.strip_usage and not parsed.choices:
                        changed = True
                        continue
            kept.append(event)
        if not changed:
            return events
        return b"".join(e + _EVENT_END for e in kept)

    # -- at the end ------------------------------------------------------------------------

    def result(self, prompt_estimate: int) -> Usage:
        """Usage from the upstream when it reported it, else counted from what was seen."""
        if self.sse:
            if self.usage is not None:
                return Usage(self.usage.prompt_tokens, self.usage.completion_tokens, False)
            chars = self._text_chars + len(self._stream_text())
            return Usage(prompt_estimate, tokens_for_chars(chars), True)
        body = b"".join(self._retained)
        try:
            parsed = _with_usage.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            parsed = None
        if parsed is not None and parsed.usage is not None:
            return Usage(parsed.usage.prompt_tokens, parsed.usage.completion_tokens, False)
        return Usage(prompt_estimate, estimate_tokens(_json_text(body)), True)

    def body(self) -> bytes:
        """The buffered body of a non-streamed response."""
        return b"".join(self._retained)

    def _stream_text(self) -> str:
        parts: list[str] = []
        for event in b"".join(self._retained).split(_EVENT_END):
            event = event.strip()
            if not event.startswith(b"data:"):
                continue
            payload = event[5:].strip()
            if payload == b"[DONE]":
                continue
            try:
                parts.append(_choices_text(_any.decode(payload)))
            except msgspec.DecodeError:
                continue
        return "".join(parts)


def _choices_text(obj: Any) -> str:
    if not isinstance(obj, dict):
        return ""
    parts: list[str] = []
    for choice in obj.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        for holder in (choice.get("delta"), choice.get("message"), choice):
            if isinstance(holder, dict):
                for name in ("content", "text", "reasoning_content"):
                    value = holder.get(name)
                    if isinstance(value, str):
                        parts.append(value)
    return "".join(parts)


def _json_text(body: bytes) -> str:
    try:
        return _choices_text(_any.decode(body))
    except msgspec.DecodeError:
        return ""
