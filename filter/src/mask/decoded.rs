//! Text as the client will read it out of an encoded form (a JSON string's escapes, a form
//! body's percent-encoding), with a map back to the raw bytes, so detectors see the value the
//! client's parser produces (`jane\u0040example.com` is an email) while edits land on raw bytes.
//!
//! The contract: the decoded text is a run of units, each from one contiguous raw span (an
//! escape, `%XX`, `+`, or one raw byte). [`Decoded::raw_span`] widens a decoded span to whole
//! characters and whole units before mapping it, so an edit never cuts an escape or a UTF-8
//! sequence in two. A text with nothing to decode is borrowed as it is (no allocation).

use std::borrow::Cow;
use std::ops::Range;

pub struct Decoded<'a> {
    text: &'a [u8],
    /// Where the decoded text's raw bytes start in the body.
    base: usize,
    /// For each decoded byte, the raw offset (from `base`) of the unit it comes from, and the
    /// raw length last; empty when the text is borrowed.
    map: &'a [usize],
    /// What is to be matched and edited; the text around it is context.
    content: Range<usize>,
}

/// The buffers decoded texts are written to, reused from one string to the next.
#[derive(Default)]
pub struct Scratch {
    text: Vec<u8>,
    map: Vec<usize>,
}

impl Scratch {
    /// A JSON string's content (between the quotes) at `base`. Every escape is decoded,
    /// surrogate pairs included; a lone surrogate reads as U+FFFD (as serde_json's lossy mode and
    /// most clients show it), and a malformed escape, which the scanner refuses before this,
    /// stays a literal backslash.
    pub fn json<'a>(&'a mut self, raw: &'a [u8], base: usize) -> Decoded<'a> {
        if !raw.contains(&b'\\') {
            return Decoded::plain(raw, base);
        }
        self.start(raw.len());
        self.push_json(raw, 0);
        self.finish(raw.len(), base)
    }

    /// The JSON string `body[token]` (its quotes included) decoded as [`Scratch::json`] does,
    /// after up to `context` raw bytes before it and with its closing quote, both as they are:
    /// detectors read what names the value (`"password": "`) as in the raw body, and
    /// [`Decoded::content`] is the string's content.
    pub fn json_string<'a>(&'a mut self, body: &'a [u8], token: Range<usize>, context: usize) -> Decoded<'a> {
        let from = token.start.saturating_sub(context);
        let raw = &body[from..token.end];
        let content = token.start + 1 - from..raw.len() - 1;
        if !raw[content.clone()].contains(&b'\\') {
            return Decoded { content, ..Decoded::plain(raw, from) };
        }
        self.start(raw.len());
        for (i, &byte) in raw[..content.start].iter().enumerate() {
            self.push(Unit::Byte(byte), i);
        }
        self.push_json(&raw[content.clone()], content.start);
        let decoded = content.start..self.text.len();
        self.push(Unit::Byte(b'"'), content.end);
        Decoded { content: decoded, ..self.finish(raw.len(), from) }
    }

    /// Decodes a JSON string's content `raw`, at `offset` in the raw text being decoded.
    fn push_json(&mut self, raw: &[u8], offset: usize) {
        let mut i = 0;
        while let Some(&byte) = raw.get(i) {
            let (unit, len) = if byte == b'\\' { json_escape_at(raw, i) } else { (Unit::Byte(byte), 1) };
            self.push(unit, offset + i);
            i += len;
        }
    }

    /// One key or value of an `application/x-www-form-urlencoded` body at `base`: `+` is a
    /// space and `%XX` a byte; a `%` not followed by two hex digits stays itself (as WHATWG
    /// URL parsers and Python's `parse_qs` read it).
    pub fn form<'a>(&'a mut self, raw: &'a [u8], base: usize) -> Decoded<'a> {
        if !raw.iter().any(|b| matches!(b, b'%' | b'+')) {
            return Decoded::plain(raw, base);
        }
        self.start(raw.len());
        let mut i = 0;
        while let Some(&byte) = raw.get(i) {
            let percent = (byte == b'%').then(|| hex(raw, i + 1, 2)).flatten();
            let (unit, len) = match (byte, percent) {
                (_, Some(value)) => (Unit::Byte(value as u8), 3),
                (b'+', _) => (Unit::Byte(b' '), 1),
                _ => (Unit::Byte(byte), 1),
            };
            self.push(unit, i);
            i += len;
        }
        self.finish(raw.len(), base)
    }

    fn start(&mut self, capacity: usize) {
        self.text.clear();
        self.map.clear();
        self.text.reserve(capacity);
        self.map.reserve(capacity + 1);
    }

    fn push(&mut self, unit: Unit, raw_at: usize) {
        let mut buffer = [0u8; 4];
        let bytes: &[u8] = match unit {
            Unit::Byte(b) => {
                buffer[0] = b;
                &buffer[..1]
            }
            Unit::Char(c) => c.encode_utf8(&mut buffer).as_bytes(),
        };
        self.text.extend_from_slice(bytes);
        self.map.extend(std::iter::repeat_n(raw_at, bytes.len()));
    }

    fn finish(&mut self, raw_len: usize, base: usize) -> Decoded<'_> {
        self.map.push(raw_len);
        Decoded { text: &self.text, base, map: &self.map, content: 0..self.text.len() }
    }
}

impl<'a> Decoded<'a> {
    /// A text with nothing to decode, at `base`.
    pub fn plain(text: &'a [u8], base: usize) -> Decoded<'a> {
        Decoded { text, base, map: &[], content: 0..text.len() }
    }

    pub fn text(&self) -> &[u8] {
        self.text
    }

    /// The part of [`Decoded::text`] to match and edit.
    pub fn content(&self) -> Range<usize> {
        self.content.clone()
    }

    /// The decoded span `start..end` widened to whole characters and units, and the raw body
    /// span those units came from.
    pub fn raw_span(&self, start: usize, end: usize) -> (Range<usize>, Range<usize>) {
        let text = self.text();
        let continuation = |i: usize| text.get(i).is_some_and(|b| b & 0xC0 == 0x80);
        let (mut start, mut end) = (start.min(text.len()), end.min(text.len()));
        // A UTF-8 sequence is at most four bytes: three steps reach its lead byte or its end.
        for _ in 0..3 {
            if start > 0 && continuation(start) {
                start -= 1;
            }
            if continuation(end) {
                end += 1;
            }
        }
        if self.map.is_empty() {
            return (start..end, self.base + start..self.base + end);
        }
        let unit_boundary = |i: usize| i == 0 || i >= text.len() || self.map.get(i) != self.map.get(i - 1);
        while !unit_boundary(start) {
            start -= 1;
        }
        while !unit_boundary(end) {
            end += 1;
        }
        let raw = |i: usize| self.base + self.map.get(i).copied().unwrap_or(0);
        (start..end, raw(start)..raw(end))
    }
}

enum Unit {
    Byte(u8),
    Char(char),
}

/// The unit of the escape at `raw[i] == b'\\'` and its raw length.
fn json_escape_at(raw: &[u8], i: usize) -> (Unit, usize) {
    let simple = match raw.get(i + 1) {
        Some(b'"') => b'"',
        Some(b'\\') => b'\\',
        Some(b'/') => b'/',
        Some(b'b') => 0x08,
        Some(b'f') => 0x0C,
        Some(b'n') => b'\n',
        Some(b'r') => b'\r',
        Some(b't') => b'\t',
        Some(b'u') => return unicode_escape_at(raw, i),
        _ => return (Unit::Byte(b'\\'), 1),
    };
    (Unit::Byte(simple), 2)
}

/// `\uXXXX`, or a surrogate pair `\uD83D\uDE00` as one unit of 12 raw bytes.
fn unicode_escape_at(raw: &[u8], i: usize) -> (Unit, usize) {
    let Some(first) = hex(raw, i + 2, 4) else { return (Unit::Byte(b'\\'), 1) };
    match first {
        0xD800..=0xDBFF => {
            let low = raw.get(i + 6..i + 8).filter(|s| *s == b"\\u").and_then(|_| hex(raw, i + 8, 4));
            match low {
                Some(low @ 0xDC00..=0xDFFF) => {
                    let code = 0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00);
                    (Unit::Char(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)), 12)
                }
                _ => (Unit::Char(char::REPLACEMENT_CHARACTER), 6),
            }
        }
        _ => (Unit::Char(char::from_u32(first).unwrap_or(char::REPLACEMENT_CHARACTER)), 6),
    }
}

/// The value of `digits` hex digits at `raw[at..]`, if they are all there.
fn hex(raw: &[u8], at: usize, digits: usize) -> Option<u32> {
    let slice = raw.get(at..at.checked_add(digits)?)?;
    slice.iter().try_fold(0u32, |acc, b| Some(acc * 16 + (*b as char).to_digit(16)?))
}

/// `text` as the content of a JSON string: quote, backslash and control characters escaped.
pub fn json_encoded(text: Cow<'_, [u8]>) -> Cow<'_, [u8]> {
    if !text.iter().any(|b| matches!(b, b'"' | b'\\') || *b < 0x20) {
        return text;
    }
    let mut out = Vec::with_capacity(text.len() + 8);
    for &b in text.iter() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1F => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    Cow::Owned(out)
}

/// `text` as a form key or value: what is not unreserved is percent-encoded, a space is `+`.
pub fn form_encoded(text: Cow<'_, [u8]>) -> Cow<'_, [u8]> {
    let mut out = Vec::with_capacity(text.len() + 8);
    for &b in text.iter() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(b),
            b' ' => out.push(b'+'),
            _ => out.extend_from_slice(format!("%{b:02X}").as_bytes()),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes_decode_with_their_raw_spans() {
        let raw = br#"Jane \u003cjane\u0040x.io\u003e \ud83d\ude00 \/ \ud800 \n"#;
        let mut scratch = Scratch::default();
        let d = scratch.json(raw, 10);
        assert_eq!(String::from_utf8_lossy(d.text()), "Jane <jane@x.io> \u{1F600} / \u{FFFD} \n");
        let at = d.text().iter().position(|b| *b == b'j').unwrap();
        let (decoded, span) = d.raw_span(at, at + "jane@x.io".len());
        assert_eq!(&d.text()[decoded], b"jane@x.io");
        assert_eq!(&raw[span.start - 10..span.end - 10], br"jane\u0040x.io");
        // A span that cuts the emoji's UTF-8 takes the whole surrogate pair.
        let emoji = d.text().iter().position(|b| *b == 0xF0).unwrap();
        let (decoded, span) = d.raw_span(emoji + 1, emoji + 2);
        assert_eq!(decoded.len(), 4);
        assert_eq!(&raw[span.start - 10..span.end - 10], br"\ud83d\ude00");
    }

    #[test]
    fn a_json_string_decodes_after_its_raw_context() {
        let body = br#"{"password": "a\u0026b", "k": "plain"}"#;
        let mut scratch = Scratch::default();
        let d = scratch.json_string(body, 13..23, 64);
        assert_eq!((d.text(), d.content()), (&br#"{"password": "a&b""#[..], 14..17));
        let (decoded, span) = d.raw_span(14, 17);
        assert_eq!((decoded, &body[span]), (14..17, &br"a\u0026b"[..]));
        let d = scratch.json_string(body, 30..37, 4);
        assert!(d.map.is_empty(), "borrowed");
        assert_eq!((d.text(), d.content()), (&br#"k": "plain""#[..], 5..10));
        assert_eq!(d.raw_span(5, 10).1, 31..36);
    }

    #[test]
    fn plain_text_is_borrowed_and_malformed_escapes_stay_literal() {
        let mut scratch = Scratch::default();
        let d = scratch.json(b"plain", 3);
        assert!(d.map.is_empty(), "borrowed");
        assert_eq!(d.raw_span(1, 3), (1..3, 4..6));
        for raw in [&br"\u12"[..], br"\x", br"\", br"\ud83d\u12"] {
            let d = scratch.json(raw, 0);
            assert!(d.text().starts_with(b"\\") || d.text().starts_with("\u{FFFD}".as_bytes()), "{raw:?}");
            let (_, span) = d.raw_span(0, d.text().len());
            assert!(span.end <= raw.len());
        }
    }

    #[test]
    fn form_components_decode_and_encode() {
        let raw = b"jane.doe%40example.com+or+%E2%82%AC%zz";
        let mut scratch = Scratch::default();
        let d = scratch.form(raw, 0);
        assert_eq!(String::from_utf8_lossy(d.text()), "jane.doe@example.com or \u{20AC}%zz");
        let (decoded, span) = d.raw_span(0, 20);
        assert_eq!((decoded, &raw[span]), (0..20, &b"jane.doe%40example.com"[..]));
        assert_eq!(&*form_encoded(Cow::Borrowed(b"[REDACTED:email] x")), b"%5BREDACTED%3Aemail%5D+x");
        assert_eq!(&*json_encoded(Cow::Borrowed(b"a\"b\\c\x01")), br#"a\"b\\c\u0001"#);
    }
}
