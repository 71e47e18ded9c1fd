//! The built-in detectors, found by code instead of a regular expression: one pass reads a
//! byte-class table and stops only at a trigger (a word start, `@`, `:`, `=`, `+`, `(`, `-`),
//! where the families that trigger can start look around it and check what they find (Luhn,
//! mod 97, SSN ranges, national number plans, base64 of `user:pass`).
//!
//! A word is tried once, from its first byte: `4111 1111 1111 1111` (credit_card), `+49 (0)30
//! 1234567` and `020 7946 0958` (phone), `"SSN": "123456789"` (us_ssn, a bare number after its
//! keyword), `ghp_…` (github_token), `Authorization: Basic dXNlcjpwYXNz` (api_key). An `@` looks
//! back for `o'neil@bücher.de` (email), a `:` for `fe80::1` (ipv6) and for a secret-looking
//! name before it (`"password": "…"`, api_key, the value only). Hits may overlap; the masker
//! keeps the leftmost, the higher priority (the order of [`BUILTINS`]) at the same start.

mod label;
mod net;
mod numbers;
mod phone;
mod secrets;

pub(crate) use label::header_row;

use super::swar::{self, HIGH_BITS, LOW_BITS};

/// The built-in detectors by name, in priority order.
pub const BUILTINS: &[&str] = &[
    "private_key",
    "jwt",
    "aws_access_key",
    "github_token",
    "slack_token",
    "api_key",
    "email",
    "iban",
    "credit_card",
    "us_ssn",
    "phone",
    "ipv6",
    "ipv4",
];

/// A built-in detector; its discriminant is its index in [`BUILTINS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    PrivateKey,
    Jwt,
    AwsAccessKey,
    GithubToken,
    SlackToken,
    ApiKey,
    Email,
    Iban,
    CreditCard,
    UsSsn,
    Phone,
    Ipv6,
    Ipv4,
}

impl Kind {
    const ALL: [Kind; 13] = [
        Kind::PrivateKey,
        Kind::Jwt,
        Kind::AwsAccessKey,
        Kind::GithubToken,
        Kind::SlackToken,
        Kind::ApiKey,
        Kind::Email,
        Kind::Iban,
        Kind::CreditCard,
        Kind::UsSsn,
        Kind::Phone,
        Kind::Ipv6,
        Kind::Ipv4,
    ];

    pub fn from_name(name: &str) -> Option<Kind> {
        BUILTINS.iter().position(|n| *n == name).map(|i| Kind::ALL[i])
    }

    pub fn name(self) -> &'static str {
        BUILTINS[self as usize]
    }
}

pub fn names() -> Vec<&'static str> {
    BUILTINS.to_vec()
}

/// The detectors a route enabled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Enabled(u16);

impl Enabled {
    pub fn with(self, kind: Kind) -> Enabled {
        Enabled(self.0 | 1 << kind as u16)
    }

    pub fn has(self, kind: Kind) -> bool {
        self.0 & 1 << kind as u16 != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// A candidate value: the bytes to mask and who found them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Other,
    Word,
    At,
    Colon,
    Equals,
    Dash,
    Sign,
}

const CLASS: [Class; 256] = {
    let mut table = [Class::Other; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = match c {
            b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'_' => Class::Word,
            b'@' => Class::At,
            b':' => Class::Colon,
            b'=' => Class::Equals,
            b'-' => Class::Dash,
            b'+' | b'(' => Class::Sign,
            _ => Class::Other,
        };
        b += 1;
    }
    table
};

/// A set of byte pairs, a bit each: whether two bytes of a text can start (or end) what a
/// detector looks for, asked before anything is read further.
pub(super) struct PairSet([u64; 1024]);

impl PairSet {
    pub const fn of(pairs: &[&[u8]]) -> PairSet {
        let mut set = PairSet([0; 1024]);
        let mut i = 0;
        while i < pairs.len() {
            set = set.with(pairs[i][0], pairs[i][1]);
            i += 1;
        }
        set
    }

    pub const fn with(mut self, first: u8, second: u8) -> PairSet {
        let pair = (first as usize) << 8 | second as usize;
        self.0[pair / 64] |= 1 << (pair % 64);
        self
    }

    pub fn has(&self, first: u8, second: u8) -> bool {
        let pair = usize::from(first) << 8 | usize::from(second);
        self.0[pair / 64] & 1 << (pair % 64) != 0
    }
}

/// The first two bytes of the words a token can start (`ey` of `eyJ…`, `gh` of `ghp_…`, `Be` of
/// `Bearer`, any two capitals for an IBAN's country): every other word is skipped unread.
const TOKEN_STARTS: PairSet = {
    let mut set = PairSet::of(&[
        b"ey", b"AK", b"AS", b"AB", b"AC", b"A3", b"AI", b"gh", b"gi", b"gl", b"xo", b"xa", b"ht", b"ho", b"hf", b"sk", b"rk",
        b"SG", b"np", b"py", b"Be", b"be", b"Ba", b"ba",
    ]);
    let mut first = b'A';
    while first <= b'Z' {
        let mut second = b'A';
        while second <= b'Z' {
            set = set.with(first, second);
            second += 1;
        }
        first += 1;
    }
    set
};

fn may_start_token(text: &[u8], at: usize) -> bool {
    text.get(at + 1).is_some_and(|&second| TOKEN_STARTS.has(text[at], second))
}

/// Whether the number word `text[at..end]` can start anything: it is all digits, and long
/// enough for a card, a bare SSN or a phone, or a separator and another group follow (`3 items`
/// is no number's start, `10.0.0.1` and `020 7946` may be).
fn may_start_number(text: &[u8], at: usize, end: usize) -> bool {
    let digits = run(text, at, end - at, |b| b.is_ascii_digit());
    let grouped = matches!(text.get(end), Some(b' ' | b'-' | b'.' | b'/'))
        && text.get(end + 1).is_some_and(|b| b.is_ascii_digit() || *b == b'(');
    digits == end && (end - at >= 8 || grouped)
}

/// The end of the ISO 8601 date (`2024-06-01`, the start of `2024-06-01T09:35:20Z`) at `at`:
/// the commonest number in logs and JSON, and no detector's value.
fn iso_date(text: &[u8], at: usize) -> Option<usize> {
    let date = text.get(at..at + 10)?;
    let number = |range: std::ops::Range<usize>| {
        date[range].iter().try_fold(0u32, |n, b| b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0')))
    };
    let shaped = date[4] == b'-' && date[7] == b'-';
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let valid = shaped && (1900..2100).contains(&year) && (1..=12).contains(&month) && (1..=31).contains(&day);
    (valid && !text.get(at + 10).is_some_and(|b| b.is_ascii_digit() || *b == b'-')).then_some(at + 10)
}

/// ASCII letters, digits and `_`: what `\b` separates.
pub(crate) fn is_word(b: u8) -> bool {
    CLASS[usize::from(b)] == Class::Word
}

/// Whether `text[at..]` continues a word (the byte at `at` is a word byte).
fn word_at(text: &[u8], at: usize) -> bool {
    text.get(at).is_some_and(|b| is_word(*b))
}

/// Whether the byte before `at` is a word byte.
fn word_before(text: &[u8], at: usize) -> bool {
    at.checked_sub(1).and_then(|i| text.get(i)).is_some_and(|b| is_word(*b))
}

fn word_end(text: &[u8], mut at: usize) -> usize {
    // Eight bytes at a time: ids, hashes and tokens are long words.
    while let Some(bytes) = swar::eight(text, at) {
        let ends = !word_bytes(bytes) & HIGH_BITS;
        if ends != 0 {
            return at + swar::first_lane(ends);
        }
        at += 8;
    }
    while word_at(text, at) {
        at += 1;
    }
    at
}

/// The high bit of each byte of `x` that is a word byte (`[0-9A-Za-z_]`), the others clear.
fn word_bytes(x: u64) -> u64 {
    // Per byte, whether `lo < b < hi`, for ASCII bytes (bit 7 clear): the classic SWAR range test.
    let between = |x: u64, lo: u64, hi: u64| {
        let low7 = x & (LOW_BITS * 0x7f);
        (LOW_BITS * (127 + hi)).wrapping_sub(low7) & !x & low7.wrapping_add(LOW_BITS * (127 - lo)) & HIGH_BITS
    };
    let digits = between(x, b'0' as u64 - 1, b'9' as u64 + 1);
    // `| 0x20` folds capitals onto small letters and nothing else onto them.
    let letters = between(x | (LOW_BITS * 0x20), b'a' as u64 - 1, b'z' as u64 + 1);
    digits | letters | swar::equal(x, b'_')
}

/// Bytes from `at` while `accept` holds, at most `max`: the end.
fn run(text: &[u8], at: usize, max: usize, accept: impl Fn(u8) -> bool) -> usize {
    let limit = text.len().min(at.saturating_add(max));
    let mut end = at;
    while end < limit && accept(text[end]) {
        end += 1;
    }
    end
}

/// Every hit of the enabled detectors in `text`, each family's left to right.
pub fn scan(text: &[u8], enabled: Enabled, out: &mut Vec<Hit>) {
    let names = label::Names::of(text);
    let mut at = 0;
    while at < text.len() {
        let class = CLASS[usize::from(text[at])];
        // Runs of bytes that start nothing (spaces, punctuation, UTF-8) are the common case.
        if class == Class::Other {
            at += 1;
            continue;
        }
        let next = match class {
            Class::Other => at + 1,
            Class::Word => word(text, &names, at, enabled, out),
            Class::At => take(net::email(text, at, enabled), at, out),
            Class::Colon => colon(text, at, enabled, out),
            Class::Equals => take(secrets::assignment(text, at, enabled), at, out),
            Class::Dash => take(secrets::private_key(text, at, enabled), at, out),
            Class::Sign if !word_before(text, at) => take(phone::phone(text, &names, at, enabled), at, out),
            Class::Sign => at + 1,
        };
        at = next.max(at + 1);
    }
}

/// Keeps a hit; the scan goes on after it, or after the trigger.
fn take(hit: Option<Hit>, at: usize, out: &mut Vec<Hit>) -> usize {
    match hit {
        Some(hit) => {
            out.push(hit);
            hit.end
        }
        None => at + 1,
    }
}

/// A word is tried from its first byte, then skipped whole: no detector starts inside one.
fn word(text: &[u8], names: &label::Names, at: usize, enabled: Enabled, out: &mut Vec<Hit>) -> usize {
    let end = word_end(text, at);
    let hit = if text[at].is_ascii_digit() {
        if !may_start_number(text, at, end) {
            return end;
        }
        if let Some(date_end) = iso_date(text, at) {
            return date_end;
        }
        // A dotted quad that is an address is not also read as a phone number.
        numbers::at_digit(text, names, at, enabled)
            .or_else(|| numbers::ipv4(text, at, enabled))
            .or_else(|| phone::phone(text, names, at, enabled))
    } else if may_start_token(text, at) {
        secrets::at_word(text, at, enabled).or_else(|| numbers::iban(text, at, enabled))
    } else {
        return end;
    };
    match hit {
        Some(hit) => {
            out.push(hit);
            end.max(hit.end)
        }
        None => end,
    }
}

/// A `:` ends a secret-looking name or is inside an IPv6 address.
fn colon(text: &[u8], at: usize, enabled: Enabled, out: &mut Vec<Hit>) -> usize {
    let assigned = secrets::assignment(text, at, enabled);
    out.extend(assigned);
    match net::ipv6(text, at, enabled) {
        Some(hit) => {
            out.push(hit);
            hit.end
        }
        None => at + 1,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod word_tests {
    #[test]
    fn word_bytes_agrees_with_is_word_on_every_byte() {
        for b in 0..=255u8 {
            for lane in 0..8 {
                let x = u64::from_le_bytes(std::array::from_fn(|i| if i == lane { b } else { b' ' }));
                let expected = if super::is_word(b) { 0x80u64 << (8 * lane) } else { 0 };
                assert_eq!(super::word_bytes(x), expected, "byte {b:#04x} in lane {lane}");
            }
        }
        let text = b"abc_DEF09 x";
        for at in 0..text.len() {
            let naive = (at..text.len()).find(|&i| !super::is_word(text[i])).unwrap_or(text.len());
            assert_eq!(super::word_end(text, at), naive.max(at));
        }
    }
}
