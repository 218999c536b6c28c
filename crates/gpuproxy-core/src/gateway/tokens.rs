//! Token counts when an upstream does not report usage (twin of `gateway/tokens.py`).
//!
//! Upstream `usage` is always preferred (it is exact and streams are asked for it). When it
//! is missing (an upstream without usage support, a stream cancelled before the final usage
//! chunk) tokens are estimated from the text: about 4 characters per token, the usual ratio
//! for English with BPE tokenizers, rounded up. No tokenizer is loaded: which one a worker
//! uses is unknown to the gateway.
//!
//! Characters are Unicode scalar values, as Python's `len(str)` counts them, so both
//! implementations bill the same text the same.

use serde_json::{Map, Value};

/// Characters per estimated token.
pub const CHARS_PER_TOKEN: u64 = 4;
/// Tokens a chat message costs on top of its text (role markers), as `OpenAI` documents.
const PER_MESSAGE_OVERHEAD: u64 = 4;

/// The estimate for a text of `chars` characters: 0 for none, else `ceil(chars / 4)`.
pub fn tokens_for_chars(chars: u64) -> u64 {
    // For chars > 0 the ceiling is already >= 1 (Python's `max(1, ...)`).
    chars.div_ceil(CHARS_PER_TOKEN)
}

fn text_tokens(text: &str) -> u64 {
    tokens_for_chars(text.chars().count() as u64)
}

/// Tokens of a message's `content`: a string, or a list of parts whose texts are joined
/// by one space (images and other parts count nothing).
fn content_tokens(content: Option<&Value>) -> u64 {
    match content {
        Some(Value::String(text)) => text_tokens(text),
        Some(Value::Array(parts)) => {
            // Counted instead of joined: the joined string is never needed.
            let mut chars = 0u64;
            let mut count = 0u64;
            for part in parts {
                let text = match part {
                    Value::Object(map) => map.get("text").and_then(Value::as_str),
                    Value::String(text) => Some(text.as_str()),
                    _ => None,
                };
                if let Some(text) = text {
                    chars += text.chars().count() as u64;
                    count += 1;
                }
            }
            tokens_for_chars(chars + count.saturating_sub(1))
        }
        _ => 0,
    }
}

/// Tokens of a chat (`messages`), completion (`prompt`) or embeddings (`input`) request.
pub fn prompt_tokens_estimate(body: &Value) -> u64 {
    body.as_object().map_or(0, prompt_tokens_in)
}

/// [`prompt_tokens_estimate`] of an already destructured request object.
pub(crate) fn prompt_tokens_in(body: &Map<String, Value>) -> u64 {
    if let Some(Value::Array(messages)) = body.get("messages") {
        return messages
            .iter()
            .filter_map(Value::as_object)
            .map(|message| PER_MESSAGE_OVERHEAD + content_tokens(message.get("content")))
            .sum();
    }
    for field in ["prompt", "input"] {
        match body.get(field) {
            Some(Value::String(text)) => return text_tokens(text),
            Some(Value::Array(items)) => {
                return items
                    .iter()
                    .map(|item| match item {
                        Value::String(text) => text_tokens(text),
                        // A token id. Python's `isinstance(True, int)` holds, so a bool
                        // counts too: kept for parity.
                        Value::Number(n) if n.is_i64() || n.is_u64() => 1,
                        Value::Bool(_) => 1,
                        // A list of token ids.
                        Value::Array(ids) => ids.len() as u64,
                        _ => 0,
                    })
                    .sum();
            }
            // null, absent, or another type: Python falls through to the next field.
            _ => {}
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chars_round_up() {
        assert_eq!(tokens_for_chars(0), 0);
        assert_eq!(tokens_for_chars(1), 1);
        assert_eq!(tokens_for_chars(4), 1);
        assert_eq!(tokens_for_chars(5), 2);
        assert_eq!(tokens_for_chars(400), 100);
    }

    #[test]
    fn chat_messages_with_overhead() {
        let body = json!({"messages": [
            {"role": "system", "content": "12345678"},
            {"role": "user", "content": [
                {"type": "text", "text": "abc"},
                {"type": "image_url", "image_url": {"url": "x"}},
                "de"
            ]},
            {"role": "assistant", "content": null},
            "not a message"
        ]});
        // 4+2, 4+ceil(len("abc de")=6/4)=4+2, 4+0; the string entry is skipped.
        assert_eq!(prompt_tokens_estimate(&body), 6 + 6 + 4);
    }

    #[test]
    fn empty_messages_list_wins_over_prompt() {
        assert_eq!(
            prompt_tokens_estimate(&json!({"messages": [], "prompt": "abcd"})),
            0
        );
    }

    #[test]
    fn characters_are_scalar_values() {
        // 4 characters, 12 bytes in UTF-8.
        assert_eq!(prompt_tokens_estimate(&json!({"prompt": "日本語だ"})), 1);
        assert_eq!(prompt_tokens_estimate(&json!({"prompt": "😀😀😀😀😀"})), 2);
    }

    #[test]
    fn prompt_and_input_forms() {
        assert_eq!(prompt_tokens_estimate(&json!({"prompt": "abcdefgh"})), 2);
        assert_eq!(
            prompt_tokens_estimate(&json!({"prompt": ["abcde", "a"]})),
            3
        );
        assert_eq!(prompt_tokens_estimate(&json!({"prompt": [1, 2, 3]})), 3);
        assert_eq!(
            prompt_tokens_estimate(&json!({"prompt": [[1, 2, 3], [4]]})),
            4
        );
        assert_eq!(
            prompt_tokens_estimate(&json!({"prompt": [1.5, null, {}]})),
            0
        );
        assert_eq!(prompt_tokens_estimate(&json!({"input": "abcd"})), 1);
        // null and non-text prompt fall through to `input`
        assert_eq!(
            prompt_tokens_estimate(&json!({"prompt": null, "input": "abcdefghi"})),
            3
        );
        assert_eq!(
            prompt_tokens_estimate(&json!({"prompt": 7, "input": "abcd"})),
            1
        );
        assert_eq!(prompt_tokens_estimate(&json!({"model": "m"})), 0);
        assert_eq!(prompt_tokens_estimate(&json!([1, 2])), 0);
    }
}
