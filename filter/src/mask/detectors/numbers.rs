//! Numbers with a structure: card numbers (grouping, issuer, Luhn), US social security numbers
//! (ranges; bare nine digits only after `ssn`), IBANs (mod 97), IPv4 addresses (not netmasks,
//! OIDs or versions).

use super::label::{Family, Names, Reach};
use super::{is_word, word_at, Enabled, Hit, Kind};

/// Digit groups from `at`, split by one separator byte (the same one throughout).
pub(super) struct Groups {
    pub lens: [u8; 8],
    pub count: usize,
    /// Where each group ends.
    pub ends: [usize; 8],
}

impl Groups {
    pub fn read(text: &[u8], at: usize, separators: &[u8]) -> Groups {
        let mut groups = Groups { lens: [0; 8], count: 0, ends: [0; 8] };
        let mut separator = None;
        let mut p = at;
        while groups.count < 8 {
            let end = super::run(text, p, 20, |b| b.is_ascii_digit());
            if end == p {
                break;
            }
            groups.lens[groups.count] = (end - p) as u8;
            groups.ends[groups.count] = end;
            groups.count += 1;
            let Some(&sep) = text.get(end) else { break };
            let continues = separators.contains(&sep)
                && separator.is_none_or(|s| s == sep)
                && text.get(end + 1).is_some_and(|b| b.is_ascii_digit());
            if !continues {
                break;
            }
            separator = Some(sep);
            p = end + 1;
        }
        groups
    }

    pub fn digits(&self, count: usize) -> usize {
        self.lens[..count].iter().map(|&l| usize::from(l)).sum()
    }
}

/// A card number or an SSN starting at the digit `at`.
pub(super) fn at_digit(text: &[u8], names: &Names, at: usize, enabled: Enabled) -> Option<Hit> {
    // Both group their digits by spaces or dashes.
    let groups = Groups::read(text, at, b" -");
    if enabled.has(Kind::CreditCard) {
        if let Some(end) = card(text, names, &groups, at) {
            return Some(Hit { start: at, end, kind: Kind::CreditCard });
        }
    }
    if enabled.has(Kind::UsSsn) {
        if let Some(end) = ssn(text, names, &groups, at) {
            return Some(Hit { start: at, end, kind: Kind::UsSsn });
        }
    }
    None
}

fn card(text: &[u8], names: &Names, groups: &Groups, at: usize) -> Option<usize> {
    // The longest grouping that reads as a card: `4111 1111 1111 1111 2024` is a card and a year.
    let count = (1..=groups.count).rev().find(|&count| {
        let end = groups.ends[count - 1];
        let lens = &groups.lens[..count];
        let digits = groups.digits(count);
        (13..=19).contains(&digits)
            && !word_at(text, end)
            && card_grouping(lens)
            && issuer_ok(&text[at..end], digits)
            && luhn_ok(&text[at..end])
    })?;
    if names.label(at, Reach::Near, &[Family::Card, Family::NotACard]) == Some(1) {
        return None;
    }
    Some(groups.ends[count - 1])
}

/// All in one; fours then a last group (`4-4-4-4`, `4-4-4-4-3`); Amex `4-6-5`, Diners `4-6-4`.
fn card_grouping(lens: &[u8]) -> bool {
    match lens {
        [_] => true,
        [4, 6, 5] | [4, 6, 4] => true,
        [fours @ .., last] => fours.len() >= 3 && fours.iter().all(|&l| l == 4) && (1..=7).contains(last),
        [] => false,
    }
}

/// The issuer's prefix and the lengths it issues (Visa, Mastercard, Amex, Diners, Discover,
/// JCB, UnionPay, Maestro); other numbers that pass Luhn (IMEIs, GTINs, timestamps) are not cards.
fn issuer_ok(text: &[u8], digits: usize) -> bool {
    let mut prefix = [0u32; 4];
    for (p, b) in prefix.iter_mut().zip(text.iter().filter(|b| b.is_ascii_digit())) {
        *p = u32::from(b - b'0');
    }
    let p2 = prefix[0] * 10 + prefix[1];
    let p3 = p2 * 10 + prefix[2];
    let p4 = p3 * 10 + prefix[3];
    match prefix[0] {
        4 => matches!(digits, 13 | 16 | 19),
        5 => ((51..=55).contains(&p2) && digits == 16) || (matches!(p2, 50 | 56..=58) && digits >= 16),
        2 => ((2221..=2720).contains(&p4) && digits == 16) || (p4 == 2131 && digits == 15),
        1 => p4 == 1800 && digits == 15,
        3 => match p2 {
            34 | 37 => digits == 15,
            36 | 38 | 39 => digits >= 14,
            30 => ((300..=305).contains(&p3) || p4 == 3095) && digits >= 14,
            35 => digits >= 16,
            _ => false,
        },
        6 => digits >= 16,
        _ => false,
    }
}

/// The Luhn checksum of a 13 to 19 digit number.
pub fn luhn_ok(text: &[u8]) -> bool {
    let Some(digits) = digits::<19>(text).filter(|d| d.len() >= 13) else { return false };
    let doubled = |d: u32| if d * 2 > 9 { d * 2 - 9 } else { d * 2 };
    let sum: u32 = digits.iter().rev().enumerate().map(|(i, &d)| if i % 2 == 1 { doubled(d) } else { d }).sum();
    sum % 10 == 0
}

/// `123-45-6789` or `123 45 6789`; `123456789` only where an SSN keyword names it (nearer than a
/// phone keyword or an order's, or its column's header) or a person gives it to be reached by
/// (`Reach me at`).
fn ssn(text: &[u8], names: &Names, groups: &Groups, at: usize) -> Option<usize> {
    let end = match groups.lens[..groups.count] {
        [3, 2, 4, ..] => groups.ends[2],
        [9, ..]
            if matches!(
                names.label(at, Reach::Far, &[Family::Ssn, Family::Phone, Family::Contact, Family::NotAPhone]),
                Some(0 | 2)
            ) =>
        {
            groups.ends[0]
        }
        _ => return None,
    };
    (!word_at(text, end) && ssn_ok(&text[at..end])).then_some(end)
}

/// The digits of `text`, when there are at most `N`.
fn digits<const N: usize>(text: &[u8]) -> Option<Digits<N>> {
    let mut digits = Digits { values: [0; N], len: 0 };
    for b in text.iter().filter(|b| b.is_ascii_digit()) {
        *digits.values.get_mut(digits.len)? = u32::from(b - b'0');
        digits.len += 1;
    }
    Some(digits)
}

/// Up to `N` decimal digits, read without allocating.
struct Digits<const N: usize> {
    values: [u32; N],
    len: usize,
}

impl<const N: usize> std::ops::Deref for Digits<N> {
    type Target = [u32];
    fn deref(&self) -> &[u32] {
        &self.values[..self.len]
    }
}

/// Area 001-899 but 666, group 01-99, serial 0001-9999 (the SSA's rules since 2011).
pub fn ssn_ok(text: &[u8]) -> bool {
    let Some(d) = digits::<9>(text).filter(|d| d.len() == 9) else { return false };
    let area = d[0] * 100 + d[1] * 10 + d[2];
    let group = d[3] * 10 + d[4];
    let serial = d[5..].iter().fold(0, |n, &x| n * 10 + x);
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// Two capitals, two check digits, then up to 30 letters and digits, in groups of four or not.
pub(super) fn iban(text: &[u8], at: usize, enabled: Enabled) -> Option<Hit> {
    let head = text.get(at..at + 4)?;
    let country_and_check = head[..2].iter().all(u8::is_ascii_uppercase) && head[2..].iter().all(u8::is_ascii_digit);
    if !enabled.has(Kind::Iban) || !country_and_check {
        return None;
    }
    let is_part = |b: &u8| b.is_ascii_uppercase() || b.is_ascii_digit();
    // Chunk ends: a space between chunks is part of the number only if more follows.
    let mut ends = [0usize; 10];
    let mut count = 0;
    let mut p = at;
    while count < ends.len() {
        let end = super::run(text, p, 34, |b| is_part(&b));
        if end == p {
            break;
        }
        ends[count] = end;
        count += 1;
        if text.get(end) != Some(&b' ') || !text.get(end + 1).is_some_and(is_part) {
            break;
        }
        p = end + 1;
    }
    let end = ends[..count].iter().rev().copied().find(|&end| !word_at(text, end) && iban_ok(&text[at..end]))?;
    Some(Hit { start: at, end, kind: Kind::Iban })
}

/// ISO 13616: move the first four characters to the end, letters to numbers, mod 97 is 1.
pub fn iban_ok(text: &[u8]) -> bool {
    let mut compact = [0u8; 34];
    let mut len = 0;
    for &b in text.iter().filter(|b| **b != b' ') {
        let Some(slot) = compact.get_mut(len) else { return false };
        *slot = b;
        len += 1;
    }
    if len < 15 {
        return false;
    }
    let compact = &compact[..len];
    let rearranged = compact[4..].iter().chain(&compact[..4]);
    let mut remainder: u32 = 0;
    for &c in rearranged {
        let value = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return false,
        };
        remainder = if value >= 10 { (remainder * 100 + value) % 97 } else { (remainder * 10 + value) % 97 };
    }
    remainder == 1
}

/// Words before four numbers that make them a version, not an address.
const VERSION_WORDS: &[&str] = &["version", "ver", "v", "rv", "release", "build", "firmware", "os", "oid"];

/// Words before four numbers from an OID's root arc (0, 1 or 2) that make them an OID
/// (`snmp 2.5.29.37`), not an address.
const OID_WORDS: &[&str] = &["snmp", "mib"];

/// A dotted quad, not glued to more dotted numbers (OIDs), not a netmask, not a version.
pub(super) fn ipv4(text: &[u8], at: usize, enabled: Enabled) -> Option<Hit> {
    if !enabled.has(Kind::Ipv4) || dotted_before(text, at) {
        return None;
    }
    let mut value: u32 = 0;
    let mut p = at;
    for part in 0..4 {
        if part > 0 {
            if text.get(p) != Some(&b'.') {
                return None;
            }
            p += 1;
        }
        let end = super::run(text, p, 4, |b| b.is_ascii_digit());
        let octet = &text[p..end];
        if octet.is_empty() || octet.len() > 3 || (octet.len() > 1 && octet[0] == b'0') {
            return None;
        }
        let n = octet.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
        if n > 255 {
            return None;
        }
        value = value << 8 | n;
        p = end;
    }
    let more = text.get(p) == Some(&b'.') && text.get(p + 1).is_some_and(u8::is_ascii_digit);
    let netmask = value >> 24 == 255 && (!value).wrapping_add(1).is_power_of_two();
    let oid = value >> 24 <= 2 && preceded_by_word(text, at, OID_WORDS);
    if word_at(text, p) || more || netmask || oid || preceded_by_word(text, at, VERSION_WORDS) {
        return None;
    }
    Some(Hit { start: at, end: p, kind: Kind::Ipv4 })
}

/// `1.3.6.1` in `1.3.6.1.4.1`: a number right after `digits.`.
fn dotted_before(text: &[u8], at: usize) -> bool {
    at >= 2 && text[at - 1] == b'.' && text[at - 2].is_ascii_digit()
}

/// Whether the word just before `at` (past spaces, `:`, `=`) is one of `words` (lower case).
pub(super) fn preceded_by_word(text: &[u8], at: usize, words: &[&str]) -> bool {
    let mut end = at;
    while end > 0 && at - end < 4 && matches!(text[end - 1], b' ' | b':' | b'=' | b'"' | b'\'') {
        end -= 1;
    }
    let mut start = end;
    while start > 0 && end - start < 12 && is_word(text[start - 1]) {
        start -= 1;
    }
    let word = &text[start..end];
    // `os_version`, `SNMP_OID`: the last part of a name counts.
    let last = word.rsplit(|b| *b == b'_').next().unwrap_or(word);
    !last.is_empty() && words.iter().any(|w| last.eq_ignore_ascii_case(w.as_bytes()))
}
