"""Token counts when an upstream does not report usage.

Upstream `usage` is always preferred (it is exact and streams are asked for it). When it is
missing (an upstream without usage support, or a stream the client cancelled before the
final usage chunk) tokens are estimated from the text: about 4 characters per token, the
usual ratio for English with BPE tokenizers, rounded up, at least 1 for non-empty text.
No tokenizer is loaded: which one a worker uses is unknown to the gateway.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CHARS_PER_TOKEN", "estimate_tokens", "prompt_tokens_estimate", "tokens_for_chars"]

CHARS_PER_TOKEN = 4
#: Tokens a chat message costs on top of its text (role markers), as OpenAI documents.
_PER_MESSAGE_OVERHEAD = 4


def estimate_tokens(text: str) -> int:
    return tokens_for_chars(len(text))


def tokens_for_chars(chars: int) -> int:
    """The estimate for a text of `chars` characters (what `estimate_tokens` counts)."""
    if chars <= 0:
        return 0
    return max(1, -(-chars // CHARS_PER_TOKEN))


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return " ".join(parts)
    return ""


def prompt_tokens_estimate(request: dict[str, Any]) -> int:
    """Tokens of a chat (`messages`), completion (`prompt`) or embeddings (`input`) request."""
    total = 0
    messages = request.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                total += _PER_MESSAGE_OVERHEAD + estimate_tokens(
                    _content_text(message.get("content"))
                )
        return total
    for field in ("prompt", "input"):
        value = request.get(field)
        if value is None:
            continue
        if isinstance(value, str):
            return estimate_tokens(value)
        if isinstance(value, list):
            for item in value:
                if isinstance(item, str):
                    total += estimate_tokens(item)
                elif isinstance(item, int):
                    total += 1  # a token id
                elif isinstance(item, list):
                    total += len(item)  # a list of token ids
            return total
    return total
