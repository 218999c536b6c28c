//! Watches a forwarded response go by: usage, time to first token, delivered text (twin of
//! `gateway/response_meter.py`, without ever holding a whole body).
//!
//! Streams (SSE) are forwarded in whole events (see `sse`). Each event's data is scanned
//! once: a non-null `usage` is recorded (and the usage-only chunk removed when the gateway
//! asked for it on the client's behalf: clients that did not ask may index `choices[0]`),
//! and until usage is known the characters of the choices' text are added up. The bytes
//! `feed` returns are taken as delivered: they are counted when returned, so a caller that
//! drops them (client gone) bills them anyway, as the upstream produced them.
//!
//! JSON answers pass through untouched; a small incremental scanner (no tree, no copy of
//! the body) captures the top-level `usage` value and counts the choices' text, so the
//! estimate still works when an upstream reports no usage.
//!
//! Text is what Python's `_choices_text` reads: `choices[*]` itself, its `delta` and its
//! `message`, members `content` / `text` / `reasoning_content` holding a string.

use bytes::{Bytes, BytesMut};
use serde::Deserialize;

use super::sse::{self, SseFramer};
use super::tokens::tokens_for_chars;

/// Bytes of a `usage` value kept for decoding; real ones are a few hundred bytes.
const USAGE_CAPTURE_LIMIT: usize = 4 * 1024;
/// Nesting beyond this is treated as malformed (`serde_json`'s own recursion limit).
const MAX_DEPTH: usize = 128;

/// Tokens of one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// counted by the gateway (no usage from the upstream)
    pub estimated: bool,
}

/// Missing counts are 0, as Python's `_UsageBody` defaults; other members are ignored.
#[derive(Deserialize)]
struct UsageBody {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Value,
    ValueOrEnd,
    Key,
    KeyOrEnd,
    Colon,
    CommaOrEnd,
    Done,
}

/// What a container (or a string) is to the meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Root,
    Choices,
    Choice,
    /// `delta` or `message` of a choice
    Holder,
    /// a string whose characters are counted
    Text,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Usage,
    Choices,
    Holder,
    Text,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    Structure,
    Scalar,
    Str {
        key: bool,
        text: bool,
    },
    /// after a backslash
    Escape {
        key: bool,
        text: bool,
    },
    /// in the 4 hex digits of `\u`; `low`: so far a low surrogate (its pair's second half,
    /// counted with the first as one character, as Python decodes it)
    Hex {
        key: bool,
        text: bool,
        left: u8,
        low: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UsageSeen {
    Absent,
    Null,
    Seen(u64, u64),
    /// not decodable: Python's decoder would reject the whole body
    Invalid,
}

/// A byte-at-a-time JSON scanner: checks the structure (scalars are not checked inside),
/// tracks where it is relative to `choices` and the top-level `usage`. Any split of the
/// input gives the same state.
// The flags are independent facts gathered by one scan, not a mode an enum would name.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug)]
struct JsonScanner {
    /// (is an object, role) of the open containers
    stack: Vec<(bool, Role)>,
    expect: Expect,
    lex: Lex,
    key: [u8; 24],
    /// bytes of the key read so far; beyond `key.len()` it matches nothing
    key_len: usize,
    last_key: Key,
    root_object: bool,
    error: bool,
    chars: u64,
    first_text: bool,
    /// `choices` had an element
    choices: bool,
    capturing: bool,
    /// start of the capture in the bytes being fed
    cap_from: usize,
    capture: Vec<u8>,
    capture_overflow: bool,
    usage: UsageSeen,
}

impl JsonScanner {
    fn new() -> Self {
        Self {
            stack: Vec::new(),
            expect: Expect::Value,
            lex: Lex::Structure,
            key: [0; 24],
            key_len: 0,
            last_key: Key::Other,
            root_object: false,
            error: false,
            chars: 0,
            first_text: false,
            choices: false,
            capturing: false,
            cap_from: 0,
            capture: Vec::new(),
            capture_overflow: false,
            usage: UsageSeen::Absent,
        }
    }

    /// Back to the start, keeping allocations.
    fn reset(&mut self) {
        let (mut stack, mut capture) = (
            std::mem::take(&mut self.stack),
            std::mem::take(&mut self.capture),
        );
        stack.clear();
        capture.clear();
        *self = Self {
            stack,
            capture,
            ..Self::new()
        };
    }

    /// A whole, well-formed object.
    fn valid(&self) -> bool {
        !self.error && self.expect == Expect::Done && self.root_object
    }

    fn usage(&self) -> Option<(u64, u64)> {
        match self.usage {
            UsageSeen::Seen(prompt, completion) => Some((prompt, completion)),
            _ => None,
        }
    }

    fn finish(&mut self) {
        if self.lex == Lex::Scalar && self.stack.is_empty() {
            self.lex = Lex::Structure;
            self.expect = Expect::Done; // a bare scalar: not an object, never valid
        }
    }

    fn feed(&mut self, data: &[u8]) {
        self.cap_from = 0;
        let mut i = 0;
        while i < data.len() && !self.error {
            let b = data[i];
            match self.lex {
                Lex::Structure => self.structure(data, i),
                Lex::Scalar if is_scalar_byte(b) => {}
                Lex::Scalar => {
                    self.lex = Lex::Structure;
                    self.end_value(data, i);
                    self.structure(data, i);
                }
                Lex::Str { key, text } => {
                    // The bulk of a body: jump to the next quote or backslash.
                    let end = data[i..]
                        .iter()
                        .position(|&b| b == b'"' || b == b'\\')
                        .map_or(data.len(), |p| i + p);
                    self.string_bytes(&data[i..end], key, text);
                    if end == data.len() {
                        break;
                    }
                    i = end;
                    if data[i] == b'"' {
                        self.lex = Lex::Structure;
                        if key {
                            self.last_key = self.key_name();
                            self.expect = Expect::Colon;
                        } else {
                            self.end_value(data, i + 1);
                        }
                    } else {
                        self.first_text |= text;
                        self.lex = Lex::Escape { key, text };
                    }
                }
                Lex::Escape { key, text } => {
                    if key {
                        self.key_len = usize::MAX; // escaped keys match nothing
                    }
                    if b == b'u' {
                        self.lex = Lex::Hex {
                            key,
                            text,
                            left: 4,
                            low: true,
                        };
                    } else {
                        self.chars += u64::from(text);
                        self.lex = Lex::Str { key, text };
                    }
                }
                Lex::Hex {
                    key,
                    text,
                    left,
                    low,
                } => {
                    let low = low
                        && match left {
                            4 => b.eq_ignore_ascii_case(&b'd'),
                            3 => matches!(b.to_ascii_lowercase(), b'c'..=b'f'),
                            _ => true,
                        };
                    self.lex = if left > 1 {
                        Lex::Hex {
                            key,
                            text,
                            left: left - 1,
                            low,
                        }
                    } else {
                        self.chars += u64::from(text && !low);
                        Lex::Str { key, text }
                    };
                }
            }
            i += 1;
        }
        if self.capturing && !self.error {
            self.append_capture(&data[self.cap_from..]);
        }
    }

    fn string_bytes(&mut self, span: &[u8], key: bool, text: bool) {
        if text && !span.is_empty() {
            self.first_text = true;
            // Characters: every byte that does not continue a UTF-8 sequence.
            self.chars += span.iter().filter(|&&b| b & 0xC0 != 0x80).count() as u64;
        }
        if key {
            if let Some(slot) = self
                .key
                .get_mut(self.key_len..self.key_len.saturating_add(span.len()))
            {
                slot.copy_from_slice(span);
                self.key_len += span.len();
            } else {
                self.key_len = usize::MAX;
            }
        }
    }

    fn key_name(&self) -> Key {
        match self.key.get(..self.key_len) {
            Some(b"usage") => Key::Usage,
            Some(b"choices") => Key::Choices,
            Some(b"delta" | b"message") => Key::Holder,
            Some(b"content" | b"text" | b"reasoning_content") => Key::Text,
            _ => Key::Other,
        }
    }

    fn structure(&mut self, data: &[u8], i: usize) {
        let b = data[i];
        let value_ok = matches!(self.expect, Expect::Value | Expect::ValueOrEnd);
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'{' | b'[' if value_ok && self.stack.len() < MAX_DEPTH => {
                let object = b == b'{';
                let role = self.begin_value(b, i);
                self.stack.push((object, role));
                self.expect = if object {
                    Expect::KeyOrEnd
                } else {
                    Expect::ValueOrEnd
                };
            }
            b'}' | b']' => {
                let object = b == b'}';
                let expected = match self.expect {
                    Expect::KeyOrEnd => object,
                    Expect::ValueOrEnd => !object,
                    Expect::CommaOrEnd => true,
                    _ => false,
                };
                if !expected || self.stack.pop().map(|(o, _)| o) != Some(object) {
                    self.error = true;
                    return;
                }
                self.end_value(data, i + 1);
            }
            b',' if self.expect == Expect::CommaOrEnd => {
                let object = self.stack.last().is_some_and(|&(o, _)| o);
                self.expect = if object { Expect::Key } else { Expect::Value };
            }
            b':' if self.expect == Expect::Colon => self.expect = Expect::Value,
            b'"' if matches!(self.expect, Expect::Key | Expect::KeyOrEnd) => {
                self.key_len = 0;
                self.lex = Lex::Str {
                    key: true,
                    text: false,
                };
            }
            b'"' if value_ok => {
                let text = self.begin_value(b, i) == Role::Text;
                self.lex = Lex::Str { key: false, text };
            }
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' if value_ok => {
                self.begin_value(b, i);
                self.lex = Lex::Scalar;
            }
            _ => self.error = true,
        }
    }

    /// A value starts at `data[i] == b`: its role, from its parent's role and member key.
    fn begin_value(&mut self, b: u8, i: usize) -> Role {
        let parent = self.stack.last().map(|&(_, role)| role);
        match (parent, self.last_key, b) {
            (None, _, b'{') => {
                self.root_object = true;
                Role::Root
            }
            (Some(Role::Root), Key::Usage, _) => {
                self.capturing = true;
                self.capture.clear();
                self.capture_overflow = false;
                self.cap_from = i;
                Role::Other
            }
            (Some(Role::Root), Key::Choices, b'[') => Role::Choices,
            (Some(Role::Choices), _, _) => {
                self.choices = true;
                if b == b'{' {
                    Role::Choice
                } else {
                    Role::Other
                }
            }
            (Some(Role::Choice), Key::Holder, b'{') => Role::Holder,
            (Some(Role::Choice | Role::Holder), Key::Text, b'"') => Role::Text,
            _ => Role::Other,
        }
    }

    /// A value ended just before `data[end]`.
    fn end_value(&mut self, data: &[u8], end: usize) {
        // Captures start in the root object, so a value ending there is the captured one.
        if self.capturing && self.stack.len() == 1 {
            self.capturing = false;
            self.append_capture(&data[self.cap_from..end]);
            self.usage = if self.capture_overflow {
                UsageSeen::Invalid
            } else {
                match serde_json::from_slice::<Option<UsageBody>>(&self.capture) {
                    Ok(Some(u)) => UsageSeen::Seen(u.prompt_tokens, u.completion_tokens),
                    Ok(None) => UsageSeen::Null,
                    Err(_) => UsageSeen::Invalid,
                }
            };
        }
        self.expect = if self.stack.is_empty() {
            Expect::Done
        } else {
            Expect::CommaOrEnd
        };
    }

    fn append_capture(&mut self, bytes: &[u8]) {
        if self.capture.len() + bytes.len() > USAGE_CAPTURE_LIMIT {
            self.capture_overflow = true;
        } else if !self.capture_overflow {
            self.capture.extend_from_slice(bytes);
        }
    }
}

/// Bytes of a number or literal; anything else ends it (and is then checked as structure).
fn is_scalar_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')
}

/// One response's observer. `feed(chunk)` returns the bytes to send on (maybe fewer).
#[derive(Debug)]
pub struct ResponseMeter {
    sse: bool,
    strip_usage: bool,
    framer: SseFramer,
    /// the JSON body (plain answers) or the current event's data (streams)
    scanner: JsonScanner,
    /// usage from the stream
    usage: Option<(u64, u64)>,
    /// characters of delivered text while no usage is known (streams)
    chars: u64,
    first_token: bool,
}

impl ResponseMeter {
    pub fn new(sse: bool, strip_usage: bool) -> Self {
        Self {
            sse,
            strip_usage,
            framer: SseFramer::new(),
            scanner: JsonScanner::new(),
            usage: None,
            chars: 0,
            first_token: false,
        }
    }

    /// Bytes to send on for this chunk: for SSE whole events only, the usage-only chunk
    /// removed when `strip_usage`; maybe empty.
    pub fn feed(&mut self, chunk: Bytes) -> Bytes {
        if !self.sse {
            self.scanner.feed(&chunk);
            self.first_token |= self.scanner.first_text;
            return chunk;
        }
        self.framer
            .push_bytes(chunk)
            .map_or_else(Bytes::new, |block| self.pass(block))
    }

    /// End of the upstream body: the held partial event (SSE; metered and stripped like a
    /// whole one), or nothing.
    pub fn finish(&mut self) -> Bytes {
        if !self.sse {
            self.scanner.finish();
            return Bytes::new();
        }
        let tail = self.framer.finish();
        if tail.is_empty() {
            tail
        } else {
            self.pass(tail)
        }
    }

    /// A chunk carried the first non-empty text (for time to first token).
    pub fn first_token_seen(&self) -> bool {
        self.first_token
    }

    /// Usage from the upstream when it reported it, else estimated from the delivered text.
    pub fn result(&self, prompt_estimate: u64) -> Usage {
        let (usage, chars) = if self.sse {
            (self.usage, self.chars)
        } else {
            let usage = if self.scanner.valid() {
                self.scanner.usage()
            } else {
                None
            };
            (usage, self.scanner.chars)
        };
        match usage {
            Some((prompt_tokens, completion_tokens)) => Usage {
                prompt_tokens,
                completion_tokens,
                estimated: false,
            },
            None => Usage {
                prompt_tokens: prompt_estimate,
                completion_tokens: tokens_for_chars(chars),
                estimated: true,
            },
        }
    }

    /// Meters the events of `block`; a copy is made only when one is removed.
    fn pass(&mut self, block: Bytes) -> Bytes {
        let mut kept: Option<BytesMut> = None;
        let mut start = 0;
        for event in sse::events(&block) {
            let drop = self.meter_event(event);
            match (&mut kept, drop) {
                (None, true) => kept = Some(BytesMut::from(&block[..start])),
                (Some(out), false) => out.extend_from_slice(event),
                _ => {}
            }
            start += event.len();
        }
        kept.map_or(block, BytesMut::freeze)
    }

    /// Records what `event` tells; true when it is to be removed.
    fn meter_event(&mut self, event: &[u8]) -> bool {
        let Some(data) = sse::data_of(event) else {
            return false;
        };
        let data = data.trim_ascii();
        if data == b"[DONE]" {
            return false;
        }
        let done_counting = self.usage.is_some() && self.first_token;
        if done_counting && !data.windows(7).any(|w| w == b"\"usage\"") {
            return false; // nothing left to learn from this event
        }
        self.scanner.reset();
        self.scanner.feed(data);
        self.scanner.finish();
        self.first_token |= self.scanner.first_text;
        if !self.scanner.valid() {
            return false; // as Python: an event that does not decode counts nothing
        }
        if let Some(usage) = self.scanner.usage() {
            self.usage = Some(usage);
            return self.strip_usage && !self.scanner.choices;
        }
        if self.usage.is_none() {
            self.chars += self.scanner.chars;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::fmt::Write as _;

    /// Feeds `input` cut at `cuts`; returns what was sent on and the meter.
    fn run(sse: bool, strip: bool, input: &[u8], cuts: &[usize]) -> (Vec<u8>, ResponseMeter) {
        let mut meter = ResponseMeter::new(sse, strip);
        let mut out = Vec::new();
        let mut from = 0;
        for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
            let cut = cut.clamp(from, input.len());
            out.extend_from_slice(&meter.feed(Bytes::copy_from_slice(&input[from..cut])));
            from = cut;
        }
        out.extend_from_slice(&meter.finish());
        (out, meter)
    }

    fn exact(prompt_tokens: u64, completion_tokens: u64) -> Usage {
        Usage {
            prompt_tokens,
            completion_tokens,
            estimated: false,
        }
    }

    fn estimated(prompt_tokens: u64, completion_tokens: u64) -> Usage {
        Usage {
            prompt_tokens,
            completion_tokens,
            estimated: true,
        }
    }

    const CHUNK: &str = r#"data: {"choices":[{"index":0,"delta":{"content":"Hello"}}]}"#;
    const USAGE: &str = r#"data: {"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#;

    fn stream(end: &str) -> String {
        [CHUNK, ": keepalive", USAGE, "data: [DONE]"].join(&format!("{end}{end}")) + end + end
    }

    #[test]
    fn sse_usage_found_at_every_split() {
        for end in ["\n", "\r\n"] {
            let input = stream(end);
            for cut in 0..=input.len() {
                let (out, meter) = run(true, false, input.as_bytes(), &[cut]);
                assert_eq!(out, input.as_bytes(), "cut {cut}");
                assert_eq!(meter.result(99), exact(12, 3), "cut {cut}");
                assert!(meter.first_token_seen());
            }
        }
    }

    #[test]
    fn usage_chunk_stripped_only_when_asked_and_choiceless() {
        let input = stream("\r\n");
        let (out, meter) = run(true, true, input.as_bytes(), &[10, 130]);
        let expected = format!("{CHUNK}\r\n\r\n: keepalive\r\n\r\ndata: [DONE]\r\n\r\n");
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        assert_eq!(meter.result(0), exact(12, 3));
        // usage riding on a chunk with choices is kept (the client needs the choice)
        let last = r#"data: {"choices":[{"delta":{"content":"!"}}],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#;
        let input = format!("{CHUNK}\n\n{last}\n\n");
        let (out, meter) = run(true, true, input.as_bytes(), &[]);
        assert_eq!(out, input.as_bytes());
        assert_eq!(meter.result(0), exact(1, 2));
        // absent choices, and a last event without its blank line
        let input = format!("{CHUNK}\n\ndata: {{\"usage\":{{\"prompt_tokens\":5}}}}\n");
        let (out, meter) = run(true, true, input.as_bytes(), &[3]);
        assert_eq!(out, format!("{CHUNK}\n\n").as_bytes());
        assert_eq!(meter.result(0), exact(5, 0));
    }

    #[test]
    fn null_usage_is_not_usage() {
        let input = format!("{CHUNK}\n\ndata: {{\"choices\":[],\"usage\":null}}\n\n");
        let (out, meter) = run(true, true, input.as_bytes(), &[]);
        assert_eq!(out, input.as_bytes());
        assert_eq!(meter.result(7), estimated(7, 2));
    }

    #[test]
    fn no_usage_estimates_delivered_text() {
        let input = concat!(
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"abc\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"d\\\"é\"}},{\"text\":\"gh\"}]}\n\n",
            "data: {\"choices\":[{\"message\":{\"content\":\"ij\"},\"logprobs\":{\"content\":\"zzzzzz\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"broken\"}}]\n\n",
            "data: {\"content\":\"not in choices\"}\n\n",
            "data: [DONE]\n\n",
        );
        let (out, meter) = run(true, true, input.as_bytes(), &[]);
        assert_eq!(out, input.as_bytes());
        // abc + d"é + gh + ij = 10 characters -> 3 tokens; broken/outside events count nothing
        assert_eq!(meter.result(5), estimated(5, 3));
    }

    #[test]
    fn first_token_waits_for_text() {
        let mut meter = ResponseMeter::new(true, false);
        meter.feed(Bytes::from_static(
            b"data: {\"choices\":[{\"delta\":{\"content\":\"\"}}]}\n\n",
        ));
        assert!(!meter.first_token_seen());
        meter.feed(Bytes::from_static(
            b"data: {\"choices\":[{\"delta\":{\"content\":\"x",
        ));
        assert!(
            !meter.first_token_seen(),
            "partial events are not delivered"
        );
        meter.feed(Bytes::from_static(b"\"}}]}\n\n"));
        assert!(meter.first_token_seen());
    }

    const JSON_USAGE: &str = r#""usage":{"prompt_tokens":20,"completion_tokens":8}"#;
    const JSON_CHOICES: &str = r#""choices":[{"index":0,"message":{"role":"assistant","content":"say \"hi\" \\ \u00e9\ud83d\ude00"}}]"#;

    #[test]
    fn json_usage_anywhere_at_top_level() {
        for body in [
            format!("{{{JSON_USAGE},\"id\":\"x\",{JSON_CHOICES}}}"),
            format!("{{\"id\":\"x\",{JSON_USAGE},{JSON_CHOICES}}}"),
            format!(" {{ \"id\" : [1, {{}}, null], {JSON_CHOICES} , {JSON_USAGE} }}\n"),
        ] {
            let (out, meter) = run(false, false, body.as_bytes(), &[]);
            assert_eq!(out, body.as_bytes());
            assert_eq!(meter.result(1), exact(20, 8), "{body}");
            assert!(meter.first_token_seen());
        }
    }

    #[test]
    fn json_without_usage_counts_characters() {
        // say "hi" \ é😀 = 14 characters (escapes decoded, the surrogate pair is one)
        let body = format!(
            "{{\"object\":{{\"usage\":{{\"prompt_tokens\":1}}}},{JSON_CHOICES},\"x\":{{{JSON_USAGE}}}}}"
        );
        let (_, meter) = run(false, false, body.as_bytes(), &[]);
        assert_eq!(meter.result(3), estimated(3, 4));
        let body = r#"{"choices":[{"text":"abcde"}],"usage":null}"#;
        assert_eq!(
            run(false, false, body.as_bytes(), &[]).1.result(0),
            estimated(0, 2)
        );
        let body = r#"{"data":[{"embedding":[0.1,-2e3]}],"usage":{"prompt_tokens":4}}"#;
        assert_eq!(
            run(false, false, body.as_bytes(), &[]).1.result(0),
            exact(4, 0)
        );
    }

    #[test]
    fn malformed_json_falls_back_to_the_count() {
        for body in [
            format!("{{{JSON_CHOICES},{JSON_USAGE}"),
            format!("{{{JSON_CHOICES},{JSON_USAGE}}}}}"),
            format!("{{{JSON_CHOICES},{JSON_USAGE}}} x"),
            format!("{{{JSON_CHOICES} {JSON_USAGE}}}"),
            format!("{{{JSON_CHOICES},\"usage\":{{\"prompt_tokens\":\"1\"}}}}"),
            format!(
                "{{{JSON_CHOICES},\"usage\":{{\"prompt_tokens\":1,\"pad\":\"{}\"}}}}",
                "a".repeat(5000)
            ),
        ] {
            let (_, meter) = run(false, false, body.as_bytes(), &[]);
            assert_eq!(meter.result(2), estimated(2, 4), "{body}");
        }
        let (_, meter) = run(false, false, b"[1,2]", &[]);
        assert_eq!(meter.result(2), estimated(2, 0));
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(
            run(false, false, deep.as_bytes(), &[]).1.result(0),
            estimated(0, 0)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn sse_splits_do_not_matter(
            texts in prop::collection::vec("[a-zé\"\\\\ ]{0,6}", 0..6),
            usage in any::<bool>(),
            strip in any::<bool>(),
            crlf in any::<bool>(),
            mut cuts in prop::collection::vec(0usize..600, 0..6),
        ) {
            let end = if crlf { "\r\n\r\n" } else { "\n\n" };
            let mut input = String::new();
            for text in &texts {
                let event = serde_json::json!({"choices": [{"delta": {"content": text}}]});
                write!(input, "data: {event}{end}: c{end}").unwrap();
            }
            if usage {
                write!(input, "{USAGE}{end}").unwrap();
            }
            write!(input, "data: [DONE]{end}").unwrap();
            cuts.sort_unstable();
            let (whole_out, whole) = run(true, strip, input.as_bytes(), &[]);
            let (out, meter) = run(true, strip, input.as_bytes(), &cuts);
            prop_assert_eq!(out, whole_out);
            prop_assert_eq!(meter.result(1), whole.result(1));
            prop_assert_eq!(meter.first_token_seen(), whole.first_token_seen());
            let chars: usize = texts.iter().map(|t| t.chars().count()).sum();
            let expected = if usage { exact(12, 3) } else { estimated(1, tokens_for_chars(chars as u64)) };
            prop_assert_eq!(meter.result(1), expected);
        }

        #[test]
        fn json_splits_do_not_matter(
            text in "[a-z\"\\\\é😀 ]{0,12}",
            usage_at in 0usize..3,
            mut cuts in prop::collection::vec(0usize..300, 0..6),
        ) {
            let choices = serde_json::json!([{"message": {"content": text}, "usage": 5}]);
            let mut members = vec![format!("\"choices\":{choices}"), "\"id\":\"u\\\"sage\"".into()];
            members.insert(usage_at.min(members.len()), JSON_USAGE.into());
            let body = format!("{{{}}}", members.join(","));
            cuts.sort_unstable();
            let (out, meter) = run(false, false, body.as_bytes(), &cuts);
            prop_assert_eq!(out, body.as_bytes());
            prop_assert_eq!(meter.result(0), exact(20, 8));
            prop_assert_eq!(meter.scanner.chars, text.chars().count() as u64);
            prop_assert_eq!(meter.first_token_seen(), !text.is_empty());
            // cut short: the estimate from the same text
            let (_, meter) = run(false, false, &body.as_bytes()[..body.len() - 1], &cuts);
            prop_assert_eq!(meter.result(0), estimated(0, tokens_for_chars(text.chars().count() as u64)));
        }
    }
}
