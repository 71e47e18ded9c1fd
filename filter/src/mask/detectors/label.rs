//! What names a value: in a table (`id,ssn\n1,123456789`: comma, semicolon, tab or `|`
//! separated, its first line a row of names) the header of the value's column; elsewhere the
//! keyword written nearest before it (`ssn=400 59 1517 phone=072111419`: the phone number is
//! named `phone`, not `ssn`).

use std::cell::OnceCell;

/// The longest line read back to find a value's column, and the longest header row.
const LINE_MAX: usize = 4096;
const HEADER_MAX: usize = 1024;
/// The longest column name.
const NAME_MAX: usize = 48;
const SEPARATORS: [u8; 4] = [b'\t', b';', b',', b'|'];

/// How the values of one text are named; its header row is read once, when first asked for.
pub(super) struct Names<'a> {
    text: &'a [u8],
    header: OnceCell<Option<Header<'a>>>,
}

/// A table's header row: the names, their separator, how many.
#[derive(Clone, Copy)]
struct Header<'a> {
    names: &'a [u8],
    separator: u8,
    columns: usize,
}

impl<'a> Names<'a> {
    pub fn of(text: &'a [u8]) -> Names<'a> {
        Names { text, header: OnceCell::new() }
    }

    /// Which of `families` (keyword lists, lower case) names the value at `at`: the first one
    /// its column's header mentions, in a table; else the one with a keyword nearest before
    /// `at`, within `window` (at most 64) bytes.
    pub fn label(&self, at: usize, window: usize, families: &[&[&str]]) -> Option<usize> {
        if let Some(name) = self.header.get_or_init(|| header(self.text)).and_then(|h| column(self.text, h, at)) {
            let mut lowered = [0u8; 64];
            let lower = lowercase(name, &mut lowered);
            return families.iter().position(|keywords| keywords.iter().any(|k| mentions(name, lower, k)));
        }
        let from = at.saturating_sub(window.min(64));
        let before = &self.text[from..at.min(self.text.len())];
        let mut lowered = [0u8; 64];
        let lower = lowercase(before, &mut lowered);
        let mut first = [false; 256];
        for k in families.iter().flat_map(|keywords| keywords.iter()) {
            first[usize::from(k.as_bytes()[0])] = true;
        }
        // From the last start back, until no keyword starting earlier can end later.
        let mut nearest: Option<(usize, usize)> = None;
        for i in (0..before.len()).rev() {
            if nearest.is_some_and(|(end, _)| i + KEYWORD_MAX < end) {
                break;
            }
            if !first[usize::from(lower[i])] {
                continue;
            }
            for (family, keywords) in families.iter().enumerate() {
                for k in keywords.iter().map(|k| k.as_bytes()) {
                    let end = i + k.len();
                    // Read in the whole text: a keyword the window cut from its word (`ean` of
                    // `Jeannine`) is not at a word start.
                    if same(lower.get(i..end), k) && counts_at(self.text, from + i, k) {
                        nearest = nearest.filter(|(best, _)| *best >= end).or(Some((end, family)));
                    }
                }
            }
        }
        nearest.map(|(_, family)| family)
    }
}

/// The longest keyword a family may hold.
const KEYWORD_MAX: usize = 24;

/// Whether `keyword`, found at `i` in `text`, counts there: a keyword shorter than five bytes
/// only at a word start (`tel` not in `hotel`, `ean` not in `Jean`), a longer one anywhere
/// (`Mobiltelefon`, `customerphone`).
fn counts_at(text: &[u8], i: usize, keyword: &[u8]) -> bool {
    let Some(prev) = i.checked_sub(1).map(|p| text[p]) else { return true };
    keyword.len() >= 5
        || !keyword[0].is_ascii_alphabetic()
        || !prev.is_ascii_alphabetic()
        || (prev.is_ascii_lowercase() && text[i].is_ascii_uppercase())
}

/// Whether `keyword` occurs in the column name `name` (lowered in `lower`) where it counts.
fn mentions(name: &[u8], lower: &[u8], keyword: &str) -> bool {
    let k = keyword.as_bytes();
    lower.windows(k.len()).enumerate().any(|(i, w)| same(Some(w), k) && counts_at(name, i, k))
}

/// Byte by byte: keywords are a few bytes, shorter than a call to `memcmp`.
fn same(window: Option<&[u8]>, keyword: &[u8]) -> bool {
    window.is_some_and(|w| w.len() == keyword.len() && w.iter().zip(keyword).all(|(a, b)| a == b))
}

/// `text` in ASCII lower case, as far as `buffer` holds.
fn lowercase<'b>(text: &[u8], buffer: &'b mut [u8; 64]) -> &'b [u8] {
    for (l, b) in buffer.iter_mut().zip(text) {
        *l = b.to_ascii_lowercase();
    }
    &buffer[..text.len().min(64)]
}

/// The length of the text's first line, its newline included, when it is a table's header
/// row (0 when it is not): what a stream keeps in front of the rows it names.
pub(crate) fn header_row(text: &[u8]) -> usize {
    header(text).map_or(0, |h| h.names.len() + 1 + usize::from(text.get(h.names.len()) == Some(&b'\r')))
}

/// The text's first line when it is a row of column names.
fn header(text: &[u8]) -> Option<Header<'_>> {
    let end = text.iter().take(HEADER_MAX).position(|b| *b == b'\n')?;
    let names = text[..end].strip_suffix(b"\r").unwrap_or(&text[..end]);
    let separator = *SEPARATORS.iter().max_by_key(|s| names.iter().filter(|b| *b == *s).count())?;
    let columns = names.split(|b| *b == separator).count();
    (columns >= 2 && names.split(|b| *b == separator).all(is_name)).then_some(Header { names, separator, columns })
}

/// The header of the column the value at `at` starts, when its line is a row of as many fields.
fn column<'a>(text: &[u8], header: Header<'a>, at: usize) -> Option<&'a [u8]> {
    let Header { names, separator, columns } = header;
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
