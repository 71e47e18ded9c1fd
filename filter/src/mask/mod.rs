//! Response masking: sensitive values found by content (built-in detectors and custom
//! patterns) or by JSON field are replaced before the response reaches the client.
//!
//! The built-in detectors are code ([`detectors::scan`]: one pass, checks around trigger
//! bytes); a route's custom patterns are compiled once, at configuration, into one
//! multi-pattern lazy DFA (`regex-automata`'s hybrid engine, leftmost-first, on bytes). Of all
//! their hits the leftmost wins, at the same start a custom pattern, then the built-ins in
//! priority order, and the scan goes on after it. JSON and form bodies are matched as their
//! clients read them, escapes decoded ([`structured`]), and edited in place: a match inside a
//! string stays inside it, a number that matches becomes a string, formatting and key order are
//! kept, and the result is always valid JSON.
//!
//! Counts per detector (never values) go to the audit record.

mod decoded;
pub mod detectors;
pub mod json;
pub mod response;
pub mod stream;
mod structured;
mod swar;

use std::borrow::Cow;
use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use regex_automata::hybrid::{dfa, regex::Regex};
use regex_automata::nfa::thompson;
use regex_automata::util::syntax;
use regex_automata::Input;
use sha2::{Digest, Sha256};

use crate::glob::Glob;
use detectors::{Enabled, Kind};
use json::Step;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `[REDACTED:email]`
    Redact,
    /// The last four characters stay (`****-****-****-1111`); an email keeps its first letter
    /// and domain (`j***@example.com`).
    Partial,
    /// `[email:3f2a9c1b04d5e6f7]`: equal values mask equally, so joins and counts still work.
    /// Keyed with `mask.hash_key` (HMAC-SHA256), else plain SHA-256.
    Hash,
}

#[derive(Clone, Debug)]
struct Detector {
    name: String,
    action: Action,
    /// `[REDACTED:name]`, written once: most values are redacted.
    redacted: Vec<u8>,
}

impl Detector {
    fn new(name: &str, action: Action) -> Detector {
        Detector { name: name.to_string(), action, redacted: format!("[REDACTED:{name}]").into_bytes() }
    }
}

/// Which JSON values a field rule masks whole.
#[derive(Clone, Debug)]
pub enum FieldMatch {
    /// A key, at any depth (a glob, ignoring case).
    Name(Glob),
    /// A path from the root; `*` is any key or index.
    Pointer(Vec<String>),
}

#[derive(Clone, Debug)]
pub struct FieldRule {
    pub matcher: FieldMatch,
    pub action: Action,
    /// As the audit record counts it: the name or pointer as written.
    pub label: String,
}

impl FieldRule {
    fn matches(&self, path: &[Step<'_>]) -> bool {
        match &self.matcher {
            FieldMatch::Name(glob) => matches!(path.last(), Some(Step::Key(k)) if glob.matches(k)),
            FieldMatch::Pointer(segments) => {
                segments.len() == path.len()
                    && segments.iter().zip(path).all(|(want, step)| match step {
                        _ if want == "*" => true,
                        Step::Key(k) => k == want,
                        Step::Index(i) => want.parse::<usize>().ok() == Some(*i),
                    })
            }
        }
    }
}

/// A route's compiled `mask` section.
#[derive(Clone, Debug)]
pub struct Masker {
    /// The custom patterns, pattern `i` for detector `i`.
    regex: Option<std::sync::Arc<Regex>>,
    builtins: Enabled,
    /// The detector index of each enabled built-in, by [`Kind`].
    builtin_detector: [usize; detectors::BUILTINS.len()],
    detectors: Vec<Detector>,
    pub fields: Vec<FieldRule>,
    hash_key: Option<Vec<u8>>,
    /// The largest body held for masking.
    pub max_body_bytes: u64,
}

/// Longer than the longest bounded built-in value (a 255-character GitHub token, an email of
/// 64 + 255 characters), with room for most JWTs.
const STREAM_WINDOW: usize = 4096;

/// What matching keeps between calls, one per masker and VM, reused across responses: the custom
/// patterns' lazy DFA state cache, and the buffers each search fills and empties (a JSON body
/// searches many strings).
pub struct MaskCache {
    regex: Option<regex_automata::hybrid::regex::Cache>,
    hits: Vec<(usize, usize, usize)>,
    builtin_hits: Vec<detectors::Hit>,
}

/// A masked body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Masked {
    pub body: Vec<u8>,
    /// Values masked, per detector or field label.
    pub counts: BTreeMap<String, u32>,
    /// False when field rules could not be applied (the body is not the JSON it claims to be):
    /// content detectors still ran.
    pub complete: bool,
}

/// A custom pattern as the policy gives it.
pub struct CustomPattern<'a> {
    pub name: &'a str,
    pub regex: &'a str,
    pub action: Action,
}

/// What compiling a mask section can get wrong, by the policy key it concerns.
pub enum MaskError {
    UnknownDetector(String),
    Pattern { index: usize, message: String },
    Regex(String),
}

impl Masker {
    /// Compiles built-in detectors (name -> action), custom patterns (into one DFA) and field
    /// rules. Built-ins keep their priority order whatever order the policy lists them in.
    pub fn compile(
        builtins: &BTreeMap<String, Action>,
        custom: &[CustomPattern<'_>],
        fields: Vec<FieldRule>,
        hash_key: Option<&str>,
    ) -> Result<Masker, Vec<MaskError>> {
        let mut errors = Vec::new();
        for name in builtins.keys() {
            if Kind::from_name(name).is_none() {
                errors.push(MaskError::UnknownDetector(name.clone()));
            }
        }
        let mut sources: Vec<String> = Vec::new();
        let mut detectors = Vec::new();
        // Custom patterns come first: a policy's own pattern is more specific than a built-in.
        for (index, pattern) in custom.iter().enumerate() {
            if let Err(e) = build(&[pattern.regex]) {
                errors.push(MaskError::Pattern { index, message: e });
                continue;
            }
            sources.push(pattern.regex.to_string());
            detectors.push(Detector::new(pattern.name, pattern.action));
        }
        let mut enabled = Enabled::default();
        let mut builtin_detector = [0; detectors::BUILTINS.len()];
        for (kind, name) in detectors::BUILTINS.iter().filter_map(|n| Some((Kind::from_name(n)?, *n))) {
            if let Some(&action) = builtins.get(name) {
                enabled = enabled.with(kind);
                builtin_detector[kind as usize] = detectors.len();
                detectors.push(Detector::new(name, action));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let regex = if sources.is_empty() {
            None
        } else {
            Some(std::sync::Arc::new(build(&sources).map_err(|e| vec![MaskError::Regex(e)])?))
        };
        Ok(Masker {
            regex,
            builtins: enabled,
            builtin_detector,
            detectors,
            fields,
            hash_key: hash_key.map(|k| k.as_bytes().to_vec()),
            max_body_bytes: 1_048_576,
        })
    }

    /// Every value the content detectors accept in `text`, left to right, without overlaps: what
    /// masking `text` as text would replace (the quality benchmark scores these spans).
    pub fn find(&self, cache: &mut MaskCache, text: &[u8]) -> Vec<Found> {
        let mut found = Vec::new();
        self.find_all(cache, text, 0, text.len(), &mut found);
        found
    }

    /// [`Masker::find`] on `text[from..]`, the bytes before `from` read only as context (a word
    /// boundary's): how a stream resumes after what it already let go.
    pub fn find_from(&self, cache: &mut MaskCache, text: &[u8], from: usize) -> Vec<Found> {
        let mut found = self.find(cache, text);
        found.retain(|f| f.start >= from);
        found
    }

    /// What a streamed text holds back: a value longer than this is cut at the window's end (see
    /// [`stream`]). Every built-in fits but private key blocks, which streams mask to their end.
    pub fn window(&self) -> usize {
        STREAM_WINDOW
    }

    /// The replacement masking writes for `found`, whose bytes are `text`.
    pub fn replacement(&self, found: &Found, text: &[u8]) -> Cow<'_, [u8]> {
        let detector = &self.detectors[found.detector];
        match detector.action {
            Action::Redact => Cow::Borrowed(&detector.redacted),
            action => Cow::Owned(self.replace(action, &detector.name, text)),
        }
    }

    /// The policy's name of a detector or custom pattern ([`Found::detector`]).
    pub fn detector_name(&self, detector: usize) -> &str {
        &self.detectors[detector].name
    }

    pub fn cache(&self) -> MaskCache {
        MaskCache { regex: self.regex.as_ref().map(|r| r.create_cache()), hits: Vec::new(), builtin_hits: Vec::new() }
    }

    /// Masks a body: as JSON (fields and content) when `as_json`, else as text (content).
    pub fn mask(&self, cache: &mut MaskCache, body: &[u8], as_json: bool) -> Masked {
        self.mask_as(cache, body, if as_json { BodyKind::Json } else { BodyKind::Text })
    }

    /// Masks a body as what its content type declares it is.
    pub fn mask_as(&self, cache: &mut MaskCache, body: &[u8], kind: BodyKind) -> Masked {
        let (edits, complete) = self.edits(cache, body, kind);
        Masked { counts: edits.counts(), body: apply(body, edits.list), complete }
    }

    /// The raw byte spans [`Masker::mask_as`] replaces in `body`, left to right, each with the
    /// detector or field label that replaced it: what masking writes, scored by the quality
    /// benchmark without writing it.
    pub fn masked_spans(&self, cache: &mut MaskCache, body: &[u8], kind: BodyKind) -> Vec<(std::ops::Range<usize>, &str)> {
        let (edits, _) = self.edits(cache, body, kind);
        in_order(edits.list).map(|edit| (edit.start..edit.end, edit.label)).collect()
    }

    /// The edits masking `body` as `kind` makes, and whether field rules could be applied.
    fn edits<'m>(&'m self, cache: &mut MaskCache, body: &[u8], kind: BodyKind) -> (Edits<'m>, bool) {
        let mut edits = Edits::default();
        let complete = match kind {
            BodyKind::Json => match self.mask_json(cache, body, &mut edits) {
                Ok(()) => true,
                Err(_) => {
                    self.mask_text(cache, body, &mut edits);
                    self.fields.is_empty()
                }
            },
            BodyKind::Form => {
                self.mask_form(cache, body, &mut edits);
                true
            }
            BodyKind::Text => {
                self.mask_text(cache, body, &mut edits);
                true
            }
        };
        (edits, complete)
    }

    fn mask_text<'m>(&'m self, cache: &mut MaskCache, body: &[u8], edits: &mut Edits<'m>) {
        for found in self.find(cache, body) {
            let replacement = self.replacement(&found, &body[found.start..found.end]);
            edits.push(self.detector_name(found.detector), found.start..found.end, replacement);
        }
    }

    /// Every accepted match in `body[from..to]`, left to right, without overlaps: of the hits of
    /// custom patterns and built-ins, the leftmost, at the same start the first in priority.
    fn find_all(&self, cache: &mut MaskCache, body: &[u8], from: usize, to: usize, out: &mut Vec<Found>) {
        let Some(text) = body.get(from..to) else { return };
        // (start, end, detector): detectors are numbered in priority order, custom patterns first.
        let MaskCache { regex: regex_cache, hits, builtin_hits } = cache;
        hits.clear();
        if let (Some(regex), Some(cache)) = (&self.regex, regex_cache.as_mut()) {
            let mut at = 0;
            while at < text.len() {
                let Ok(Some(m)) = regex.try_search(cache, &Input::new(text).range(at..)) else { break };
                if m.is_empty() {
                    at = m.start() + 1;
                    continue;
                }
                hits.push((m.start(), m.end(), m.pattern().as_usize()));
                at = m.end();
            }
        }
        if !self.builtins.is_empty() {
            builtin_hits.clear();
            detectors::scan(text, self.builtins, builtin_hits);
            hits.extend(builtin_hits.iter().map(|h| (h.start, h.end, self.builtin_detector[h.kind as usize])));
        }
        hits.sort_unstable_by_key(|&(start, _, detector)| (start, detector));
        let mut taken_to = 0;
        for &(start, end, detector) in hits.iter() {
            if start >= taken_to {
                out.push(Found { start: from + start, end: from + end, detector });
                taken_to = end;
            }
        }
    }

    fn replace(&self, action: Action, name: &str, text: &[u8]) -> Vec<u8> {
        match action {
            Action::Redact => format!("[REDACTED:{name}]").into_bytes(),
            Action::Hash => {
                let digest: Vec<u8> = match &self.hash_key {
                    Some(key) => {
                        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
                        mac.update(text);
                        mac.finalize().into_bytes().to_vec()
                    }
                    None => Sha256::digest(text).to_vec(),
                };
                format!("[{name}:{}]", crate::hex::hex(&digest[..8])).into_bytes()
            }
            Action::Partial => partial(name, text).unwrap_or_else(|| format!("[REDACTED:{name}]").into_bytes()),
        }
    }
}

fn build<P: AsRef<str>>(patterns: &[P]) -> Result<Regex, String> {
    Regex::builder()
        .syntax(syntax::Config::new().unicode(false).utf8(false))
        .thompson(thompson::Config::new().utf8(false).nfa_size_limit(Some(4 << 20)))
        .dfa(dfa::Config::new().starts_for_each_pattern(true).cache_capacity(2 << 20))
        .build_many(patterns)
        .map_err(|e| e.to_string())
}

/// Keeps what identifies the value to a person without revealing it; `None` when too little
/// would be hidden, and the value is redacted instead. JSON text arrives decoded, and what this
/// keeps is encoded again where it is written.
fn partial(name: &str, text: &[u8]) -> Option<Vec<u8>> {
    if name == "email" {
        let at = text.iter().position(|b| *b == b'@')?;
        // The first character, not byte: a local part may start with a non-ASCII one.
        let first = std::str::from_utf8(&text[..at]).ok()?.chars().next()?;
        let mut out = first.to_string().into_bytes();
        out.extend_from_slice(b"***");
        out.extend_from_slice(&text[at..]);
        return Some(out);
    }
    let alnum = text.iter().filter(|b| b.is_ascii_alphanumeric()).count();
    let keep_from = alnum.saturating_sub(4);
    if alnum <= 4 {
        return None;
    }
    let mut seen = 0;
    Some(
        text.iter()
            .map(|&b| {
                if !b.is_ascii_alphanumeric() {
                    return b;
                }
                seen += 1;
                if seen > keep_from {
                    b
                } else {
                    b'*'
                }
            })
            .collect(),
    )
}

fn quoted(text: Cow<'_, [u8]>) -> Cow<'_, [u8]> {
    Cow::Owned([&b"\""[..], &text, b"\""].concat())
}

/// A value found by content: its byte span and the detector (or custom pattern) that found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    /// An index for [`Masker::detector_name`].
    pub detector: usize,
}

/// One replacement, and the detector or field label (the masker's own string) that made it.
struct Edit<'m> {
    start: usize,
    end: usize,
    replacement: Cow<'m, [u8]>,
    label: &'m str,
}

/// The edits of one body and the values they mask, per detector or field label.
#[derive(Default)]
struct Edits<'m> {
    list: Vec<Edit<'m>>,
}

impl<'m> Edits<'m> {
    fn push(&mut self, label: &'m str, span: std::ops::Range<usize>, replacement: Cow<'m, [u8]>) {
        self.list.push(Edit { start: span.start, end: span.end, replacement, label });
    }

    /// The values masked per label, an overlapped edit included: counted once all are made, so
    /// a label's name is copied once per body, not once per value.
    fn counts(&self) -> BTreeMap<String, u32> {
        let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
        for edit in &self.list {
            *counts.entry(edit.label).or_insert(0) += 1;
        }
        counts.into_iter().map(|(label, n)| (label.to_string(), n)).collect()
    }
}

/// The edits left to right; one that overlaps an earlier one is dropped (the earlier covers it).
fn in_order(mut edits: Vec<Edit<'_>>) -> impl Iterator<Item = Edit<'_>> {
    edits.sort_by_key(|e| (e.start, std::cmp::Reverse(e.end)));
    let mut at = 0;
    edits.into_iter().filter(move |edit| {
        let kept = edit.start >= at;
        if kept {
            at = edit.end;
        }
        kept
    })
}

/// Applies the edits [`in_order`].
fn apply(body: &[u8], edits: Vec<Edit<'_>>) -> Vec<u8> {
    if edits.is_empty() {
        return body.to_vec();
    }
    let mut out = Vec::with_capacity(body.len());
    let mut at = 0;
    for edit in in_order(edits) {
        out.extend_from_slice(&body[at..edit.start]);
        out.extend_from_slice(&edit.replacement);
        at = edit.end;
    }
    out.extend_from_slice(&body[at..]);
    out
}

/// How a body is read, as its content type declares it: as its client will read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// Field rules and content; every string is matched decoded.
    Json,
    /// `application/x-www-form-urlencoded`: every key and value is matched percent-decoded.
    Form,
    Text,
}

/// How a response of this content type is masked; `None` for binary types (images, archives,
/// octet streams), which are passed as they are.
pub fn readable(content_type: Option<&str>) -> Option<stream::Kind> {
    use stream::Kind;
    let Some(ct) = content_type else { return Some(Kind::Text) };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let text = essence.starts_with("text/")
        || essence.ends_with("+xml")
        || matches!(essence.as_str(), "application/xml" | "application/javascript" | "application/csv" | "");
    match essence.as_str() {
        "text/event-stream" => Some(Kind::Sse),
        "application/x-ndjson" | "application/jsonl" => Some(Kind::Ndjson),
        "application/x-www-form-urlencoded" => Some(Kind::Form),
        "application/json" => Some(Kind::Json),
        _ if essence.ends_with("+json") => Some(Kind::Json),
        _ if text => Some(Kind::Text),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masker(detectors: &[(&str, Action)], fields: Vec<FieldRule>) -> Masker {
        let map = detectors.iter().map(|(n, a)| (n.to_string(), *a)).collect();
        Masker::compile(&map, &[], fields, None).unwrap_or_else(|_| panic!("compiles"))
    }

    fn all(action: Action) -> Masker {
        let names = detectors::names();
        masker(&names.iter().map(|n| (*n, action)).collect::<Vec<_>>(), Vec::new())
    }

    fn text(m: &Masker, body: &str) -> String {
        String::from_utf8(m.mask(&mut m.cache(), body.as_bytes(), false).body).unwrap()
    }

    #[test]
    fn every_builtin_finds_its_kind() {
        let m = all(Action::Redact);
        let cases = [
            ("mail jane.doe+x@example.co.uk now", "mail [REDACTED:email] now"),
            ("card 4111 1111 1111 1111.", "card [REDACTED:credit_card]."),
            ("amex 378282246310005", "amex [REDACTED:credit_card]"),
            ("not a card 4111 1111 1111 1112", "not a card 4111 1111 1111 1112"),
            ("ssn 123-45-6789", "ssn [REDACTED:us_ssn]"),
            ("not ssn 666-45-6789", "not ssn 666-45-6789"),
            ("iban GB82 WEST 1234 5698 7654 32 ok", "iban [REDACTED:iban] ok"),
            ("iban GB82 WEST 1234 5698 7654 33 bad", "iban GB82 WEST 1234 5698 7654 33 bad"),
            ("call +14155550134 or (415) 555-0134", "call [REDACTED:phone] or [REDACTED:phone]"),
            ("from 10.0.12.7 and 2001:db8::8a2e:370:7334", "from [REDACTED:ipv4] and [REDACTED:ipv6]"),
            ("key AKIAIOSFODNN7EXAMPLE", "key [REDACTED:aws_access_key]"),
            ("gh ghp_0123456789abcdefghijklmnopqrstuvwxyz", "gh [REDACTED:github_token]"),
            ("slack xoxb-123456789012-abcdefghij", "slack [REDACTED:slack_token]"),
            ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature-x", "jwt [REDACTED:jwt]"),
            ("api_key=abcdef0123456789xyz", "api_key=[REDACTED:api_key]"),
            ("stripe sk_live_0123456789abcdefABCD", "stripe [REDACTED:api_key]"),
            ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY----- done", "[REDACTED:private_key] done"),
            ("std::vector and 12:30:45 and version 1.2.3", "std::vector and 12:30:45 and version 1.2.3"),
        ];
        for (input, expected) in cases {
            assert_eq!(text(&m, input), expected, "{input}");
        }
    }

    #[test]
    fn find_reports_the_spans_masking_replaces() {
        let m = all(Action::Redact);
        let body = b"mail a@b.io, card 4111 1111 1111 1111";
        let found = m.find(&mut m.cache(), body);
        let named: Vec<(&str, &[u8])> = found.iter().map(|f| (m.detector_name(f.detector), &body[f.start..f.end])).collect();
        assert_eq!(named, vec![("email", &b"a@b.io"[..]), ("credit_card", &b"4111 1111 1111 1111"[..])]);
    }

    #[test]
    fn masked_spans_are_the_raw_spans_masking_replaces() {
        let fields = vec![FieldRule {
            matcher: FieldMatch::Name(Glob::case_insensitive("ssn").unwrap()),
            action: Action::Redact,
            label: "ssn".into(),
        }];
        let m = masker(&[("email", Action::Redact), ("phone", Action::Redact)], fields);
        let body = br#"{"ssn": "123-45-6789", "e": "jane\u0040example.com", "n": "x@y.io 020 7946 0958"}"#;
        let spans = m.masked_spans(&mut m.cache(), body, BodyKind::Json);
        let named: Vec<(&str, &[u8])> = spans.iter().map(|(span, label)| (*label, &body[span.clone()])).collect();
        assert_eq!(
            named,
            vec![
                ("ssn", &b"123-45-6789"[..]),
                ("email", &br"jane\u0040example.com"[..]),
                ("email", &b"x@y.io"[..]),
                ("phone", &b"020 7946 0958"[..])
            ]
        );
        let mut cache = m.cache();
        let mut rebuilt = Vec::new();
        let mut at = 0;
        for (span, label) in &spans {
            rebuilt.extend_from_slice(&body[at..span.start]);
            rebuilt.extend_from_slice(format!("[REDACTED:{label}]").as_bytes());
            at = span.end;
        }
        rebuilt.extend_from_slice(&body[at..]);
        assert_eq!(rebuilt, m.mask_as(&mut cache, body, BodyKind::Json).body);
    }

    #[test]
    fn actions_partial_and_hash() {
        let m = all(Action::Partial);
        assert_eq!(text(&m, "4111-1111-1111-1111 jane@example.com"), "****-****-****-1111 j***@example.com");
        let h = all(Action::Hash);
        let once = text(&h, "a jane@example.com b jane@example.com");
        let parts: Vec<&str> = once.split_whitespace().collect();
        assert_eq!(parts[1], parts[3]);
        assert!(parts[1].starts_with("[email:") && parts[1].len() == "[email:]".len() + 16);
        let keyed = Masker::compile(&[("email".to_string(), Action::Hash)].into(), &[], Vec::new(), Some("k")).ok().unwrap();
        assert_ne!(text(&keyed, "jane@example.com"), parts[1]);
    }

    #[test]
    fn json_stays_valid_and_fields_are_masked_whole() {
        let fields = vec![
            FieldRule {
                matcher: FieldMatch::Name(Glob::case_insensitive("ssn").unwrap()),
                action: Action::Redact,
                label: "ssn".into(),
            },
            FieldRule {
                matcher: FieldMatch::Pointer(vec!["customers".into(), "*".into(), "dob".into()]),
                action: Action::Hash,
                label: "/customers/*/dob".into(),
            },
        ];
        let m = masker(&[("email", Action::Redact), ("credit_card", Action::Partial)], fields);
        let body = br#"{"customers": [{"email": "a@b.io", "SSN": 123456789, "dob": "1990-01-01", "card": 4111111111111111,
            "notes": "write to x@y.com \"quoted\""}], "meta": {"ssn": {"nested": 1}}}"#;
        let out = m.mask(&mut m.cache(), body, true);
        let value: serde_json::Value = serde_json::from_slice(&out.body).expect("still JSON");
        let c = &value["customers"][0];
        assert_eq!(c["email"], "[REDACTED:email]");
        assert_eq!(c["SSN"], "[REDACTED:ssn]");
        assert!(c["dob"].as_str().unwrap().starts_with("[/customers/*/dob:"));
        assert_eq!(c["card"], "************1111");
        assert_eq!(c["notes"], "write to [REDACTED:email] \"quoted\"");
        assert_eq!(value["meta"]["ssn"], "[REDACTED:ssn]");
        assert_eq!(out.counts.get("email"), Some(&2));
        assert_eq!(out.counts.get("ssn"), Some(&2));
        assert!(out.complete);
        // Key order and formatting are kept.
        assert!(String::from_utf8_lossy(&out.body).starts_with("{\"customers\": [{\"email\": \"[REDACTED:email]\", \"SSN\""));
    }

    #[test]
    fn broken_json_is_masked_as_text_and_reported_incomplete() {
        let fields = vec![FieldRule {
            matcher: FieldMatch::Name(Glob::case_insensitive("ssn").unwrap()),
            action: Action::Redact,
            label: "ssn".into(),
        }];
        let m = masker(&[("email", Action::Redact)], fields);
        let out = m.mask(&mut m.cache(), br#"{"ssn": "1", "e": "a@b.io""#, true);
        assert!(!out.complete);
        assert_eq!(String::from_utf8(out.body).unwrap(), r#"{"ssn": "1", "e": "[REDACTED:email]""#);
    }

    #[test]
    fn content_types() {
        use stream::Kind;
        assert_eq!(readable(Some("application/json; charset=utf-8")), Some(Kind::Json));
        assert_eq!(readable(Some("application/problem+json")), Some(Kind::Json));
        assert_eq!(readable(Some("application/graphql-response+json")), Some(Kind::Json));
        assert_eq!(readable(Some("application/x-ndjson")), Some(Kind::Ndjson));
        assert_eq!(readable(Some("application/jsonl")), Some(Kind::Ndjson));
        assert_eq!(readable(Some("text/event-stream; charset=utf-8")), Some(Kind::Sse));
        assert_eq!(readable(Some("Application/X-WWW-Form-Urlencoded; charset=utf-8")), Some(Kind::Form));
        assert_eq!(readable(Some("text/csv")), Some(Kind::Text));
        assert_eq!(readable(Some("text/plain")), Some(Kind::Text));
        assert_eq!(readable(None), Some(Kind::Text));
        assert_eq!(readable(Some("image/png")), None);
        assert_eq!(readable(Some("application/octet-stream")), None);
    }
}
