"""Reading an OpenAI request body: the few fields the gateway needs, checked, and the body
to send upstream (streams always ask for usage; see `ResponseMeter` for stripping it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from gpuproxy.gateway.errors import GatewayError
from gpuproxy.gateway.tokens import prompt_tokens_estimate

__all__ = ["ENDPOINTS", "Endpoint", "InferenceRequest", "parse_request"]

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode
_DROPPED: dict[str, Any] = {}


@dataclass(frozen=True, slots=True)
class Endpoint:
    #: name in usage rows and metrics ("chat.completions", ...)
    name: str
    #: path on the worker
    upstream_path: str
    streams: bool


ENDPOINTS: dict[str, Endpoint] = {
    "chat": Endpoint("chat.completions", "/v1/chat/completions", streams=True),
    "completions": Endpoint("completions", "/v1/completions", streams=True),
    "embeddings": Endpoint("embeddings", "/v1/embeddings", streams=False),
}


@dataclass(slots=True)
class InferenceRequest:
    model: str
    stream: bool
    max_tokens: int | None
    #: the parsed body, until the prompt estimate is taken (then dropped: a held stream
    #: should not keep the decoded messages alive)
    fields: dict[str, Any]
    #: what is sent upstream
    body: bytes
    #: the gateway added include_usage: remove the usage chunk before the client sees it
    strip_usage: bool

    #: cached prompt_estimate()
    _prompt: int = -1

    def prompt_estimate(self) -> int:
        if self._prompt < 0:
            self._prompt = prompt_tokens_estimate(self.fields)
            self.fields = _DROPPED
        return self._prompt


#: Spliced in as the first member of a streamed body (the object has a `model` after it).
_INCLUDE_USAGE = b'"stream_options":{"include_usage":true},'


def _bad(message: str, param: str) -> GatewayError:
    return GatewayError(400, f"{param}: {message}", param=param, code="invalid_value")


def parse_request(raw: bytes, endpoint: Endpoint) -> InferenceRequest:
    try:
        fields = _decode(raw)
    except msgspec.DecodeError as exc:
        raise GatewayError(
            400, f"the request body is not valid JSON ({exc})", code="invalid_json"
        ) from None
    if not isinstance(fields, dict):
        raise GatewayError(400, "the request body must be a JSON object", code="invalid_json")
    model = fields.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("a model name is required", "model")
    stream = fields.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise _bad("must be true or false", "stream")
    if stream and not endpoint.streams:
        raise _bad(f"{endpoint.name} does not stream", "stream")
    max_tokens = None
    for name in ("max_completion_tokens", "max_tokens"):
        value = fields.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _bad("must be a positive integer", name)
        max_tokens = value
        break
    body = raw
    strip_usage = False
    if stream:
        options = fields.get("stream_options")
        if options is not None and not isinstance(options, dict):
            raise _bad("must be an object", "stream_options")
        if not (options or {}).get("include_usage"):
            # Usage is how streams are metered exactly: ask for it on the client's behalf.
            absent = "stream_options" not in fields  # (a `null` member must be replaced)
            fields["stream_options"] = {**(options or {}), "include_usage": True}
            if absent:
                # The usual case: splice the member in after `{` instead of re-encoding
                # the whole body (which is only forwarded).
                start = raw.index(b"{") + 1
                body = raw[:start] + _INCLUDE_USAGE + raw[start:]
            else:
                body = _encode(fields)
            strip_usage = True
    return InferenceRequest(model, stream, max_tokens, fields, body, strip_usage)
