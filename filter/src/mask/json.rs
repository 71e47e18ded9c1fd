//! A bounded, non-recursive scan of a JSON text: where its strings and numbers are, and the
//! span and path of every value, so masking can edit the text in place (keys keep their order,
//! formatting is untouched) and never produce invalid JSON.

use std::borrow::Cow;

use super::swar;

/// Nesting the scanner follows; deeper text is not masked as JSON.
pub const MAX_DEPTH: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A string, quotes included; its content is `start + 1 .. end - 1`.
    String,
    Number,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub start: usize,
    pub end: usize,
    /// A string with a backslash: its text is what decoding its escapes gives.
    pub escaped: bool,
}

/// One step of a value's path; a key is borrowed from the text unless it has escapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step<'a> {
    Key(Cow<'a, str>),
    Index(usize),
}

/// The scan of a document: every string and number token in order, and each value the
/// `visit` callback chose to take whole (with its span).
pub struct Scan {
    pub tokens: Vec<Token>,
}

enum Frame {
    Object,
    Array { index: usize },
}

/// Scans `text`. `take(path)` is asked at the start of every value; when it returns true, the
/// value is recorded whole in `taken` (start, end, whether it is a string) and not looked into.
pub fn scan(text: &[u8], mut take: impl FnMut(&[Step]) -> bool, taken: &mut Vec<(usize, usize, bool)>) -> Result<Scan, String> {
    // About a token per dozen bytes in API responses: one allocation for most bodies.
    let mut tokens = Vec::with_capacity(text.len() / 12);
    let mut stack: Vec<Frame> = Vec::new();
    let mut path: Vec<Step<'_>> = Vec::new();
    let mut i = skip_ws(text, 0);
    // Expecting a value (true) or, inside a container, a separator / close / key.
    let mut want_value = true;
    loop {
        if want_value {
            if i >= text.len() {
                return Err("unexpected end of JSON".into());
            }
            let start = i;
            if take(&path) {
                let end = skip_value(text, i)?;
                taken.push((start, end, text[start] == b'"'));
                i = end;
            } else {
                match text[i] {
                    b'{' | b'[' => {
                        if stack.len() >= MAX_DEPTH {
                            return Err(format!("JSON nested deeper than {MAX_DEPTH}"));
                        }
                        let object = text[i] == b'{';
                        i = skip_ws(text, i + 1);
                        let close = if object { b'}' } else { b']' };
                        if text.get(i) == Some(&close) {
                            i += 1;
                        } else if object {
                            stack.push(Frame::Object);
                            let (key, next) = read_key(text, i, &mut tokens)?;
                            path.push(Step::Key(key));
                            i = next;
                            continue;
                        } else {
                            stack.push(Frame::Array { index: 0 });
                            path.push(Step::Index(0));
                            continue;
                        }
                    }
                    b'"' => {
                        let (end, escaped) = string_end(text, i)?;
                        tokens.push(Token { kind: TokenKind::String, start: i, end, escaped });
                        i = end;
                    }
                    b'-' | b'0'..=b'9' => {
                        let end = i + text[i..].iter().take_while(|b| b"+-.eE0123456789".contains(b)).count();
                        tokens.push(Token { kind: TokenKind::Number, start: i, end, escaped: false });
                        i = end;
                    }
                    _ => {
                        let word = [&b"true"[..], b"false", b"null"].into_iter().find(|w| text[i..].starts_with(w));
                        i += word.ok_or_else(|| format!("unexpected byte at {i}"))?.len();
                    }
                }
            }
            want_value = false;
        }
        i = skip_ws(text, i);
        let Some(frame) = stack.last_mut() else {
            return if i == text.len() { Ok(Scan { tokens }) } else { Err(format!("trailing data at {i}")) };
        };
        match (frame, text.get(i)) {
            (Frame::Object, Some(b',')) => {
                let (next_key, next) = read_key(text, skip_ws(text, i + 1), &mut tokens)?;
                *path.last_mut().expect("a frame has a step") = Step::Key(next_key);
                i = next;
                want_value = true;
            }
            (Frame::Array { index }, Some(b',')) => {
                *index += 1;
                *path.last_mut().expect("a frame has a step") = Step::Index(*index);
                i = skip_ws(text, i + 1);
                want_value = true;
            }
            (Frame::Object, Some(b'}')) | (Frame::Array { .. }, Some(b']')) => {
                stack.pop();
                path.pop();
                i += 1;
            }
            _ => return Err(format!("unexpected byte at {i}")),
        }
    }
}

/// Reads `"key" :` at `i`; returns the key and the index after the colon (and whitespace).
fn read_key<'a>(text: &'a [u8], i: usize, tokens: &mut Vec<Token>) -> Result<(Cow<'a, str>, usize), String> {
    if text.get(i) != Some(&b'"') {
        return Err(format!("expected a key at {i}"));
    }
    let (end, escaped) = string_end(text, i)?;
    tokens.push(Token { kind: TokenKind::String, start: i, end, escaped });
    // Most keys have no escapes: read as they are written, without a copy.
    let key = match escaped {
        false => std::str::from_utf8(&text[i + 1..end - 1]).map(Cow::Borrowed).map_err(|e| format!("bad key at {i}: {e}"))?,
        true => Cow::Owned(serde_json::from_slice(&text[i..end]).map_err(|e| format!("bad key at {i}: {e}"))?),
    };
    let colon = skip_ws(text, end);
    if text.get(colon) != Some(&b':') {
        return Err(format!("expected ':' at {colon}"));
    }
    Ok((key, skip_ws(text, colon + 1)))
}

fn skip_ws(text: &[u8], mut i: usize) -> usize {
    while i < text.len() && matches!(text[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The index after the closing quote of the string starting at `i`, and whether it has escapes.
/// An escape JSON does not define (`\x`, `\u12`) is an error: a client's parser refuses it too,
/// and the string could not be read as that client reads it.
fn string_end(text: &[u8], i: usize) -> Result<(usize, bool), String> {
    let mut j = i + 1;
    let mut escaped = false;
    loop {
        j = quote_or_backslash(text, j);
        match text.get(j) {
            None => return Err(format!("unterminated string at {i}")),
            Some(b'"') => return Ok((j + 1, escaped)),
            // A backslash: the only other byte the search stops at.
            Some(_) => {
                escaped = true;
                j += match text.get(j + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => 2,
                    Some(b'u') if text.get(j + 2..j + 6).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) => 6,
                    _ => return Err(format!("invalid escape at {j}")),
                };
            }
        }
    }
}

/// The first `"` or `\` from `at` (or the end): eight bytes at a time, strings being long.
fn quote_or_backslash(text: &[u8], mut at: usize) -> usize {
    while let Some(x) = swar::eight(text, at) {
        let found = swar::equal(x, b'"') | swar::equal(x, b'\\');
        if found != 0 {
            return at + swar::first_lane(found);
        }
        at += 8;
    }
    let rest = text.get(at..).unwrap_or_default();
    at + rest.iter().position(|b| matches!(b, b'"' | b'\\')).unwrap_or(rest.len())
}

/// The index after the value starting at `i`, containers included (balanced, strings aware).
fn skip_value(text: &[u8], i: usize) -> Result<usize, String> {
    match text.get(i) {
        Some(b'"') => string_end(text, i).map(|(end, _)| end),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < text.len() {
                match text[j] {
                    b'"' => {
                        j = string_end(text, j)?.0;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            Err(format!("unterminated value at {i}"))
        }
        Some(_) => {
            let end = i + text[i..].iter().take_while(|b| !b",}] \t\r\n".contains(b)).count();
            if end == i {
                Err(format!("expected a value at {i}"))
            } else {
                Ok(end)
            }
        }
        None => Err("unexpected end of JSON".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_taken_values() {
        let text = br#"{"a": [1, "x", {"ssn": "123-45-6789", "n": -2.5e3}], "b": true, "ssn": {"k": 1}}"#;
        let mut taken = Vec::new();
        let scan = scan(text, |path| matches!(path.last(), Some(Step::Key(k)) if k == "ssn"), &mut taken).unwrap();
        let spans: Vec<&str> = taken.iter().map(|(s, e, _)| std::str::from_utf8(&text[*s..*e]).unwrap()).collect();
        assert_eq!(spans, vec![r#""123-45-6789""#, r#"{"k": 1}"#]);
        let numbers: Vec<&str> = scan
            .tokens
            .iter()
            .filter(|t| t.kind == TokenKind::Number)
            .map(|t| std::str::from_utf8(&text[t.start..t.end]).unwrap())
            .collect();
        assert_eq!(numbers, vec!["1", "-2.5e3"]);
        let escaped = super::scan(br#"["a", "b\u0040c", "d\/"]"#, |_| false, &mut taken).unwrap();
        assert_eq!(escaped.tokens.iter().map(|t| t.escaped).collect::<Vec<_>>(), vec![false, true, true]);
    }

    #[test]
    fn quote_or_backslash_agrees_with_a_byte_loop() {
        for b in 0..=255u8 {
            for len in 0..20 {
                for lane in 0..len {
                    let mut text = vec![b'a'; len];
                    text[lane] = b;
                    text.extend_from_slice(&[0xff, b'"']);
                    for from in 0..=text.len() + 1 {
                        let naive = (from..text.len()).find(|&i| matches!(text[i], b'"' | b'\\')).unwrap_or(text.len().max(from));
                        assert_eq!(quote_or_backslash(&text, from), naive, "byte {b:#04x} at {lane} of {len}, from {from}");
                    }
                }
            }
        }
    }

    #[test]
    fn keys_are_borrowed_unless_escaped() {
        let text = br#"{"plain": 1, "esc\u0061ped": 2}"#;
        let mut keys = Vec::new();
        scan(
            text,
            |path| {
                if let Some(Step::Key(key)) = path.last() {
                    keys.push((key.to_string(), matches!(key, Cow::Borrowed(_))));
                }
                false
            },
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(keys, vec![("plain".to_string(), true), ("escaped".to_string(), false)]);
    }

    #[test]
    fn paths_name_keys_and_indexes() {
        let text = br#"{"items": [{"card": "x"}, {"card": "y"}], "card": "z"}"#;
        let mut taken = Vec::new();
        let wanted = [Step::Key("items".into()), Step::Index(1), Step::Key("card".into())];
        scan(text, |path| path == wanted, &mut taken).unwrap();
        assert_eq!(taken.len(), 1);
        assert_eq!(&text[taken[0].0..taken[0].1], br#""y""#);
    }

    #[test]
    fn broken_and_deep_documents_are_errors() {
        let mut taken = Vec::new();
        for bad in [
            &b"{"[..],
            b"[1,",
            b"{\"a\" 1}",
            b"\"abc",
            b"[1] x",
            b"{\"a\":tru}",
            b"",
            br#""\x""#,
            br#""\u12""#,
            br#"["\u12"]"#,
            br#""\"#,
        ] {
            assert!(scan(bad, |_| false, &mut taken).is_err(), "{:?}", std::str::from_utf8(bad));
        }
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(scan(deep.as_bytes(), |_| false, &mut taken).is_err());
        assert!(scan(b"[[], {}, \"\", 0]", |_| false, &mut taken).is_ok());
    }
}
