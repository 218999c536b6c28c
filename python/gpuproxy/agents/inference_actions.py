"""Inference actions: list models, chat completion, and the seed's generic
`proxy_inference_request`. All go through the Rust data plane (`DataPlaneClient`) with the
caller's credential, so they are authenticated, limited, routed and billed like a direct
OpenAI-SDK call; a streamed call reports each piece of text as progress."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gpuproxy.agents.action import Action, AgentContext, object_schema
from gpuproxy.agents.errors import ActionInvalid
from gpuproxy.agents.inference import INFERENCE_PATHS

if TYPE_CHECKING:
    from gpuproxy.agents.inference import DataPlaneClient

__all__ = ["INFERENCE_ACTIONS"]

_MESSAGES = {
    "type": "array",
    "minItems": 1,
    "items": {"type": "object"},
    "description": "OpenAI chat messages: [{role, content}, ...]",
}
_USAGE = {"type": ["object", "null"]}


def _client(ctx: AgentContext) -> DataPlaneClient:
    from gpuproxy.agents.service import data_plane_of

    return data_plane_of(ctx.services)


def _text_of(chunk: dict[str, Any]) -> str:
    """The text a streamed chunk adds (chat `delta.content` or completion `text`)."""
    choices = chunk.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return ""
    choice = choices[0]
    delta = choice.get("delta")
    text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
    return text if isinstance(text, str) else ""


async def _streamed(ctx: AgentContext, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Read a streamed completion to its end, reporting each piece as progress."""
    parts: list[str] = []
    summary: dict[str, Any] = {"model": body.get("model"), "usage": None, "finish_reason": None}
    chunks = 0
    async for chunk in _client(ctx).stream(path, ctx.credential, body):
        chunks += 1
        text = _text_of(chunk)
        if text:
            parts.append(text)
            await ctx.progress(chunks, None, text)
        if chunk.get("usage"):
            summary["usage"] = chunk["usage"]
        choices = chunk.get("choices") or []
        if choices and isinstance(choices[0], dict) and choices[0].get("finish_reason"):
            summary["finish_reason"] = choices[0]["finish_reason"]
        summary["model"] = chunk.get("model") or summary["model"]
    return {**summary, "content": "".join(parts), "chunks": chunks, "streamed": True}


def _answer(response: dict[str, Any]) -> dict[str, Any]:
    """The text, model, finish reason and usage of a whole (non-streamed) completion."""
    choices = response.get("choices") or [{}]
    first = choices[0] if isinstance(choices[0], dict) else {}
    message = first.get("message")
    text = message.get("content") if isinstance(message, dict) else first.get("text")
    return {
        "model": response.get("model"),
        "content": text if isinstance(text, str) else "",
        "finish_reason": first.get("finish_reason"),
        "usage": response.get("usage"),
        "streamed": False,
    }


async def _proxy(ctx: AgentContext, args: dict[str, Any]) -> dict[str, Any]:
    path = args.get("endpoint") or INFERENCE_PATHS[0]
    body = dict(args["body"])
    stream = args.get("stream", body.get("stream", False))
    if not isinstance(stream, bool):
        raise ActionInvalid("body.stream", "must be true or false")
    if stream and path.endswith("/embeddings"):
        raise ActionInvalid("stream", "embeddings are not streamed")
    body.pop("stream", None)
    if stream:
        return {"endpoint": path, **await _streamed(ctx, path, body)}
    response = await _client(ctx).call(path, ctx.credential, body)
    if path.endswith("/embeddings"):
        return {"endpoint": path, "streamed": False, "response": response}
    return {"endpoint": path, **_answer(response), "response": response}


async def _chat(ctx: AgentContext, args: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in args.items() if k != "stream" and v is not None}
    path = INFERENCE_PATHS[0]
    if args.get("stream"):
        return await _streamed(ctx, path, body)
    return _answer(await _client(ctx).call(path, ctx.credential, body))


async def _models(ctx: AgentContext, args: dict[str, Any]) -> dict[str, Any]:
    listing = await _client(ctx).call("/v1/models", ctx.credential)
    data = listing.get("data") or []
    return {"models": [m.get("id") for m in data if isinstance(m, dict)], "data": data}


_ANSWER_OUT = {
    "model": {"type": ["string", "null"]},
    "content": {"type": "string"},
    "finish_reason": {"type": ["string", "null"]},
    "usage": _USAGE,
    "streamed": {"type": "boolean"},
}

INFERENCE_ACTIONS = (
    Action(
        name="list_models",
        tool="list_models",
        title="List models",
        description="The models the caller can send inference to (OpenAI list models).",
        scope="inference",
        input_schema=object_schema({}),
        output_schema=object_schema(
            {"models": {"type": "array", "items": {"type": "string"}}, "data": {"type": "array"}},
            ("models",),
            closed=False,
        ),
        handler=_models,
    ),
    Action(
        name="chat",
        tool="chat_completion",
        title="Chat completion",
        description="Send chat messages to a model served by the gateway; billed per token "
        "like /v1/chat/completions. With stream, the text arrives as progress first.",
        scope="inference",
        input_schema=object_schema(
            {
                "model": {"type": "string", "maxLength": 200},
                "messages": _MESSAGES,
                "max_tokens": {"type": "integer", "minimum": 1},
                "temperature": {"type": "number", "minimum": 0, "maximum": 2},
                "stream": {"type": "boolean"},
            },
            ("model", "messages"),
        ),
        output_schema=object_schema(_ANSWER_OUT, ("content",), closed=False),
        handler=_chat,
    ),
    Action(
        name="inference",
        tool="proxy_inference_request",
        title="Proxy an inference request",
        description="Send an OpenAI-compatible body to /v1/chat/completions (default), "
        "/v1/completions or /v1/embeddings through the gateway; billed like REST.",
        scope="inference",
        input_schema=object_schema(
            {
                "endpoint": {"type": "string", "enum": list(INFERENCE_PATHS)},
                "body": {"type": "object", "description": "the OpenAI request body"},
                "stream": {"type": "boolean"},
            },
            ("body",),
        ),
        output_schema=object_schema(
            {
                "endpoint": {"type": "string"},
                **_ANSWER_OUT,
                "response": {"type": "object"},
            },
            ("endpoint", "streamed"),
            closed=False,
        ),
        handler=_proxy,
    ),
)
