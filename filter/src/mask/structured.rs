//! JSON and form bodies masked as their clients will read them. Every JSON string (keys
//! included: a map keyed by email is content too) and every form key and value is matched
//! decoded ([`super::decoded`]), and a replacement is written back encoded over the raw span of
//! what matched, so the body stays valid JSON (or a valid form) whatever escapes it used and a
//! value written with escapes (`jane\u0040example.com`) is found. A match never spans two strings.
//!
//! The common case stays one scan of the raw body: a match inside a string without escapes is
//! what the client reads, and is edited as it is. Only strings with escapes, and tokens a raw
//! match crossed into from JSON structure, are decoded and matched one by one.

use std::borrow::Cow;

use super::decoded::{form_encoded, json_encoded, Decoded, Scratch};
use super::json::{self, Token, TokenKind};
use super::{quoted, Action, Edits, Found, MaskCache, Masker};

/// How much of the body before an escaped string its detectors read at most (as they read the
/// raw body): its key, as far back as a keyword names a value.
const KEY_CONTEXT: usize = 64;

impl Masker {
    /// Field rules and content detectors on a JSON body; `Err` (nothing edited) when it is not JSON.
    pub(super) fn mask_json<'m>(&'m self, cache: &mut MaskCache, body: &[u8], edits: &mut Edits<'m>) -> Result<(), String> {
        let mut taken = Vec::new();
        let mut fields_of: Vec<usize> = Vec::new();
        let take = |path: &[json::Step]| match self.fields.iter().position(|f| f.matches(path)) {
            Some(i) => {
                fields_of.push(i);
                true
            }
            None => false,
        };
        let scan = json::scan(body, take, &mut taken)?;
        let mut scratch = Scratch::default();
        for (&(start, end, is_string), &field) in taken.iter().zip(&fields_of) {
            let rule = &self.fields[field];
            if is_string {
                let content = scratch.json(&body[start + 1..end - 1], start + 1);
                let replacement = self.replace(rule.action, &rule.label, content.text());
                edits.push(&rule.label, start + 1..end - 1, json_encoded(Cow::Owned(replacement)));
            } else {
                let container = matches!(body[start], b'{' | b'[');
                let action = if container && rule.action == Action::Partial { Action::Redact } else { rule.action };
                let replacement = self.replace(action, &rule.label, &body[start..end]);
                edits.push(&rule.label, start..end, quoted(json_encoded(Cow::Owned(replacement))));
            }
        }
        self.mask_json_content(cache, body, &scan.tokens, &taken, &mut scratch, edits);
        Ok(())
    }

    /// Content detectors on every string and number not taken by a field rule.
    fn mask_json_content<'m>(
        &'m self,
        cache: &mut MaskCache,
        body: &[u8],
        tokens: &[Token],
        taken: &[(usize, usize, bool)],
        scratch: &mut Scratch,
        edits: &mut Edits<'m>,
    ) {
        let found = self.find(cache, body);
        let escaped = tokens.iter().any(|t| t.escaped);
        if found.is_empty() && !escaped {
            return;
        }
        // Tokens to match again on their own: escaped strings, and what a raw match crossed into.
        let mut again: Vec<bool> = tokens.iter().map(|t| t.escaped).collect();
        let mut inside = Vec::new();
        for found in found {
            let before = taken.partition_point(|&(start, _, _)| start <= found.start);
            if before > 0 && taken[before - 1].1 >= found.end {
                continue;
            }
            let at = tokens.partition_point(|t| t.start <= found.start).checked_sub(1);
            match at.map(|i| (i, tokens[i])) {
                Some((i, t)) if t.kind == TokenKind::String && found.start > t.start && found.end < t.end => {
                    inside.push((i, found))
                }
                Some((i, t)) if t.kind == TokenKind::Number && found.end <= t.end => inside.push((i, found)),
                _ => {
                    let first = tokens.partition_point(|t| t.end <= found.start);
                    let last = tokens.partition_point(|t| t.start < found.end);
                    again.iter_mut().take(last).skip(first).for_each(|again| *again = true);
                }
            }
        }
        for (i, found) in inside {
            if !again[i] {
                self.edit_token(body, &tokens[i], found, edits);
            }
        }
        for (i, token) in tokens.iter().enumerate().filter(|&(i, _)| again[i]) {
            match token.kind {
                TokenKind::String => {
                    // Back to the token before (a value's key), no further.
                    let context = i.checked_sub(1).map_or(0, |before| token.start - tokens[before].start).min(KEY_CONTEXT);
                    let string = scratch.json_string(body, token.start..token.end, context);
                    self.edit_decoded(cache, &string, json_encoded, edits);
                }
                TokenKind::Number => {
                    let number = &body[token.start..token.end];
                    if let Some(&found) = self.find(cache, number).first() {
                        let whole = Found { start: token.start, end: token.end, ..found };
                        self.edit_token(body, token, whole, edits);
                    }
                }
            }
        }
    }

    /// A raw match inside one token: a string without escapes (the raw text is what the client
    /// reads), or a number, which becomes a string whole.
    fn edit_token<'m>(&'m self, body: &[u8], token: &Token, found: Found, edits: &mut Edits<'m>) {
        let name = self.detector_name(found.detector);
        match token.kind {
            TokenKind::String => {
                let content_start = token.start + 1;
                let content = Decoded::plain(&body[content_start..token.end - 1], content_start);
                let (text, raw) = content.raw_span(found.start - content_start, found.end - content_start);
                edits.push(name, raw, json_encoded(self.replacement(&found, &content.text()[text])));
            }
            TokenKind::Number => {
                let replacement = self.replacement(&found, &body[token.start..token.end]);
                edits.push(name, token.start..token.end, quoted(json_encoded(replacement)));
            }
        }
    }

    /// Every match in a decoded text, edited over the raw span it came from.
    fn edit_decoded<'m>(
        &'m self,
        cache: &mut MaskCache,
        text: &Decoded<'_>,
        encode: fn(Cow<'m, [u8]>) -> Cow<'m, [u8]>,
        edits: &mut Edits<'m>,
    ) {
        // Widened to whole units, a match may reach into the next one's first unit: the next
        // starts where this one ended.
        let content = text.content();
        let mut done = content.start;
        for found in self.find_from(cache, text.text(), content.start) {
            if found.end <= done || found.start >= content.end {
                continue;
            }
            let (span, raw) = text.raw_span(found.start.max(done), found.end.min(content.end));
            if span.start < content.start {
                continue;
            }
            let replacement = self.replacement(&found, &text.text()[span.clone()]);
            edits.push(self.detector_name(found.detector), raw, encode(replacement));
            done = span.end;
        }
    }

    /// Content detectors on each key and value of an `application/x-www-form-urlencoded` body.
    pub(super) fn mask_form<'m>(&'m self, cache: &mut MaskCache, body: &[u8], edits: &mut Edits<'m>) {
        let mut scratch = Scratch::default();
        let mut at = 0;
        for pair in body.split(|b| *b == b'&') {
            let key_end = pair.iter().position(|b| *b == b'=').unwrap_or(pair.len());
            let (key, value) = pair.split_at(key_end);
            self.edit_decoded(cache, &scratch.form(key, at), form_encoded, edits);
            if let Some(value) = value.get(1..) {
                self.edit_decoded(cache, &scratch.form(value, at + key_end + 1), form_encoded, edits);
            }
            at += pair.len() + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{detectors, BodyKind, FieldMatch, FieldRule};
    use super::*;
    use crate::glob::Glob;
    use serde_json::Value;

    /// Each built-in detector's sample, as the text it sits in and the sensitive part of it.
    const SAMPLES: &[(&str, &str, &str)] = &[
        ("email", "jane.doe+x@example.co.uk", "jane.doe+x@example.co.uk"),
        ("credit_card", "4111 1111 1111 1111", "4111 1111 1111 1111"),
        ("us_ssn", "123-45-6789", "123-45-6789"),
        ("iban", "GB82 WEST 1234 5698 7654 32", "GB82 WEST 1234 5698 7654 32"),
        ("phone", "+14155550134", "+14155550134"),
        ("ipv4", "10.0.12.7", "10.0.12.7"),
        ("ipv6", "2001:db8::8a2e:370:7334", "2001:db8::8a2e:370:7334"),
        ("aws_access_key", "AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
        ("github_token", "ghp_0123456789abcdefghijklmnopqrstuvwxyz", "ghp_0123456789abcdefghijklmnopqrstuvwxyz"),
        ("slack_token", "xoxb-123456789012-abcdefghij", "xoxb-123456789012-abcdefghij"),
        ("jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature-x", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature-x"),
        ("api_key", "api_key=abcdef0123456789xyz", "abcdef0123456789xyz"),
        (
            "private_key",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
        ),
    ];

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Style {
        /// Only what JSON requires (serde_json, JavaScript).
        Plain,
        /// Python's `json.dumps` default (`ensure_ascii`): non-ASCII as `\u00e9`, astral as pairs.
        Python,
        /// Go's `encoding/json` default: `<`, `>`, `&`, U+2028 and U+2029 escaped.
        Go,
        EveryChar,
        Slash,
    }

    fn escape_utf16(c: char, out: &mut String) {
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            out.push_str(&format!("\\u{unit:04x}"));
        }
    }

    fn encode(text: &str, style: Style) -> String {
        let mut out = String::from("\"");
        for c in text.chars() {
            match (c, style) {
                (_, Style::EveryChar) => escape_utf16(c, &mut out),
                ('"', _) => out.push_str("\\\""),
                ('\\', _) => out.push_str("\\\\"),
                ('\n', _) => out.push_str("\\n"),
                (c, _) if (c as u32) < 0x20 => escape_utf16(c, &mut out),
                (c, Style::Python) if !c.is_ascii() => escape_utf16(c, &mut out),
                ('<' | '>' | '&' | '\u{2028}' | '\u{2029}', Style::Go) => escape_utf16(c, &mut out),
                ('/', Style::Slash) => out.push_str("\\/"),
                (c, _) => out.push(c),
            }
        }
        out.push('"');
        out
    }

    fn masker(name: &str, action: Action, fields: Vec<FieldRule>) -> Masker {
        Masker::compile(&[(name.to_string(), action)].into(), &[], fields, None).unwrap_or_else(|_| panic!("compiles"))
    }

    fn strings(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
            Value::Object(map) => map.iter().for_each(|(k, v)| {
                out.push(k.clone());
                strings(v, out)
            }),
            _ => {}
        }
    }

    fn body(value: &str, style: Style) -> String {
        let text = encode(&format!("Ren\u{e9} \u{1F600} x/ <{value}> & done\u{2028}"), style);
        format!(r#"{{"note": {text}, "list": [1, {text}], {text}: true}}"#)
    }

    #[test]
    fn every_detector_action_and_escape_style_gives_valid_json_with_the_value_masked() {
        let styles = [Style::Plain, Style::Python, Style::Go, Style::EveryChar, Style::Slash];
        assert_eq!(SAMPLES.len(), detectors::names().len(), "a sample for every built-in");
        for &(name, value, sensitive) in SAMPLES {
            for action in [Action::Redact, Action::Partial, Action::Hash] {
                let m = masker(name, action, Vec::new());
                let expected = String::from_utf8(m.replace(action, name, sensitive.as_bytes())).unwrap();
                for style in styles {
                    let input = body(value, style);
                    let what = format!("{name} {action:?} {style:?}: {input}");
                    let out = m.mask_as(&mut m.cache(), input.as_bytes(), BodyKind::Json);
                    let parsed: Value = serde_json::from_slice(&out.body)
                        .unwrap_or_else(|e| panic!("{what}: invalid JSON ({e}): {}", String::from_utf8_lossy(&out.body)));
                    let mut texts = Vec::new();
                    strings(&parsed, &mut texts);
                    let masked: Vec<&String> = texts.iter().filter(|t| t.contains("done")).collect();
                    assert_eq!(masked.len(), 3, "{what}");
                    for text in masked {
                        assert!(text.contains(&expected), "{what}: {text:?} lacks {expected:?}");
                        assert!(
                            text.starts_with("Ren\u{e9} \u{1F600} x/ <") && text.ends_with("> & done\u{2028}"),
                            "{what}: {text:?}"
                        );
                        assert!(!text.contains(sensitive), "{what}: {text:?}");
                        if action != Action::Partial {
                            let chars: Vec<char> = sensitive.chars().collect();
                            for piece in chars.windows(6) {
                                assert!(!text.contains(&piece.iter().collect::<String>()), "{what}: {text:?} keeps {piece:?}");
                            }
                        }
                    }
                    assert_eq!(out.counts.get(name), Some(&3), "{what}");
                }
            }
        }
    }

    #[test]
    fn the_reported_bugs_go_and_python_bodies() {
        let m = masker("email", Action::Redact, Vec::new());
        let mask = |body: &str| String::from_utf8(m.mask_as(&mut m.cache(), body.as_bytes(), BodyKind::Json).body).unwrap();
        assert_eq!(mask(r#"["Jane \u003cjane.doe@example.com\u003e"]"#), r#"["Jane \u003c[REDACTED:email]\u003e"]"#);
        assert_eq!(mask(r#"{"e": "jane.doe\u0040example.com"}"#), r#"{"e": "[REDACTED:email]"}"#);
        assert_eq!(
            mask(r#"{"e": "Jos\u00e9 jane@example.com \ud83d\ude00"}"#),
            r#"{"e": "Jos\u00e9 [REDACTED:email] \ud83d\ude00"}"#
        );
        // Partial works on the decoded value and is written back encoded.
        let p = masker("email", Action::Partial, Vec::new());
        let out = p.mask_as(&mut p.cache(), br#"{"e": "\"jane\u0040example.com"}"#, BodyKind::Json);
        assert_eq!(String::from_utf8(out.body).unwrap(), r#"{"e": "\"j***@example.com"}"#);
        // A match on a lone surrogate's side reads it as U+FFFD and leaves it as it was.
        assert_eq!(mask(r#"["\ud800jane@example.com"]"#), r#"["\ud800[REDACTED:email]"]"#);
    }

    #[test]
    fn an_escaped_value_is_named_by_its_key_as_a_plain_one_is() {
        let m = Masker::compile(
            &["api_key", "us_ssn", "email"].into_iter().map(|n| (n.to_string(), Action::Redact)).collect(),
            &[],
            Vec::new(),
            None,
        )
        .unwrap_or_else(|_| panic!("compiles"));
        let mask = |body: &str| String::from_utf8(m.mask_as(&mut m.cache(), body.as_bytes(), BodyKind::Json).body).unwrap();
        assert_eq!(mask(r#"{"password": "w37_#5lG\u00263Ok3N#vB3i"}"#), r#"{"password": "[REDACTED:api_key]"}"#);
        assert_eq!(mask(r#"{"ssn": "12345\u0036789"}"#), r#"{"ssn": "[REDACTED:us_ssn]"}"#);
        // The key is context only: what it holds is not masked, nor what the string before holds.
        assert_eq!(
            mask(r#"{"a@b.io": "x", "e": "\u00e9 c@d.io"}"#),
            r#"{"[REDACTED:email]": "x", "e": "\u00e9 [REDACTED:email]"}"#
        );
    }

    #[test]
    fn field_rules_read_escaped_values_decoded() {
        let rule = |action| FieldRule {
            matcher: FieldMatch::Name(Glob::case_insensitive("card").unwrap()),
            action,
            label: "card".into(),
        };
        let m = masker("email", Action::Redact, vec![rule(Action::Partial)]);
        let out = m.mask_as(&mut m.cache(), br#"{"c\u0061rd": "4111\u002d1111\u002d1111\u002d1111"}"#, BodyKind::Json);
        assert_eq!(String::from_utf8(out.body).unwrap(), r#"{"c\u0061rd": "****-****-****-1111"}"#);
        let h = masker("email", Action::Redact, vec![rule(Action::Hash)]);
        let hash = |body: &[u8]| serde_json::from_slice::<Value>(&h.mask_as(&mut h.cache(), body, BodyKind::Json).body).unwrap();
        assert_eq!(hash(br#"{"card": "4111\u00201111"}"#), hash(br#"{"card": "4111 1111"}"#), "equal values hash equally");
    }

    #[test]
    fn broken_and_cut_bodies_never_panic_and_fall_back_to_text() {
        let fields = vec![FieldRule {
            matcher: FieldMatch::Name(Glob::case_insensitive("ssn").unwrap()),
            action: Action::Redact,
            label: "ssn".into(),
        }];
        let m = masker("email", Action::Redact, fields);
        let whole = body("jane@example.com", Style::Python);
        let mut broken: Vec<Vec<u8>> = (0..whole.len()).map(|cut| whole.as_bytes()[..cut].to_vec()).collect();
        for bad in [r#"["a@b.io \u12"]"#, r#"["a@b.io \x"]"#, r#"["a@b.io \"#, r#"["a@b.io \u"#, r#"{"ssn": "\uZZZZ"}"#] {
            broken.push(bad.as_bytes().to_vec());
        }
        for input in broken {
            let out = m.mask_as(&mut m.cache(), &input, BodyKind::Json);
            assert!(!out.complete, "{}", String::from_utf8_lossy(&input));
            assert_eq!(out.body, m.mask_as(&mut m.cache(), &input, BodyKind::Text).body);
        }
    }

    #[test]
    fn mutated_bodies_that_are_json_stay_json() {
        let m = Masker::compile(
            &detectors::names().into_iter().map(|n| (n.to_string(), Action::Partial)).collect(),
            &[],
            Vec::new(),
            None,
        )
        .unwrap_or_else(|_| panic!("compiles"));
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % bound as u64) as usize
        };
        let pieces: [&[u8]; 10] = [b"\\", b"\"", b"\\u", b"d83d", b"\\ude00", b"@", b"00e9", b"\\n", b"4111", b"1"];
        let mut checked = 0;
        for &(_, value, _) in SAMPLES {
            for style in [Style::Python, Style::Go, Style::EveryChar] {
                let original = body(value, style).into_bytes();
                for _ in 0..40 {
                    let mut input = original.clone();
                    for _ in 0..1 + next(3) {
                        let at = next(input.len());
                        match next(3) {
                            0 => drop(input.remove(at)),
                            _ => input.splice(at..at, pieces[next(pieces.len())].iter().copied()).for_each(drop),
                        }
                    }
                    let out = m.mask_as(&mut m.cache(), &input, BodyKind::Json);
                    if serde_json::from_slice::<Value>(&input).is_ok() {
                        checked += 1;
                        assert!(serde_json::from_slice::<Value>(&out.body).is_ok(), "{}", String::from_utf8_lossy(&input));
                    }
                }
            }
        }
        assert!(checked > 100, "{checked} mutated bodies were JSON");
    }

    #[test]
    fn form_bodies_are_matched_decoded_and_written_back_encoded() {
        let m = masker("email", Action::Partial, Vec::new());
        let body = b"to=jane.doe%40example.com&cc=a%2Bb%40x.io+and+c@y.io&note=%E2%82%AC&bad=%zz&jane@example.com";
        let out = m.mask_as(&mut m.cache(), body, BodyKind::Form);
        let text = String::from_utf8(out.body).unwrap();
        assert_eq!(text, "to=j***%40example.com&cc=a***%40x.io+and+c***%40y.io&note=%E2%82%AC&bad=%zz&j***%40example.com");
        assert_eq!(out.counts.get("email"), Some(&4));
        assert!(out.complete);
    }
}
