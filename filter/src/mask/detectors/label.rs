//! What names a value: in a table (`id,ssn\n1,123456789`: comma, semicolon, tab or `|`
//! separated, its first line a row of names) the header of the value's column; elsewhere the
//! keyword written nearest before it (`ssn=400 59 1517 phone=072111419`: the phone number is
//! named `phone`, not `ssn`).

/// The longest line read back to find a value's column, and the longest header row.
const LINE_MAX: usize = 4096;
const HEADER_MAX: usize = 1024;
/// The longest column name.
const NAME_MAX: usize = 48;
const SEPARATORS: [u8; 4] = [b'\t', b';', b',', b'|'];

/// Which of `families` (keyword lists, lower case) names the value at `at`: the first one its
/// column's header mentions, in a table; else the one with a keyword nearest before `at`,
/// within `window` (at most 64) bytes.
pub(super) fn label(text: &[u8], at: usize, window: usize, families: &[&[&str]]) -> Option<usize> {
    if let Some(header) = column_header(text, at) {
        return families.iter().position(|keywords| keywords.iter().any(|k| mentions(header, k)));
    }
    let before = &text[at.saturating_sub(window.min(64))..at.min(text.len())];
    let mut nearest: Option<(usize, usize)> = None;
    for (family, keywords) in families.iter().enumerate() {
        for keyword in *keywords {
            if let Some(end) = last_end(before, keyword) {
                if nearest.is_none_or(|(best, _)| end > best) {
                    nearest = Some((end, family));
                }
            }
        }
    }
    nearest.map(|(_, family)| family)
}

/// Where the last occurrence of `keyword` in `text` ends, ignoring ASCII case. A keyword
/// shorter than five bytes counts only at a word start (`tel` not in `hotel`, `ean` not in
/// `Jean`); a longer one anywhere (`Mobiltelefon`, `customerphone`).
fn last_end(text: &[u8], keyword: &str) -> Option<usize> {
    let k = keyword.as_bytes();
    let starts_word = |i: usize| {
        let Some(prev) = i.checked_sub(1).map(|p| text[p]) else { return true };
        !k[0].is_ascii_alphabetic() || !prev.is_ascii_alphabetic() || (prev.is_ascii_lowercase() && text[i].is_ascii_uppercase())
    };
    (0..=text.len().checked_sub(k.len())?)
        .rev()
        .find(|&i| text[i..i + k.len()].eq_ignore_ascii_case(k) && (k.len() >= 5 || starts_word(i)))
        .map(|i| i + k.len())
}

fn mentions(name: &[u8], keyword: &str) -> bool {
    last_end(name, keyword).is_some()
}

/// The length of the text's first line, its newline included, when it is a table's header
/// row (0 when it is not): what a stream keeps in front of the rows it names.
pub(crate) fn header_row(text: &[u8]) -> usize {
    header(text).map_or(0, |(names, _, _)| names.len() + 1 + usize::from(text.get(names.len()) == Some(&b'\r')))
}

/// The text's first line when it is a row of column names: the names, their separator, how many.
fn header(text: &[u8]) -> Option<(&[u8], u8, usize)> {
    let end = text.iter().take(HEADER_MAX).position(|b| *b == b'\n')?;
    let names = text[..end].strip_suffix(b"\r").unwrap_or(&text[..end]);
    let separator = *SEPARATORS.iter().max_by_key(|s| names.iter().filter(|b| *b == *s).count())?;
    let columns = names.split(|b| *b == separator).count();
    (columns >= 2 && names.split(|b| *b == separator).all(is_name)).then_some((names, separator, columns))
}

/// The header of the column the value at `at` starts, when the text's first line is a row of
/// column names and the value's line a row of as many fields.
fn column_header(text: &[u8], at: usize) -> Option<&[u8]> {
    let (names, separator, columns) = header(text)?;
    if at <= names.len() {
        return None;
    }
    let line_start = (at.saturating_sub(LINE_MAX)..at).rev().find(|&i| text[i] == b'\n')? + 1;
    let line_end = text[at..].iter().take(LINE_MAX).position(|b| *b == b'\n').map_or(text.len(), |p| at + p);
    let line = &text[line_start..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let start = if at > line_start && text[at - 1] == b'"' { at - 1 } else { at };
    if (start > line_start && text[start - 1] != separator) || separators(line, separator) + 1 != columns {
        return None;
    }
    names.split(|b| *b == separator).nth(separators(&text[line_start..start], separator))
}

/// How many separators `row` has outside quotes.
fn separators(row: &[u8], separator: u8) -> usize {
    let mut quoted = false;
    row.iter()
        .filter(|&&b| {
            quoted ^= b == b'"';
            b == separator && !quoted
        })
        .count()
}

/// A column name: short, not a number, of letters, digits, spaces and `_-.#/()`, maybe quoted.
fn is_name(field: &[u8]) -> bool {
    let field = field.trim_ascii();
    let field = field.strip_prefix(b"\"").and_then(|f| f.strip_suffix(b"\"")).unwrap_or(field);
    let allowed = |b: &u8| b.is_ascii_alphanumeric() || b" _-.#/()".contains(b) || *b >= 0x80;
    !field.is_empty() && field.len() <= NAME_MAX && !field[0].is_ascii_digit() && field.iter().all(allowed)
}
