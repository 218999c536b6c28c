"""The simulate backend: OpenAI-compatible answers from a small deterministic generator.

The same model, input and `seed` always give the same text, token counts and embeddings,
so tests and benchmarks can assert on them. Tokens are words; a completion stops at a
length drawn from the input (finish_reason "stop") or at `max_tokens` ("length");
`ignore_eos: true` (as in vLLM) always generates exactly `max_tokens`. A token rate > 0
paces tokens like a real GPU (first token after `first_token_ms`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import random
import secrets
import struct
import time
from typing import Any

import msgspec

from gpuproxy.worker._asgi import Responder

__all__ = ["RequestError", "SimulateBackend", "count_tokens", "generate_tokens"]

_VOCAB = [
    "the",
    "model",
    "answers",
    "with",
    "a",
    "short",
    "and",
    "deterministic",
    "sentence",
    "about",
    "graphics",
    "processors",
    "that",
    "run",
    "inference",
    "for",
    "many",
    "users",
    "while",
    "the",
    "proxy",
    "balances",
    "load",
    "across",
    "rented",
    "machines",
    "in",
    "several",
    "regions",
    "so",
    "latency",
    "stays",
    "low",
    "and",
    "cost",
    "stays",
    "predictable",
    "every",
    "token",
    "arrives",
    "at",
    "a",
    "steady",
    "rate",
    "from",
    "a",
    "simulated",
    "accelerator",
]
_json = msgspec.json.Encoder()
MAX_TOKENS_CAP = 4096
MAX_CHOICES = 8


class RequestError(Exception):
    """Bad input: becomes a 400 (or `status`) in the OpenAI error shape."""

    def __init__(
        self, message: str, param: str | None = None, status: int = 400, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.param = param
        self.status = status
        self.code = code


def count_tokens(text: str) -> int:
    return len(text.split())


def _seed(*parts: object) -> int:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def generate_tokens(
    model: str, prompt: str, seed: int | None, index: int, max_tokens: int | None, ignore_eos: bool
) -> tuple[list[str], str]:
    """The tokens of one choice and its finish_reason."""
    rng = random.Random(_seed(model, prompt, seed, index))  # noqa: S311 - not crypto
    natural = rng.randint(8, 48)
    limit = min(max_tokens or natural, MAX_TOKENS_CAP)
    count = limit if ignore_eos else min(natural, limit)
    words = [rng.choice(_VOCAB) for _ in range(count)]
    tokens = [w if i == 0 else " " + w for i, w in enumerate(words)]
    if tokens and not ignore_eos and count == natural:
        tokens[-1] += "."
    return tokens, ("length" if count == limit and (ignore_eos or natural > limit) else "stop")


def _apply_stop(tokens: list[str], finish: str, stop: list[str]) -> tuple[list[str], str]:
    if not stop:
        return tokens, finish
    text = ""
    for i, token in enumerate(tokens):
        text += token
        for word in stop:
            if word and word in text:
                cut = text[: text.index(word)]
                kept, total = [], ""
                for t in tokens[: i + 1]:
                    if len(total) + len(t) > len(cut):
                        if len(cut) > len(total):
                            kept.append(cut[len(total) :])
                        break
                    kept.append(t)
                    total += t
                return kept, "stop"
    return tokens, finish


def _int_param(body: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RequestError(f"{name} must be an integer from {low} to {high}", name)
    return value


def _stop_list(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop")
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop):
        return stop
    raise RequestError("stop must be a string or a list of up to 4 strings", "stop")


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
        return " ".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    if content is None:
        return ""
    raise RequestError("message content must be a string or a list of parts", "messages")


class SimulateBackend:
    name = "simulate"

    def __init__(
        self,
        models: list[str],
        *,
        token_rate: float = 0.0,
        first_token_ms: float = 0.0,
        embedding_dim: int = 384,
    ) -> None:
        self._models = list(models)
        self.token_rate = token_rate
        self.first_token_ms = first_token_ms
        self.embedding_dim = embedding_dim
        self.created = int(time.time())

    async def models(self) -> list[str]:
        return list(self._models)

    async def healthy(self) -> bool:
        return True

    async def aclose(self) -> None:
        pass

    def _check_model(self, body: dict[str, Any]) -> str:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise RequestError("you must provide a model parameter", "model")
        if model not in self._models:
            raise RequestError(
                f"The model `{model}` does not exist.", "model", 404, "model_not_found"
            )
        return model

    async def _pace(self, produced: int, started: float) -> None:
        """Sleep until token `produced` is due at the configured rate."""
        due = self.first_token_ms / 1000.0
        if self.token_rate > 0:
            due += produced / self.token_rate
        delay = started + due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    # ---- chat and text completions ------------------------------------------------------

    async def chat(self, body: dict[str, Any], out: Responder) -> None:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError("messages must be a non-empty list", "messages")
        parts = []
        for message in messages:
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise RequestError("each message needs a role", "messages")
            parts.append(_message_text(message.get("content")))
        prompt = "\n".join(parts)
        prompt_tokens = sum(count_tokens(p) + 3 for p in parts) + 3  # OpenAI's per-message overhead
        await self._complete(body, prompt, prompt_tokens, out, chat=True)

    async def completions(self, body: dict[str, Any], out: Responder) -> None:
        prompt_value = body.get("prompt")
        if isinstance(prompt_value, str):
            prompt, prompt_tokens = prompt_value, count_tokens(prompt_value)
        elif (
            isinstance(prompt_value, list)
            and prompt_value
            and all(isinstance(t, int) for t in prompt_value)
        ):
            prompt, prompt_tokens = " ".join(map(str, prompt_value)), len(prompt_value)
        elif (
            isinstance(prompt_value, list)
            and len(prompt_value) == 1
            and isinstance(prompt_value[0], str)
        ):
            prompt, prompt_tokens = prompt_value[0], count_tokens(prompt_value[0])
        else:
            raise RequestError(
                "prompt must be a string, one string in a list, or token ids", "prompt"
            )
        await self._complete(body, prompt, prompt_tokens, out, chat=False)

    async def _complete(
        self, body: dict[str, Any], prompt: str, prompt_tokens: int, out: Responder, *, chat: bool
    ) -> None:
        model = self._check_model(body)
        max_tokens = _int_param(body, "max_completion_tokens", 1, MAX_TOKENS_CAP)
        if max_tokens is None:
            max_tokens = _int_param(body, "max_tokens", 1, MAX_TOKENS_CAP)
        n = _int_param(body, "n", 1, MAX_CHOICES) or 1
        seed = _int_param(body, "seed", -(2**63), 2**63 - 1)
        stop = _stop_list(body)
        ignore_eos = bool(body.get("ignore_eos", False))
        stream = bool(body.get("stream", False))
        options = body.get("stream_options") or {}
        if not isinstance(options, dict):
            raise RequestError("stream_options must be an object", "stream_options")
        choices = []
        for index in range(n):
            tokens, finish = generate_tokens(model, prompt, seed, index, max_tokens, ignore_eos)
            choices.append(_apply_stop(tokens, finish, stop))
        completion_tokens = sum(len(t) for t, _ in choices)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        ident = ("chatcmpl-" if chat else "cmpl-") + secrets.token_hex(12)
        created = int(time.time())
        started = time.monotonic()
        if stream:
            await self._stream(
                ident,
                created,
                model,
                choices,
                usage,
                out,
                chat=chat,
                include_usage=bool(options.get("include_usage")),
                started=started,
            )
            return
        await self._pace(max((len(t) for t, _ in choices), default=0), started)
        if chat:
            payload_choices = [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": "".join(t)},
                    "finish_reason": f,
                    "logprobs": None,
                }
                for i, (t, f) in enumerate(choices)
            ]
            kind = "chat.completion"
        else:
            payload_choices = [
                {"index": i, "text": "".join(t), "finish_reason": f, "logprobs": None}
                for i, (t, f) in enumerate(choices)
            ]
            kind = "text_completion"
        await out.json(
            200,
            {
                "id": ident,
                "object": kind,
                "created": created,
                "model": model,
                "system_fingerprint": "gpuproxy-simulate",
                "choices": payload_choices,
                "usage": usage,
            },
        )

    async def _stream(
        self,
        ident: str,
        created: int,
        model: str,
        choices: list[tuple[list[str], str]],
        usage: dict[str, int],
        out: Responder,
        *,
        chat: bool,
        include_usage: bool,
        started: float,
    ) -> None:
        kind = "chat.completion.chunk" if chat else "text_completion"
        base = {
            "id": ident,
            "object": kind,
            "created": created,
            "model": model,
            "system_fingerprint": "gpuproxy-simulate",
        }

        def event(choice_list: list[dict[str, Any]], with_usage: Any = ...) -> bytes:
            payload = {**base, "choices": choice_list}
            if include_usage:
                payload["usage"] = None if with_usage is ... else with_usage
            return b"data: " + _json.encode(payload) + b"\n\n"

        await out.start_stream(200, b"text/event-stream")
        if chat:
            await out.chunk(
                event(
                    [
                        {
                            "index": i,
                            "delta": {"role": "assistant", "content": ""},
                            "finish_reason": None,
                            "logprobs": None,
                        }
                        for i in range(len(choices))
                    ]
                )
            )
        longest = max((len(t) for t, _ in choices), default=0)
        for step in range(longest):
            await self._pace(step + 1, started)
            parts = []
            for i, (tokens, _) in enumerate(choices):
                if step < len(tokens):
                    if chat:
                        parts.append(
                            {
                                "index": i,
                                "delta": {"content": tokens[step]},
                                "finish_reason": None,
                                "logprobs": None,
                            }
                        )
                    else:
                        parts.append(
                            {
                                "index": i,
                                "text": tokens[step],
                                "finish_reason": None,
                                "logprobs": None,
                            }
                        )
            await out.chunk(event(parts))
        finals = []
        for i, (_, finish) in enumerate(choices):
            if chat:
                finals.append({"index": i, "delta": {}, "finish_reason": finish, "logprobs": None})
            else:
                finals.append({"index": i, "text": "", "finish_reason": finish, "logprobs": None})
        await out.chunk(event(finals))
        if include_usage:
            await out.chunk(event([], usage))
        await out.chunk(b"data: [DONE]\n\n")
        await out.end()

    # ---- embeddings ----------------------------------------------------------------

    async def embeddings(self, body: dict[str, Any], out: Responder) -> None:
        model = self._check_model(body)
        raw = body.get("input")
        if isinstance(raw, str):
            inputs: list[Any] = [raw]
        elif isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw):
            inputs = [raw]
        elif isinstance(raw, list) and raw:
            inputs = raw
        else:
            raise RequestError(
                "input must be a non-empty string, list of strings or tokens", "input"
            )
        if len(inputs) > 2048:
            raise RequestError("at most 2048 inputs per request", "input")
        dims = _int_param(body, "dimensions", 1, 4096) or self.embedding_dim
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            raise RequestError("encoding_format must be float or base64", "encoding_format")
        data = []
        tokens = 0
        for index, item in enumerate(inputs):
            if isinstance(item, str):
                if not item:
                    raise RequestError("inputs must not be empty strings", "input")
                text, tokens = item, tokens + count_tokens(item)
            elif isinstance(item, list) and item and all(isinstance(t, int) for t in item):
                text, tokens = " ".join(map(str, item)), tokens + len(item)
            else:
                raise RequestError("each input must be a string or a list of token ids", "input")
            vector = _embed(model, text, dims)
            value: Any = vector
            if encoding == "base64":
                value = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": value})
        await out.json(
            200,
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )


def _embed(model: str, text: str, dims: int) -> list[float]:
    rng = random.Random(_seed("embed", model, text))  # noqa: S311 - not crypto
    values = [rng.gauss(0.0, 1.0) for _ in range(dims)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]
