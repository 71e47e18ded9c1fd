//! What names a value: in a table (`id,ssn\n1,123456789`: comma, semicolon, tab or `|`
//! separated, its first line a row of names) the header of the value's column; elsewhere the
//! keyword written nearest before it (`ssn=400 59 1517 phone=072111419`: the phone number is
//! named `phone`, not `ssn`).

use std::cell::{Cell, OnceCell};

/// A family of keywords that name a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Family {
    /// `card`, `visa`, `tarjeta`: nearer than a [`Family::NotACard`] word, they win.
    Card,
    /// A product, device, order or time, not a card.
    NotACard,
    Ssn,
    /// The words for a phone, and the verbs of calling in the data's languages.
    Phone,
    NotAPhone,
    /// A person giving a way to reach them (`Reach me at …`): it names a bare number personal,
    /// and its length says what it is (nine digits in the SSN ranges an SSN, a US number plan
    /// having no nine-digit numbers; other lengths a phone number).
    Contact,
}

const FAMILIES: usize = 6;

/// Each family's keywords, lower case, in [`Family`] order.
const KEYWORDS: [&[&str]; FAMILIES] = [
    &["card", "karte", "carte", "tarjeta", "cartão", "carta", "visa", "amex", "mastercard"],
    &["imei", "ean", "gtin", "upc", "isbn", "barcode", "timestamp", "_ns", "nanos", "order", "invoice"],
    &["ssn", "social security", "social_security", "socialsecurity"],
    &[
        "phone",
        "tel",
        "mobile",
        "cell",
        "call",
        "fax",
        "handy",
        "telefon",
        "tél",
        "téléphone",
        "móvil",
        "celular",
        "chiamare",
        "rufen",
        "bel me",
        "bellen",
        "appeler",
        "appelez",
        "llamar",
        "llame",
        "ligar",
    ],
    &["order", "invoice", "imei", "ean", "gtin", "isbn", "serial"],
    &["reach me", "contact me", "text me"],
];

/// How far before a value its keyword may start.
#[derive(Clone, Copy, Debug)]
pub(super) enum Reach {
    /// 24 bytes: the phrase right before the value (`card no.`, `Tel. :`).
    Near,
    /// 32 bytes.
    Far,
}

const REACH_BYTES: [usize; 2] = [24, 32];

/// The longest line read back to find a value's column, and the longest header row.
const LINE_MAX: usize = 4096;
const HEADER_MAX: usize = 1024;
/// The longest column name.
const NAME_MAX: usize = 48;
const SEPARATORS: [u8; 4] = [b'\t', b';', b',', b'|'];

/// Every keyword, flattened, and by the hash of its first two bytes ([`pair`]) the set of those
/// that may start there: at most a word or two to compare at each byte.
struct Lexicon {
    words: [(&'static [u8], Family); 64],
    len: usize,
    by_pair: [u64; PAIRS],
}

const PAIRS: usize = 1024;

const fn pair(first: u8, second: u8) -> usize {
    ((first as usize) << 5 ^ second as usize) % PAIRS
}

const LEXICON: Lexicon = {
    const FAMILY: [Family; FAMILIES] =
        [Family::Card, Family::NotACard, Family::Ssn, Family::Phone, Family::NotAPhone, Family::Contact];
    let mut lexicon = Lexicon { words: [(b"", Family::Card); 64], len: 0, by_pair: [0; PAIRS] };
    let mut f = 0;
    while f < FAMILIES {
        let mut k = 0;
        while k < KEYWORDS[f].len() {
            let word = KEYWORDS[f][k].as_bytes();
            assert!(word.len() >= 2 && word.len() <= KEYWORD_MAX && lexicon.len < 64, "a keyword fits the lexicon");
            lexicon.words[lexicon.len] = (word, FAMILY[f]);
            lexicon.by_pair[pair(word[0], word[1])] |= 1 << lexicon.len;
            lexicon.len += 1;
            k += 1;
        }
        f += 1;
    }
    lexicon
};

/// Per reach and family, the nearest keyword before a value: (end, start), the later end first,
/// then the later start.
type Nearest = [[Option<(usize, usize)>; FAMILIES]; 2];

/// How the values of one text are named. What is read for a value (its keywords, or its line in a
/// table) is kept for the next question about it: each number is asked about up to four times.
pub(super) struct Names<'a> {
    text: &'a [u8],
    header: OnceCell<Option<Header<'a>>>,
    /// Per column, the families its name mentions (a bit per [`Family`]).
    columns: OnceCell<Vec<u8>>,
    /// The last line a value was looked up on: its span, and whether it has the header's fields.
    line: Cell<Option<(usize, usize, bool)>>,
    nearest: Cell<Option<(usize, Nearest)>>,
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
        Names { text, header: OnceCell::new(), columns: OnceCell::new(), line: Cell::new(None), nearest: Cell::new(None) }
    }

    /// Which of `families` names the value at `at`: the first one its column's header mentions,
    /// in a table; else the one with a keyword nearest before `at`, starting within `reach`.
    pub fn label(&self, at: usize, reach: Reach, families: &[Family]) -> Option<usize> {
        if let Some((header, column)) = self.header().and_then(|h| Some((h, self.column(h, at)?))) {
            let mentioned = self.columns.get_or_init(|| mentions_by_column(header));
            let bits = mentioned.get(column).copied().unwrap_or(0);
            return families.iter().position(|f| bits & 1 << *f as u8 != 0);
        }
        let nearest = match self.nearest.get() {
            Some((memo_at, nearest)) if memo_at == at => nearest,
            _ => {
                let nearest = nearest(self.text, at);
                self.nearest.set(Some((at, nearest)));
                nearest
            }
        };
        let found = families.iter().enumerate().filter_map(|(i, f)| Some((nearest[reach as usize][*f as usize]?, i)));
        // The later end, then the later start; at a tie the first family asked for.
        found.max_by(|(a, i), (b, j)| a.cmp(b).then(j.cmp(i))).map(|(_, i)| i)
    }

    fn header(&self) -> Option<Header<'a>> {
        *self.header.get_or_init(|| header(self.text))
    }

    /// The column of the value at `at`, when its line is a row of as many fields as the header.
    fn column(&self, header: Header<'_>, at: usize) -> Option<usize> {
        let text = self.text;
        if at <= header.names.len() || at >= text.len() {
            return None;
        }
        let (line_start, _, row) = match self.line.get() {
            Some(line @ (start, end, _)) if start <= at && at < end => line,
            _ => {
                let line = row_of(text, header, at)?;
                self.line.set(Some(line));
                line
            }
        };
        let start = if at > line_start && text[at - 1] == b'"' { at - 1 } else { at };
        if !row || (start > line_start && text[start - 1] != header.separator) {
            return None;
        }
        Some(separators(&text[line_start..start], header.separator))
    }
}

/// Per column of `header`, the families its name mentions (a bit per [`Family`]).
fn mentions_by_column(header: Header<'_>) -> Vec<u8> {
    let names = header.names.split(|b| *b == header.separator);
    names
        .map(|name| {
            (0..LEXICON.len)
                .filter(|&k| mentions(name, LEXICON.words[k].0))
                .fold(0, |bits, k| bits | 1 << LEXICON.words[k].1 as u8)
        })
        .collect()
}

/// The line around `at` (start, end past its last byte) and whether it has the header's fields.
fn row_of(text: &[u8], header: Header<'_>, at: usize) -> Option<(usize, usize, bool)> {
    let line_start = text[at.saturating_sub(LINE_MAX)..at].iter().rposition(|b| *b == b'\n')? + at.saturating_sub(LINE_MAX) + 1;
    let line_end = text[at..].iter().take(LINE_MAX).position(|b| *b == b'\n').map_or(text.len(), |p| at + p);
    let line = &text[line_start..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Some((line_start, line_end, separators(line, header.separator) + 1 == header.columns))
}

/// For each family, the nearest keyword that ends before `at` and starts within each reach.
fn nearest(text: &[u8], at: usize) -> Nearest {
    let far = REACH_BYTES[Reach::Far as usize];
    let from = at.saturating_sub(far);
    let before = &text[from..at.min(text.len())];
    let mut lowered = [0u8; 32];
    for (l, b) in lowered.iter_mut().zip(before) {
        *l = b.to_ascii_lowercase();
    }
    let lower = &lowered[..before.len()];
    let mut nearest: Nearest = [[None; FAMILIES]; 2];
    for i in (0..lower.len().saturating_sub(1)).rev() {
        let mut candidates = LEXICON.by_pair[pair(lower[i], lower[i + 1])];
        while candidates != 0 {
            let (word, family) = LEXICON.words[candidates.trailing_zeros() as usize];
            candidates &= candidates - 1;
            if !same(lower.get(i..i + word.len()), word) || !counts_at(text, from + i, word) {
                continue;
            }
            let found = (from + i + word.len(), from + i);
            for (reach, bytes) in REACH_BYTES.iter().enumerate() {
                let best = &mut nearest[reach][family as usize];
                if from + i + bytes >= at && best.is_none_or(|b| found.0 > b.0) {
                    *best = Some(found);
                }
            }
        }
    }
    nearest
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

/// Whether `keyword` occurs in the column name `name` where it counts.
fn mentions(name: &[u8], keyword: &[u8]) -> bool {
    let mut lowered = [0u8; 64];
    for (l, b) in lowered.iter_mut().zip(name) {
        *l = b.to_ascii_lowercase();
    }
    let lower = &lowered[..name.len().min(64)];
    lower.windows(keyword.len()).enumerate().any(|(i, w)| same(Some(w), keyword) && counts_at(name, i, keyword))
}

/// Byte by byte: keywords are a few bytes, shorter than a call to `memcmp`.
fn same(window: Option<&[u8]>, keyword: &[u8]) -> bool {
    window.is_some_and(|w| w.len() == keyword.len() && w.iter().zip(keyword).all(|(a, b)| a == b))
}

/// The length of the text's first line, its newline included, when it is a table's header
/// row (0 when it is not): what a stream keeps in front of the rows it names.
pub(crate) fn header_row(text: &[u8]) -> usize {
    header(text).map_or(0, |h| h.names.len() + 1 + usize::from(text.get(h.names.len()) == Some(&b'\r')))
}

/// The text's first line when it is a row of column names.
fn header(text: &[u8]) -> Option<Header<'_>> {
    // Most texts (a JSON document, a sentence) show at once that they are no table.
    let in_header = |b: &u8| name_byte(*b) || SEPARATORS.contains(b) || matches!(b, b'"' | b'\r');
    let end = text.iter().take(HEADER_MAX).position(|b| *b == b'\n' || !in_header(b)).filter(|&end| text[end] == b'\n')?;
    let names = text[..end].strip_suffix(b"\r").unwrap_or(&text[..end]);
    let separator = *SEPARATORS.iter().max_by_key(|s| names.iter().filter(|b| *b == *s).count())?;
    let columns = names.split(|b| *b == separator).count();
    (columns >= 2 && names.split(|b| *b == separator).all(is_name)).then_some(Header { names, separator, columns })
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
    !field.is_empty() && field.len() <= NAME_MAX && !field[0].is_ascii_digit() && field.iter().all(|b| name_byte(*b))
}

/// Letters, digits, spaces, `_-.#/()` and anything beyond ASCII: what a column name is made of.
fn name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b" _-.#/()".contains(&b) || b >= 0x80
}
