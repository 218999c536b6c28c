//! Reading an `OpenAI` request body: the few fields the gateway needs, checked, and the
//! body to send upstream (twin of `gateway/openai_request.py`).
//!
//! Two rewrites keep metering exact: streams always ask for usage (the gateway strips the
//! usage-only chunk again when the client did not ask, see `meter`), and chat/completions
//! always carry a completion cap, so an answer can never cost more than the hold placed
//! for it. Both are spliced in after the opening `{` when possible: the body is only
//! forwarded, re-encoding it would cost time and reorder its members.

use std::fmt;

use bytes::Bytes;
use serde_json::{Map, Value};

use super::tokens::prompt_tokens_in;

/// Spliced in as the first member of a streamed body (the object has a `model` after it,
/// so the trailing comma is always valid).
const INCLUDE_USAGE: &[u8] = br#""stream_options":{"include_usage":true},"#;
/// The largest `n` accepted: holds scale with it, and upstreams cap it well below this.
const MAX_CHOICES: u64 = 128;

/// The `OpenAI` endpoints the gateway serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    Completions,
    Embeddings,
}

impl Endpoint {
    /// Name in usage rows and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Chat => "chat.completions",
            Self::Completions => "completions",
            Self::Embeddings => "embeddings",
        }
    }

    /// Path on the worker.
    pub fn upstream_path(self) -> &'static str {
        match self {
            Self::Chat => "/v1/chat/completions",
            Self::Completions => "/v1/completions",
            Self::Embeddings => "/v1/embeddings",
        }
    }

    /// Whether `stream: true` is allowed.
    pub fn streams(self) -> bool {
        !matches!(self, Self::Embeddings)
    }
}

/// What the gateway needs from a request, and the body to forward.
#[derive(Debug)]
pub struct ParsedRequest {
    pub model: String,
    pub stream: bool,
    /// `max_completion_tokens` or `max_tokens` as sent (None: absent)
    pub max_tokens: Option<u64>,
    /// the completion cap the hold covers: `max_tokens`, else `default_max_tokens`
    /// (0 for embeddings)
    pub completion_cap: u64,
    /// number of choices `n` (default 1)
    pub n: u64,
    /// [`super::tokens::prompt_tokens_estimate`] of the body
    pub prompt_tokens: u64,
    /// the gateway added `include_usage`: strip the usage-only chunk
    pub strip_usage: bool,
    /// what is forwarded upstream
    pub body: Bytes,
}

/// A 400 answer: `OpenAI`'s error object fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    pub message: String,
    pub param: Option<&'static str>,
    pub code: &'static str,
}

impl RequestError {
    fn invalid_json(message: String) -> Self {
        Self {
            message,
            param: None,
            code: "invalid_json",
        }
    }

    fn bad(param: &'static str, message: &str) -> Self {
        Self {
            message: format!("{param}: {message}"),
            param: Some(param),
            code: "invalid_value",
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RequestError {}

/// A JSON integer >= 1 (bools and floats refused, as Python's `isinstance(value, int)`).
fn positive_int(value: &Value) -> Option<u64> {
    value.as_u64().filter(|&v| v >= 1)
}

/// Python truthiness, for `stream_options.include_usage`.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f.abs() > 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A member that may be present as `null`, which counts as absent.
fn member<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).filter(|v| !v.is_null())
}

/// Checks `raw` for `endpoint` and builds the body to forward.
///
/// `default_max_tokens` is the completion cap used (and injected upstream) when the client
/// sent none; 0 disables the injection.
pub fn parse_request(
    raw: &[u8],
    endpoint: Endpoint,
    default_max_tokens: u64,
) -> Result<ParsedRequest, RequestError> {
    let fields: Value = serde_json::from_slice(raw).map_err(|e| {
        RequestError::invalid_json(format!("the request body is not valid JSON ({e})"))
    })?;
    let Value::Object(mut map) = fields else {
        return Err(RequestError::invalid_json(
            "the request body must be a JSON object".into(),
        ));
    };
    let model = match map.get("model") {
        Some(Value::String(model)) if !model.is_empty() => model.clone(),
        _ => return Err(RequestError::bad("model", "a model name is required")),
    };
    let stream = match member(&map, "stream") {
        None => false,
        Some(Value::Bool(stream)) => *stream,
        Some(_) => return Err(RequestError::bad("stream", "must be true or false")),
    };
    if stream && !endpoint.streams() {
        return Err(RequestError::bad(
            "stream",
            &format!("{} does not stream", endpoint.name()),
        ));
    }
    let mut max_tokens = None;
    for name in ["max_completion_tokens", "max_tokens"] {
        if let Some(value) = member(&map, name) {
            let value = positive_int(value)
                .ok_or_else(|| RequestError::bad(name, "must be a positive integer"))?;
            max_tokens = Some(value);
            break;
        }
    }
    let n = match member(&map, "n") {
        None => 1,
        Some(value) => positive_int(value)
            .filter(|&n| n <= MAX_CHOICES)
            .ok_or_else(|| RequestError::bad("n", "must be a positive integer"))?,
    };

    // What the forwarded body lacks. A member present as `null` (or an options object
    // without include_usage) cannot be spliced (the client's member would come later and
    // win in last-wins parsers): the object is then re-encoded instead.
    let mut add_usage = false;
    if stream {
        let options = member(&map, "stream_options");
        if options.is_some_and(|o| !o.is_object()) {
            return Err(RequestError::bad("stream_options", "must be an object"));
        }
        // Usage is how streams are metered exactly: ask for it on the client's behalf.
        add_usage = !options
            .and_then(|o| o.get("include_usage"))
            .is_some_and(truthy);
    }
    let add_cap =
        endpoint != Endpoint::Embeddings && max_tokens.is_none() && default_max_tokens > 0;
    let reencode = (add_usage && map.contains_key("stream_options"))
        || (add_cap && map.contains_key("max_tokens"));

    let prompt_tokens = prompt_tokens_in(&map);
    let body = if reencode {
        if add_usage {
            let options = map.entry("stream_options").or_insert(Value::Null);
            if !options.is_object() {
                *options = Value::Object(Map::new());
            }
            if let Value::Object(options) = options {
                options.insert("include_usage".into(), Value::Bool(true));
            }
        }
        if add_cap {
            map.insert("max_tokens".into(), default_max_tokens.into());
        }
        // Serialising a Value cannot fail (string keys only).
        Bytes::from(serde_json::to_vec(&map).expect("a JSON value serialises"))
    } else if add_usage || add_cap {
        // The object parsed, so its first `{` is the opening one (nothing precedes it but
        // whitespace).
        let start = raw.iter().position(|&b| b == b'{').map_or(0, |i| i + 1);
        let mut body = Vec::with_capacity(raw.len() + INCLUDE_USAGE.len() + 32);
        body.extend_from_slice(&raw[..start]);
        if add_usage {
            body.extend_from_slice(INCLUDE_USAGE);
        }
        if add_cap {
            body.extend_from_slice(format!("\"max_tokens\":{default_max_tokens},").as_bytes());
        }
        body.extend_from_slice(&raw[start..]);
        Bytes::from(body)
    } else {
        Bytes::copy_from_slice(raw)
    };
    let completion_cap = match endpoint {
        Endpoint::Embeddings => 0,
        _ => max_tokens.unwrap_or(default_max_tokens),
    };
    Ok(ParsedRequest {
        model,
        stream,
        max_tokens,
        completion_cap,
        n,
        prompt_tokens,
        strip_usage: add_usage,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(raw: &str, endpoint: Endpoint) -> Result<ParsedRequest, RequestError> {
        parse_request(raw.as_bytes(), endpoint, 256)
    }

    fn err(raw: &str, endpoint: Endpoint) -> RequestError {
        parse(raw, endpoint).expect_err("refused")
    }

    fn body_json(req: &ParsedRequest) -> Value {
        serde_json::from_slice(&req.body).expect("forwarded body is JSON")
    }

    #[test]
    fn endpoints() {
        assert_eq!(Endpoint::Chat.name(), "chat.completions");
        assert_eq!(Endpoint::Completions.upstream_path(), "/v1/completions");
        assert_eq!(Endpoint::Embeddings.upstream_path(), "/v1/embeddings");
        assert!(Endpoint::Chat.streams() && !Endpoint::Embeddings.streams());
    }

    #[test]
    fn body_errors() {
        let e = err("{nope", Endpoint::Chat);
        assert!(
            e.message
                .starts_with("the request body is not valid JSON ("),
            "{}",
            e.message
        );
        assert_eq!((e.param, e.code), (None, "invalid_json"));
        let e = err("[1]", Endpoint::Chat);
        assert_eq!(e.message, "the request body must be a JSON object");
        assert_eq!(e.code, "invalid_json");
    }

    #[test]
    fn field_errors() {
        let cases = [
            (
                r#"{"messages":[]}"#,
                "model: a model name is required",
                "model",
            ),
            (
                r#"{"model":""}"#,
                "model: a model name is required",
                "model",
            ),
            (r#"{"model":3}"#, "model: a model name is required", "model"),
            (
                r#"{"model":"m","stream":"yes"}"#,
                "stream: must be true or false",
                "stream",
            ),
            (
                r#"{"model":"m","max_completion_tokens":0,"max_tokens":5}"#,
                "max_completion_tokens: must be a positive integer",
                "max_completion_tokens",
            ),
            (
                r#"{"model":"m","max_tokens":true}"#,
                "max_tokens: must be a positive integer",
                "max_tokens",
            ),
            (
                r#"{"model":"m","max_tokens":2.5}"#,
                "max_tokens: must be a positive integer",
                "max_tokens",
            ),
            (
                r#"{"model":"m","max_tokens":-1}"#,
                "max_tokens: must be a positive integer",
                "max_tokens",
            ),
            (
                r#"{"model":"m","n":0}"#,
                "n: must be a positive integer",
                "n",
            ),
            (
                r#"{"model":"m","n":129}"#,
                "n: must be a positive integer",
                "n",
            ),
            (
                r#"{"model":"m","n":"2"}"#,
                "n: must be a positive integer",
                "n",
            ),
            (
                r#"{"model":"m","stream":true,"stream_options":[]}"#,
                "stream_options: must be an object",
                "stream_options",
            ),
        ];
        for (raw, message, param) in cases {
            let e = err(raw, Endpoint::Chat);
            assert_eq!(e.message, message, "{raw}");
            assert_eq!((e.param, e.code), (Some(param), "invalid_value"), "{raw}");
        }
        let e = err(r#"{"model":"m","stream":true}"#, Endpoint::Embeddings);
        assert_eq!(e.message, "stream: embeddings does not stream");
    }

    #[test]
    fn plain_body_is_forwarded_unchanged() {
        let raw = r#" {"model":"m","max_tokens":7,"n":3,"stream":null,"prompt":"abcdefgh"}"#;
        let req = parse(raw, Endpoint::Completions).unwrap();
        assert_eq!(&req.body[..], raw.as_bytes());
        assert_eq!(
            (req.model.as_str(), req.stream, req.strip_usage),
            ("m", false, false)
        );
        assert_eq!((req.max_tokens, req.completion_cap, req.n), (Some(7), 7, 3));
        assert_eq!(req.prompt_tokens, 2);
        // max_completion_tokens wins; a null one is skipped.
        let req = parse(
            r#"{"model":"m","max_completion_tokens":9,"max_tokens":5}"#,
            Endpoint::Chat,
        );
        assert_eq!(req.unwrap().max_tokens, Some(9));
        let req = parse(
            r#"{"model":"m","max_completion_tokens":null,"max_tokens":5}"#,
            Endpoint::Chat,
        );
        assert_eq!(req.unwrap().max_tokens, Some(5));
    }

    #[test]
    fn stream_gets_include_usage_and_cap_spliced() {
        let raw = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
        let req = parse(raw, Endpoint::Chat).unwrap();
        assert!(req.stream && req.strip_usage);
        assert_eq!((req.max_tokens, req.completion_cap), (None, 256));
        let expected = format!(
            r#"{{"stream_options":{{"include_usage":true}},"max_tokens":256,{}"#,
            &raw[1..]
        );
        assert_eq!(std::str::from_utf8(&req.body).unwrap(), expected);
    }

    #[test]
    fn client_include_usage_is_kept() {
        let raw =
            r#"{"model":"m","stream":true,"max_tokens":5,"stream_options":{"include_usage":1}}"#;
        let req = parse(raw, Endpoint::Completions).unwrap();
        assert!(!req.strip_usage);
        assert_eq!(&req.body[..], raw.as_bytes());
    }

    #[test]
    fn present_options_are_reencoded() {
        let raw = r#"{"model":"m","stream":true,"max_tokens":null,"stream_options":{"x":1,"include_usage":false}}"#;
        let req = parse(raw, Endpoint::Chat).unwrap();
        assert!(req.strip_usage);
        assert_eq!(
            body_json(&req),
            json!({"model":"m","stream":true,"max_tokens":256,"stream_options":{"x":1,"include_usage":true}})
        );
        let raw = r#"{"model":"m","stream":true,"max_tokens":4,"stream_options":null}"#;
        let req = parse(raw, Endpoint::Chat).unwrap();
        assert_eq!(
            body_json(&req)["stream_options"],
            json!({"include_usage":true})
        );
    }

    #[test]
    fn cap_injection_rules() {
        // no cap for embeddings, nor with default 0
        let raw = r#"{"model":"e","input":["abcd","ab"]}"#;
        let req = parse(raw, Endpoint::Embeddings).unwrap();
        assert_eq!(
            (&req.body[..], req.completion_cap, req.prompt_tokens),
            (raw.as_bytes(), 0, 2)
        );
        let raw = r#"{"model":"m","prompt":"x"}"#;
        let req = parse_request(raw.as_bytes(), Endpoint::Completions, 0).unwrap();
        assert_eq!((&req.body[..], req.completion_cap), (raw.as_bytes(), 0));
        // a null max_tokens is replaced, not shadowed by a spliced duplicate
        let raw = r#"{"model":"m","max_tokens":null}"#;
        let req = parse(raw, Endpoint::Completions).unwrap();
        assert_eq!(body_json(&req), json!({"model":"m","max_tokens":256}));
        // a null max_completion_tokens allows the splice
        let raw = r#"{"model":"m","max_completion_tokens":null}"#;
        let req = parse(raw, Endpoint::Chat).unwrap();
        assert_eq!(
            &req.body[..],
            br#"{"max_tokens":256,"model":"m","max_completion_tokens":null}"#
        );
    }

    #[test]
    fn stream_options_ignored_when_not_streaming() {
        let raw = r#"{"model":"m","max_tokens":3,"stream_options":5}"#;
        assert!(parse(raw, Endpoint::Chat).is_ok());
    }
}
