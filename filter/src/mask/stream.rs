//! A response body masked as it streams: fed each chunk, [`Streamer::feed`] returns the bytes to
//! let go now, so streams stay streams and nothing waits in Envoy's buffer.
//!
//! - Text holds back the last [`Masker::window`] bytes, after the 64 let-go bytes before them
//!   (the context a keyword look-back reads) and a table's header row (what names its columns):
//!   a value split across chunks is found whole, and the output is the same however the body is
//!   cut. A value longer than the window is cut at its end, except a private
//!   key block, whose rest is dropped up to its END line (or a closing quote): fail closed.
//! - NDJSON holds the current line, SSE the current event (framed by [`Framer`]), each up to
//!   `mask.max_body_bytes`: a complete line is masked as a JSON document (field rules too), an
//!   event as soon as its blank line arrives, its `data:` as the JSON it carries when it parses,
//!   else as text.
//! - A JSON (or form-encoded) document is held whole here (never in Envoy's buffer), up to
//!   `mask.max_body_bytes`, and masked at the end of the stream.
//!
//! Compressed bodies are decoded chunk by chunk, what one chunk decodes to bounded by the larger
//! of `mask.max_body_bytes` and 16 MiB (more is taken for a compression bomb).

use std::collections::BTreeMap;

use super::{detectors, BodyKind, MaskCache, Masked, Masker};
use crate::http::encoding::{Decoded, StreamDecoder};
use crate::http::sse::{Flow, Framer, Oversize};

/// How a body is cut into the pieces that are masked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// One JSON document per line (`application/x-ndjson`, `application/jsonl`).
    Ndjson,
    /// Server-sent events (`text/event-stream`).
    Sse,
    /// One JSON document.
    Json,
    /// One form-encoded document (`application/x-www-form-urlencoded`).
    Form,
}

impl Kind {
    /// What a body held whole is masked as: `None` for the kinds that stream.
    pub fn document(self) -> Option<BodyKind> {
        match self {
            Kind::Json => Some(BodyKind::Json),
            Kind::Form => Some(BodyKind::Form),
            Kind::Text | Kind::Ndjson | Kind::Sse => None,
        }
    }
}

/// One response body on its way through the masker.
pub struct Streamer {
    kind: Kind,
    decoder: Option<StreamDecoder>,
    /// Decoded bytes not let go yet (for text, after `context` let-go bytes); SSE holds in
    /// `framer` instead.
    held: Vec<u8>,
    /// SSE: the event still incomplete.
    framer: Framer,
    context: usize,
    /// Text: the length of the body's header row kept at the front of `held` (0 when the body
    /// is not a table), decided when the first bytes are dropped.
    header: Option<usize>,
    /// NDJSON: where the search for the end of the current line resumes.
    searched: usize,
    /// Text: inside a private key block cut by the window.
    in_key: bool,
    /// Masking was given up: decoded bytes go as they are.
    passing: bool,
    /// The bound on a held line, event or document.
    limit: usize,
    /// Masked before the error that gave masking up, not let go yet.
    masked_unsent: Vec<u8>,
    pub counts: BTreeMap<String, u32>,
}

/// What one compressed chunk may decode to, at least: Envoy hands over up to about a megabyte at
/// a time, and text compresses tenfold; a chunk decoding to more is taken for a bomb.
const DECODED_CHUNK_FLOOR: usize = 16 << 20;

/// The let-go bytes a streamed text keeps before what it holds: the longest keyword look-back.
const LOOK_BACK: usize = 64;

/// How far back an END line split across chunks is looked for.
const KEY_END_TAIL: usize = 64;

impl Streamer {
    /// A body of `kind`; `encodings` are undone first (none when empty).
    pub fn new<'h>(masker: &Masker, kind: Kind, encodings: impl Iterator<Item = &'h str>) -> Result<Streamer, String> {
        let limit = usize::try_from(masker.max_body_bytes).unwrap_or(usize::MAX);
        let encodings: Vec<&str> = encodings.filter(|e| !e.trim().is_empty()).collect();
        let chunk_limit = limit.max(DECODED_CHUNK_FLOOR);
        let decoder = if encodings.is_empty() { None } else { Some(StreamDecoder::new(encodings.into_iter(), chunk_limit)?) };
        let (held, framer, context, header, searched) = (Vec::new(), Framer::new(limit), 0, None, 0);
        let (in_key, passing, counts, masked_unsent) = (false, false, BTreeMap::new(), Vec::new());
        Ok(Streamer { kind, decoder, held, framer, context, header, searched, in_key, passing, limit, masked_unsent, counts })
    }

    /// The bytes to let go for `chunk`. `Err` says why the body cannot be masked: the caller
    /// withholds the rest or calls [`Streamer::pass`].
    pub fn feed(&mut self, masker: &Masker, cache: &mut MaskCache, chunk: &[u8], end: bool) -> Result<Vec<u8>, String> {
        let decoded = self.decode(chunk, end);
        if self.passing {
            return Ok(decoded.unwrap_or_default());
        }
        let decoded = decoded?;
        if self.kind == Kind::Sse {
            return self.events(masker, cache, &decoded, end);
        }
        self.held.extend(decoded);
        match (self.kind, self.kind.document()) {
            (_, Some(body)) => self.document(masker, cache, body, end),
            (Kind::Ndjson, None) => self.lines(masker, cache, end),
            _ => Ok(self.text(masker, cache, end)),
        }
    }

    /// Gives masking up: the bytes held, unmasked, and from now on every chunk as it decodes.
    pub fn pass(&mut self) -> Vec<u8> {
        self.passing = true;
        let held = std::mem::take(&mut self.held);
        let mut out = std::mem::take(&mut self.masked_unsent);
        out.extend_from_slice(held.get(self.context..).unwrap_or_default());
        out.extend(self.framer.finish().map(|event| event.raw).unwrap_or_default());
        out
    }

    /// How many bytes are held back now.
    pub fn held(&self) -> usize {
        self.held.len() + self.framer.held()
    }

    fn decode(&mut self, chunk: &[u8], end: bool) -> Result<Vec<u8>, String> {
        let Some(decoder) = self.decoder.as_mut() else { return Ok(chunk.to_vec()) };
        match decoder.feed(chunk, end) {
            Decoded::Body(body) => Ok(body.into_owned()),
            Decoded::TooLarge => Err(format!(
                "a chunk of the response decodes to over {} bytes (a compression bomb)",
                self.limit.max(DECODED_CHUNK_FLOOR)
            )),
            Decoded::Unsupported(reason) | Decoded::Corrupt(reason) => Err(reason),
        }
    }

    fn text(&mut self, masker: &Masker, cache: &mut MaskCache, end: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if self.in_key && !self.skip_key(end) {
            return out;
        }
        let limit = if end { self.held.len() } else { self.held.len().saturating_sub(masker.window()) }.max(self.context);
        let mut at = self.context;
        for found in masker.find_from(cache, &self.held, self.context) {
            if found.start >= limit {
                break;
            }
            out.extend_from_slice(&self.held[at..found.start]);
            out.extend_from_slice(&masker.replacement(&found, &self.held[found.start..found.end]));
            count(&mut self.counts, masker.detector_name(found.detector), 1);
            at = found.end;
            if !end && found.end == self.held.len() && masker.detector_name(found.detector) == "private_key" {
                self.in_key = true;
            }
        }
        let cut = at.max(limit);
        out.extend_from_slice(&self.held[at..cut]);
        let keep = cut.saturating_sub(LOOK_BACK);
        if keep > 0 {
            let held = &self.held;
            let header = (*self.header.get_or_insert_with(|| detectors::header_row(held))).min(keep);
            self.held.drain(header..keep);
            self.context = cut - (keep - header);
        } else {
            self.context = cut;
        }
        out
    }

    /// Drops the rest of a private key block cut by the window; true once it is over.
    fn skip_key(&mut self, end: bool) -> bool {
        let rest = self.held.get(self.context..).unwrap_or_default();
        let dropped = match key_end(rest) {
            Some(n) => {
                self.in_key = false;
                self.context + n
            }
            None if end => self.held.len(),
            None => self.held.len().saturating_sub(KEY_END_TAIL).max(self.context),
        };
        self.held.drain(..dropped);
        self.context = 0;
        self.header = Some(0);
        !self.in_key
    }

    fn lines(&mut self, masker: &Masker, cache: &mut MaskCache, end: bool) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut result = Ok(());
        while let Some(newline) = self.held.get(self.searched..).and_then(|rest| rest.iter().position(|&b| b == b'\n')) {
            let line_end = self.searched + newline + 1;
            result = line(masker, cache, &self.held[start..line_end], &mut self.counts).map(|masked| out.extend(masked));
            if result.is_err() {
                break;
            }
            (start, self.searched) = (line_end, line_end);
        }
        if result.is_ok() && end && start < self.held.len() {
            result = line(masker, cache, &self.held[start..], &mut self.counts).map(|masked| out.extend(masked));
            start = if result.is_ok() { self.held.len() } else { start };
        }
        self.held.drain(..start);
        self.searched = self.held.len();
        self.sent_unless(out, result.and_then(|()| self.within_limit("a line")))
    }

    fn events(&mut self, masker: &Masker, cache: &mut MaskCache, decoded: &[u8], end: bool) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        let flow = if end { Flow::Last } else { Flow::Open };
        let counts = &mut self.counts;
        let framed = self.framer.frame(decoded, flow, |raw| out.extend(event(masker, cache, raw, counts)));
        let result = framed.map_err(|Oversize(held)| over_limit("an event", held, self.limit));
        self.sent_unless(out, result)
    }

    /// What was masked before an error is not lost: [`Streamer::pass`] lets it go first.
    fn sent_unless(&mut self, out: Vec<u8>, result: Result<(), String>) -> Result<Vec<u8>, String> {
        match result {
            Ok(()) => Ok(out),
            Err(reason) => {
                self.masked_unsent = out;
                Err(reason)
            }
        }
    }

    fn document(&mut self, masker: &Masker, cache: &mut MaskCache, body: BodyKind, end: bool) -> Result<Vec<u8>, String> {
        self.within_limit("the response")?;
        if !end {
            return Ok(Vec::new());
        }
        let masked = masker.mask_as(cache, &self.held, body);
        if !masked.complete {
            return Err("the response is not valid JSON, so its fields cannot be masked".to_string());
        }
        self.held.clear();
        add_counts(&mut self.counts, &masked);
        Ok(masked.body)
    }

    fn within_limit(&self, what: &str) -> Result<(), String> {
        if self.held.len() > self.limit {
            return Err(over_limit(what, self.held.len(), self.limit));
        }
        Ok(())
    }
}

fn over_limit(what: &str, held: usize, limit: usize) -> String {
    format!("{what} of the response (over {held} bytes) is over mask.max_body_bytes ({limit})")
}

fn add_counts(counts: &mut BTreeMap<String, u32>, masked: &Masked) {
    for (name, n) in &masked.counts {
        count(counts, name, *n);
    }
}

/// Adds `n` to `name`'s count; the name is copied only the first time.
fn count(counts: &mut BTreeMap<String, u32>, name: &str, n: u32) {
    match counts.get_mut(name) {
        Some(total) => *total += n,
        None => {
            counts.insert(name.to_string(), n);
        }
    }
}

/// Where the rest of a private key block ends in `rest`: after its END line, or before a quote
/// (a JSON string's end, where the whole-body pattern stops too).
fn key_end(rest: &[u8]) -> Option<usize> {
    let quote = rest.iter().position(|&b| b == b'"');
    let end_line = find(rest, b"-----END ")
        .and_then(|at| find(&rest[at..], b"PRIVATE KEY-----").map(|k| at + k + b"PRIVATE KEY-----".len()));
    match (quote, end_line) {
        (Some(q), Some(e)) => Some(q.min(e)),
        (q, e) => q.or(e),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One NDJSON line (with its newline) masked as a JSON document; blank lines go as they are.
fn line(masker: &Masker, cache: &mut MaskCache, raw: &[u8], counts: &mut BTreeMap<String, u32>) -> Result<Vec<u8>, String> {
    let body_len = raw.len() - terminator_len(raw);
    let (content, newline) = raw.split_at(body_len);
    if content.iter().all(u8::is_ascii_whitespace) {
        return Ok(raw.to_vec());
    }
    let masked = masker.mask(cache, content, true);
    if !masked.complete {
        return Err("a line of the response is not valid JSON, so its fields cannot be masked".to_string());
    }
    add_counts(counts, &masked);
    let mut out = masked.body;
    out.extend_from_slice(newline);
    Ok(out)
}

/// How many bytes of line terminator (`\n`, `\r\n` or `\r`) `line` ends with.
fn terminator_len(line: &[u8]) -> usize {
    match line {
        [.., b'\r', b'\n'] => 2,
        [.., b'\n'] | [.., b'\r'] => 1,
        _ => 0,
    }
}

/// The lines of an event, each split into its content and its terminator.
fn event_lines(event: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut lines = Vec::new();
    let mut start = 0;
    while start < event.len() {
        let rest = &event[start..];
        let (content, length) = match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(at) if rest[at] == b'\r' && rest.get(at + 1) == Some(&b'\n') => (at, at + 2),
            Some(at) => (at, at + 1),
            None => (rest.len(), rest.len()),
        };
        lines.push((&rest[..content], &rest[content..length]));
        start += length;
    }
    lines
}

/// Where a `data` line's value starts (after `data:` and one space), or `None` for other lines.
fn data_value(line: &[u8]) -> Option<usize> {
    let after = line.strip_prefix(b"data")?;
    match after {
        [] => Some(4),
        [b':', b' ', ..] => Some(6),
        [b':', ..] => Some(5),
        _ => None,
    }
}

/// One SSE event masked: its data as the JSON it carries when it parses (else as text), every
/// other line as text.
fn event(masker: &Masker, cache: &mut MaskCache, raw: &[u8], counts: &mut BTreeMap<String, u32>) -> Vec<u8> {
    let lines = event_lines(raw);
    let values: Vec<&[u8]> =
        lines.iter().filter_map(|(content, _)| data_value(content).map(|at| content.get(at..).unwrap_or_default())).collect();
    let data = values.join(&b'\n');
    // Data that is not JSON is masked as text (`mask` falls back by itself: no second parse).
    let masked_data = masker.mask(cache, &data, !values.is_empty());
    add_counts(counts, &masked_data);
    let mut masked_lines = masked_data.body.split(|&b| b == b'\n');
    let mut data_seen = 0;
    let mut out = Vec::with_capacity(raw.len());
    for (content, terminator) in &lines {
        match data_value(content) {
            Some(at) => {
                data_seen += 1;
                out.extend_from_slice(&content[..at.min(content.len())]);
                out.extend_from_slice(masked_lines.next().unwrap_or_default());
                out.extend_from_slice(terminator);
                if data_seen == values.len() {
                    for extra in masked_lines.by_ref() {
                        out.extend_from_slice(b"data: ");
                        out.extend_from_slice(extra);
                        out.extend_from_slice(terminator);
                    }
                }
            }
            None => {
                let masked = masker.mask(cache, content, false);
                add_counts(counts, &masked);
                out.extend(masked.body);
                out.extend_from_slice(terminator);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::glob::Glob;
    use crate::mask::{detectors, Action, FieldMatch, FieldRule};

    fn masker() -> Masker {
        let builtins = detectors::names().iter().map(|n| (n.to_string(), Action::Redact)).collect();
        let fields = vec![FieldRule {
            matcher: FieldMatch::Name(Glob::case_insensitive("ssn").unwrap()),
            action: Action::Redact,
            label: "ssn".into(),
        }];
        let mut m = Masker::compile(&builtins, &[], fields, None).unwrap_or_else(|_| panic!("compiles"));
        m.max_body_bytes = 1 << 16;
        m
    }

    fn run(m: &Masker, kind: Kind, chunks: &[&[u8]]) -> Result<Vec<u8>, String> {
        let mut s = Streamer::new(m, kind, std::iter::empty())?;
        let mut cache = m.cache();
        let mut out = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            out.extend(s.feed(m, &mut cache, chunk, i + 1 == chunks.len())?);
        }
        Ok(out)
    }

    /// Every cut into two chunks, and one-byte chunks, give what the whole body gives.
    fn same_however_cut(m: &Masker, kind: Kind, body: &[u8]) -> Vec<u8> {
        let whole = run(m, kind, &[body]).unwrap();
        for cut in 0..=body.len() {
            assert_eq!(run(m, kind, &[&body[..cut], &body[cut..]]).unwrap(), whole, "{kind:?} cut at {cut}");
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(run(m, kind, &bytes).unwrap(), whole, "{kind:?} in bytes");
        whole
    }

    #[test]
    fn text_is_masked_the_same_however_it_is_cut() {
        let m = masker();
        let body = b"mail jane.doe@example.com, card 4111 1111 1111 1111, ssn 123-45-6789 from 10.0.0.1 ok";
        let out = same_however_cut(&m, Kind::Text, body);
        assert_eq!(out, m.mask(&mut m.cache(), body, false).body);
        assert_eq!(out, b"mail [REDACTED:email], card [REDACTED:credit_card], ssn [REDACTED:us_ssn] from [REDACTED:ipv4] ok");
    }

    #[test]
    fn a_table_longer_than_the_window_keeps_its_header_and_look_back() {
        let m = masker();
        let mut body = b"id,name,ssn\n".to_vec();
        for i in 0..400 {
            body.extend(format!("{i},Jane Roe,{}\n", 123_456_700 + i).as_bytes());
        }
        body.extend(b"then ssn=123456789 and phone=072111419.");
        assert!(body.len() > 2 * m.window());
        let out = same_however_cut(&m, Kind::Text, &body);
        assert_eq!(out, m.mask(&mut m.cache(), &body, false).body);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("[REDACTED:us_ssn]").count(), 401, "{text}");
        assert!(text.starts_with("id,name,ssn\n0,Jane Roe,[REDACTED:us_ssn]\n") && text.ends_with("and phone=[REDACTED:phone]."));
    }

    #[test]
    fn text_goes_on_holding_only_the_window() {
        let m = masker();
        let mut s = Streamer::new(&m, Kind::Text, std::iter::empty()).unwrap();
        let mut cache = m.cache();
        let chunk = b"a line with jane@example.com in it\n".repeat(500);
        let mut out = Vec::new();
        for _ in 0..10 {
            out.extend(s.feed(&m, &mut cache, &chunk, false).unwrap());
            assert!(s.held() <= m.window() + LOOK_BACK, "{}", s.held());
            assert!(!out.is_empty(), "text goes before the end");
        }
        out.extend(s.feed(&m, &mut cache, b"", true).unwrap());
        assert_eq!(out, b"a line with [REDACTED:email] in it\n".repeat(5000));
        assert_eq!(s.counts.get("email"), Some(&5000));
    }

    #[test]
    fn a_private_key_longer_than_the_window_is_masked_to_its_end() {
        let m = masker();
        let key = format!("-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----", "MIIEow\n".repeat(2000));
        let body = format!("before {key} after");
        let chunks: Vec<&[u8]> = body.as_bytes().chunks(1000).collect();
        let out = String::from_utf8(run(&m, Kind::Text, &chunks).unwrap()).unwrap();
        assert_eq!(out, "before [REDACTED:private_key] after");
        // Without its END line, the rest of the stream is dropped: fail closed.
        let open = format!("before -----BEGIN PRIVATE KEY-----\n{}", "MIIEow\n".repeat(2000));
        let chunks: Vec<&[u8]> = open.as_bytes().chunks(1000).collect();
        assert_eq!(run(&m, Kind::Text, &chunks).unwrap(), b"before [REDACTED:private_key]");
    }

    #[test]
    fn what_was_masked_before_a_line_or_event_over_the_limit_is_let_go_first() {
        let mut m = masker();
        m.max_body_bytes = 64;
        let rest = "x".repeat(100);
        for (kind, body) in
            [(Kind::Ndjson, format!("{{\"mail\": \"a@b.io\"}}\n{rest}")), (Kind::Sse, format!("data: a@b.io\n\ndata: {rest}"))]
        {
            let mut s = Streamer::new(&m, kind, std::iter::empty()).unwrap();
            let mut cache = m.cache();
            assert!(s.feed(&m, &mut cache, body.as_bytes(), false).is_err(), "{kind:?} over the limit");
            let passed = String::from_utf8(s.pass()).unwrap();
            assert!(
                passed.contains("[REDACTED:email]") && passed.ends_with(&rest) && !passed.contains("a@b.io"),
                "{kind:?}: {passed}"
            );
        }
    }

    #[test]
    fn ndjson_lines_get_field_rules_as_they_complete() {
        let m = masker();
        let body = b"{\"ssn\": \"123456789\", \"mail\": \"a@b.io\"}\n\n{\"n\": 1, \"note\": \"x@y.com\"}\r\n{\"ssn\": 1}";
        let out = same_however_cut(&m, Kind::Ndjson, body);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"ssn\": \"[REDACTED:ssn]\", \"mail\": \"[REDACTED:email]\"}\n\n{\"n\": 1, \"note\": \"[REDACTED:email]\"}\r\n{\"ssn\": \"[REDACTED:ssn]\"}"
        );
        let mut s = Streamer::new(&m, Kind::Ndjson, std::iter::empty()).unwrap();
        let first = s.feed(&m, &mut m.cache(), b"{\"ssn\": 1}\n{\"ss", false).unwrap();
        assert_eq!(first, b"{\"ssn\": \"[REDACTED:ssn]\"}\n");
        assert!(run(&m, Kind::Ndjson, &[b"{\"ok\": 1}\nnot json\n"]).is_err());
        let long = format!("{{\"pad\": \"{}\"", "x".repeat(1 << 16));
        assert!(run(&m, Kind::Ndjson, &[long.as_bytes(), b"}\n"]).unwrap_err().contains("a line"));
    }

    #[test]
    fn sse_events_go_when_complete_their_data_masked_as_json() {
        let m = masker();
        let body = b"event: progress\ndata: {\"message\": \"mail jane@example.com\", \"ssn\": 5}\n\n: ping a@b.io\r\n\r\n\
                     data: {\"multi\":\ndata: \"x@y.com\"}\n\ndata:plain 123-45-6789\r\rid: 3\ndata: last";
        let out = String::from_utf8(same_however_cut(&m, Kind::Sse, body)).unwrap();
        assert_eq!(
            out,
            "event: progress\ndata: {\"message\": \"mail [REDACTED:email]\", \"ssn\": \"[REDACTED:ssn]\"}\n\n: ping [REDACTED:email]\r\n\r\n\
             data: {\"multi\":\ndata: \"[REDACTED:email]\"}\n\ndata:plain [REDACTED:us_ssn]\r\rid: 3\ndata: last"
        );
        let mut s = Streamer::new(&m, Kind::Sse, std::iter::empty()).unwrap();
        let mut cache = m.cache();
        assert_eq!(s.feed(&m, &mut cache, b"data: {\"a\": \"x@y.com\"}\n", false).unwrap(), b"");
        assert_eq!(s.feed(&m, &mut cache, b"\ndata: next", false).unwrap(), b"data: {\"a\": \"[REDACTED:email]\"}\n\n");
    }

    #[test]
    fn a_json_document_is_held_here_and_masked_at_the_end() {
        let m = masker();
        let body = br#"{"ssn": "1", "e": "a@b.io"}"#;
        let mut s = Streamer::new(&m, Kind::Json, std::iter::empty()).unwrap();
        let mut cache = m.cache();
        assert_eq!(s.feed(&m, &mut cache, &body[..10], false).unwrap(), b"");
        assert_eq!(s.feed(&m, &mut cache, &body[10..], true).unwrap(), br#"{"ssn": "[REDACTED:ssn]", "e": "[REDACTED:email]"}"#);
        assert!(run(&m, Kind::Json, &[b"{\"ssn\": oops"]).is_err());
        let big = vec![b' '; (1 << 16) + 1];
        let mut s = Streamer::new(&m, Kind::Json, std::iter::empty()).unwrap();
        assert!(s.feed(&m, &mut cache, &big, false).is_err());
        assert_eq!(s.pass().len(), big.len(), "passing lets the held bytes go");
        assert_eq!(s.feed(&m, &mut cache, b"x", true).unwrap(), b"x");
    }

    #[test]
    fn compressed_streams_are_decoded_as_they_come_and_bombs_refused() {
        use std::io::Write;
        let m = masker();
        let gzip = |data: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        };
        let text = b"to jane@example.com\n".repeat(1000);
        let gz = gzip(&text);
        let mut s = Streamer::new(&m, Kind::Text, ["gzip"].into_iter()).unwrap();
        let mut cache = m.cache();
        let mut out = Vec::new();
        for chunk in gz.chunks(100) {
            out.extend(s.feed(&m, &mut cache, chunk, false).unwrap());
        }
        out.extend(s.feed(&m, &mut cache, b"", true).unwrap());
        assert_eq!(out, b"to [REDACTED:email]\n".repeat(1000));
        // A compressed chunk may decode to far more than max_body_bytes, not to more than 16 MiB.
        let mut s = Streamer::new(&m, Kind::Text, ["gzip"].into_iter()).unwrap();
        assert_eq!(s.feed(&m, &mut cache, &gzip(&vec![b' '; 1 << 20]), true).unwrap().len(), 1 << 20);
        let bomb = gzip(&vec![b' '; 20_000_000]);
        let mut s = Streamer::new(&m, Kind::Text, ["gzip"].into_iter()).unwrap();
        assert!(s.feed(&m, &mut cache, &bomb, false).unwrap_err().contains("compression bomb"));
        assert!(Streamer::new(&m, Kind::Text, ["br"].into_iter()).is_err());
    }
}
