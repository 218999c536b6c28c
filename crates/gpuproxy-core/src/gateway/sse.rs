//! Server-sent events, cut at event boundaries.
//!
//! Streamed answers are forwarded in whole events: a partial event is useless to the
//! client and cannot be metered, so it waits for its end. Per the SSE spec lines end with
//! `\r\n`, `\n` or `\r`, and an event ends at a blank line; upstreams mostly send `\n\n`
//! but nothing here relies on it. A `\r` that ends the bytes read so far is ambiguous (a
//! `\n` may follow in the next read), so it is never taken as a boundary until the next
//! byte is known: where reads are split never changes where events are cut.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};

/// Where a scan for the end of an event stands.
#[derive(Debug, Default, Clone, Copy)]
struct Scan {
    /// start of the current line
    line_start: usize,
    /// first byte not scanned yet
    pos: usize,
}

impl Scan {
    /// The offset just past the next blank line of `data`, scanning from `self.pos`.
    /// Without `eof`, a `\r` ending `data` stops the scan before it.
    fn next_end(&mut self, data: &[u8], eof: bool) -> Option<usize> {
        let mut i = self.pos;
        while let Some(off) = data[i..].iter().position(|&b| b == b'\n' || b == b'\r') {
            let at = i + off;
            let end = match (data[at], data.get(at + 1)) {
                (b'\r', Some(b'\n')) => at + 2,
                (b'\r', None) if !eof => {
                    self.pos = at;
                    return None;
                }
                _ => at + 1,
            };
            let blank = at == self.line_start;
            self.line_start = end;
            i = end;
            if blank {
                self.pos = end;
                return Some(end);
            }
        }
        self.pos = data.len();
        None
    }

    /// The offset just past the last blank line of `data` (scanned from `self.pos`).
    fn last_end(&mut self, data: &[u8]) -> Option<usize> {
        let mut last = None;
        while let Some(end) = self.next_end(data, false) {
            last = Some(end);
        }
        last
    }

    /// The scan of `data[cut..]`, where `cut` is an event end already passed.
    fn shifted(self, cut: usize) -> Self {
        Self {
            line_start: self.line_start - cut,
            pos: self.pos - cut,
        }
    }
}

/// Cuts a byte stream into runs of whole events; holds the partial last event.
#[derive(Debug, Default)]
pub struct SseFramer {
    tail: BytesMut,
    scan: Scan,
}

impl SseFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// The whole events completed by `chunk` (with any held bytes before them), or None.
    pub fn push(&mut self, chunk: &[u8]) -> Option<Bytes> {
        self.tail.extend_from_slice(chunk);
        let cut = self.scan.last_end(&self.tail)?;
        self.scan = self.scan.shifted(cut);
        Some(self.tail.split_to(cut).freeze())
    }

    /// [`Self::push`] for an owned chunk: when nothing is held, the events are a slice of
    /// `chunk` (no copy), and only a partial last event is copied aside.
    pub fn push_bytes(&mut self, chunk: Bytes) -> Option<Bytes> {
        if !self.tail.is_empty() {
            return self.push(&chunk);
        }
        let mut scan = Scan::default();
        let Some(cut) = scan.last_end(&chunk) else {
            self.scan = scan;
            self.tail.extend_from_slice(&chunk);
            return None;
        };
        self.scan = scan.shifted(cut);
        self.tail.extend_from_slice(&chunk[cut..]);
        let mut events = chunk;
        events.truncate(cut);
        Some(events)
    }

    /// Bytes held (a partial event).
    pub fn held(&self) -> usize {
        self.tail.len()
    }

    /// At the end of the stream: what remains (an unterminated last event), maybe empty.
    pub fn finish(&mut self) -> Bytes {
        self.scan = Scan::default();
        self.tail.split().freeze()
    }
}

/// The events of `block`, each with its terminating blank line; a last event without one
/// (the remainder of a stream) is yielded as is.
pub fn events(block: &[u8]) -> Events<'_> {
    Events { rest: block }
}

/// Iterator of [`events`].
#[derive(Debug, Clone)]
pub struct Events<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Events<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let end = Scan::default()
            .next_end(self.rest, true)
            .unwrap_or(self.rest.len());
        let (event, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(event)
    }
}

/// The lines of `event`, without their terminators.
fn lines(event: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = event;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let Some(at) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else {
            return Some(std::mem::take(&mut rest));
        };
        let line = &rest[..at];
        let skip = if rest[at] == b'\r' && rest.get(at + 1) == Some(&b'\n') {
            2
        } else {
            1
        };
        rest = &rest[at + skip..];
        Some(line)
    })
}

/// The data of one event: its `data` lines joined by `\n` (one leading space of each value
/// dropped), or None when it has none. Comments (`:` lines) and other fields are ignored.
pub fn data_of(event: &[u8]) -> Option<Cow<'_, [u8]>> {
    let mut data: Option<Cow<'_, [u8]>> = None;
    for line in lines(event) {
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(0) => continue, // a comment
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        if name != b"data" {
            continue;
        }
        data = Some(match data {
            None => Cow::Borrowed(value),
            // Several data lines are rare: only they allocate.
            Some(joined) => {
                let mut joined = joined.into_owned();
                joined.push(b'\n');
                joined.extend_from_slice(value);
                Cow::Owned(joined)
            }
        });
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn feed_split(input: &[u8], cuts: &[usize]) -> Vec<Bytes> {
        let mut framer = SseFramer::new();
        let mut out = Vec::new();
        let mut from = 0;
        for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
            let cut = cut.clamp(from, input.len());
            // alternate the copying and the zero-copy entry points
            let piece = &input[from..cut];
            let got = if cut % 2 == 0 {
                framer.push(piece)
            } else {
                framer.push_bytes(Bytes::copy_from_slice(piece))
            };
            out.extend(got);
            from = cut;
        }
        let rest = framer.finish();
        if !rest.is_empty() {
            out.push(rest);
        }
        out
    }

    fn all_events(blocks: &[Bytes]) -> Vec<Vec<u8>> {
        blocks
            .iter()
            .flat_map(|b| events(b).map(<[u8]>::to_vec))
            .collect()
    }

    #[test]
    fn holds_partial_event() {
        let mut framer = SseFramer::new();
        assert_eq!(framer.push(b"data: a\n"), None);
        assert_eq!(
            framer.push(b"\ndata: b"),
            Some(Bytes::from_static(b"data: a\n\n"))
        );
        assert_eq!(framer.held(), 7);
        assert_eq!(
            framer.push(b"\n\ndata: c\n\n"),
            Some(Bytes::from_static(b"data: b\n\ndata: c\n\n"))
        );
        assert_eq!(framer.held(), 0);
        assert_eq!(
            framer
                .push_bytes(Bytes::from_static(b"data: d\r\n\r\ndata"))
                .as_deref(),
            Some(&b"data: d\r\n\r\n"[..])
        );
        assert_eq!(&framer.finish()[..], b"data");
        assert!(framer.finish().is_empty());
    }

    #[test]
    fn trailing_cr_waits_for_next_byte() {
        let mut framer = SseFramer::new();
        assert_eq!(framer.push(b"data: a\r\r"), None);
        let got = framer.push(b"\ndata: b").unwrap();
        assert_eq!(&got[..], b"data: a\r\r\n");
        let mut framer = SseFramer::new();
        assert_eq!(framer.push(b"data: a\r\r"), None);
        assert_eq!(&framer.push(b"data: b").unwrap()[..], b"data: a\r\r");
    }

    #[test]
    fn splits_mixed_line_endings() {
        let block = b"data: 1\n\ndata: 2\r\n\r\ndata: 3\r\rdata: 4\n\r\n: c\n\ndata: 5";
        let got: Vec<&[u8]> = events(block).collect();
        assert_eq!(
            got,
            [
                &b"data: 1\n\n"[..],
                b"data: 2\r\n\r\n",
                b"data: 3\r\r",
                b"data: 4\n\r\n",
                b": c\n\n",
                b"data: 5"
            ]
        );
    }

    #[test]
    fn data_lines() {
        assert_eq!(
            data_of(b"data: {\"a\":1}\n\n").as_deref(),
            Some(&b"{\"a\":1}"[..])
        );
        assert_eq!(data_of(b"data:x\r\n\r\n").as_deref(), Some(&b"x"[..]));
        assert_eq!(data_of(b"data:  two\n\n").as_deref(), Some(&b" two"[..]));
        assert_eq!(data_of(b": keepalive\n\n"), None);
        assert_eq!(data_of(b"event: ping\nid: 3\n\n"), None);
        assert_eq!(data_of(b"data:\n\n").as_deref(), Some(&b""[..]));
        assert_eq!(data_of(b"data\n\n").as_deref(), Some(&b""[..]));
        assert_eq!(
            data_of(b"data: a\n: c\nevent: e\ndata: b\rdata\n\n").as_deref(),
            Some(&b"a\nb\n"[..])
        );
        assert_eq!(data_of(b"datum: a\n\n"), None);
    }

    #[test]
    fn every_split_offset_gives_the_same_events() {
        let input: &[u8] =
            b": hi\r\n\r\ndata: {\"x\":\"a\\n\"}\r\n\r\ndata: 2\n\ndata:\n\nevent: e\rdata: 3\r\rdata: 4\r\n\ndata: [DONE]\n\n";
        let whole = all_events(&feed_split(input, &[]));
        assert_eq!(whole.len(), 7);
        for a in 0..=input.len() {
            for b in a..=input.len() {
                let blocks = feed_split(input, &[a, b]);
                assert_eq!(all_events(&blocks), whole, "split at {a},{b}");
                assert_eq!(blocks.concat(), input);
            }
        }
    }

    fn event_strategy() -> impl Strategy<Value = Vec<u8>> {
        let line = prop_oneof![
            "data: [a-z\"{} ]{0,8}".prop_map(String::into_bytes),
            ": [a-z ]{0,5}".prop_map(String::into_bytes),
            Just(b"data:".to_vec()),
            Just(b"event: x".to_vec()),
        ];
        let end = prop_oneof![Just(&b"\n"[..]), Just(&b"\r\n"[..]), Just(&b"\r"[..])];
        (prop::collection::vec((line, end.clone()), 1..4), end).prop_map(|(lines, blank)| {
            let mut event = Vec::new();
            for (line, end) in lines {
                event.extend_from_slice(&line);
                event.extend_from_slice(end);
            }
            event.extend_from_slice(blank);
            event
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn arbitrary_splits_keep_events(
            evs in prop::collection::vec(event_strategy(), 1..8),
            mut cuts in prop::collection::vec(0usize..200, 0..8),
        ) {
            let input = evs.concat();
            cuts.sort_unstable();
            let blocks = feed_split(&input, &cuts);
            prop_assert_eq!(blocks.concat(), input.clone());
            let whole = all_events(&feed_split(&input, &[]));
            prop_assert_eq!(all_events(&blocks), whole.clone());
            let data: Vec<_> = whole.iter().map(|e| data_of(e).map(Cow::into_owned)).collect();
            let direct: Vec<_> = events(&input).map(|e| data_of(e).map(Cow::into_owned)).collect();
            prop_assert_eq!(data, direct);
        }
    }
}
