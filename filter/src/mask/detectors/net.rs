//! Addresses: emails, from their `@` (`o'neil@example.com`, `josé@bücher.de`; not the
//! `git@github.com:org/repo` of an SSH remote) and IPv6 addresses, from a `:` (`fe80::1`; not
//! `std::vector` or `Add::add(`).

use super::{is_word, word_before, Enabled, Hit, Kind};

/// Letters, digits, `._%+-'` and Latin letters beyond ASCII (two-byte UTF-8).
fn local_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'') || (0x80..0xe0).contains(&b)
}

/// Letters, digits, `-` and any UTF-8 (internationalised domain names).
fn domain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b >= 0x80
}

pub(super) fn email(text: &[u8], at: usize, enabled: Enabled) -> Option<Hit> {
    if !enabled.has(Kind::Email) {
        return None;
    }
    let mut start = at;
    while start > 0 && at - start < 64 && local_byte(text[start - 1]) {
        start -= 1;
    }
    // Not from inside a UTF-8 sequence, and quotes or dots around the address are not part of it.
    while start < at && (matches!(text[start], b'.' | b'\'') || (0x80..0xc0).contains(&text[start])) {
        start += 1;
    }
    if start == at || text[at - 1] == b'.' {
        return None;
    }
    let end = domain(text, at + 1)?;
    // `git@github.com:org/repo.git` is an SSH remote, not a mailbox.
    let remote = text.get(end) == Some(&b':') && text.get(end + 1).is_some_and(|b| !b.is_ascii_whitespace() && *b != b'"');
    (!remote).then_some(Hit { start, end, kind: Kind::Email })
}

/// The end of a domain of two labels or more from `from`, the last a top-level domain.
fn domain(text: &[u8], from: usize) -> Option<usize> {
    let mut label_start = from;
    let mut labels = 0;
    let mut end = None;
    loop {
        let label_end = super::run(text, label_start, 63, domain_byte);
        let label = &text[label_start..label_end];
        if label.is_empty() || label[0] == b'-' || label[label.len() - 1] == b'-' {
            break;
        }
        labels += 1;
        if labels >= 2 {
            if let Some(tld_end) = top_level(label) {
                end = Some(label_start + tld_end);
                if tld_end < label.len() {
                    break;
                }
            }
        }
        let next = text.get(label_end + 1).copied();
        if text.get(label_end) != Some(&b'.') || !next.is_some_and(domain_byte) || labels == 10 {
            break;
        }
        label_start = label_end + 1;
    }
    end.filter(|&e| !text.get(e).is_some_and(|&b| is_word(b) || b == b'@'))
}

/// How much of the last label is a top-level domain: letters (`com`), `xn--` punycode, or all
/// beyond ASCII (`рф`); `jpまで` is `jp` glued to the next word of a Japanese sentence.
fn top_level(label: &[u8]) -> Option<usize> {
    if label.starts_with(b"xn--") || label.iter().all(|b| *b >= 0x80) {
        return Some(label.len());
    }
    let letters = label.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let glued = letters < label.len() && label[letters] >= 0x80;
    ((2..=24).contains(&letters) && (letters == label.len() || glued)).then_some(letters)
}

fn ipv6_byte(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':'
}

/// The address around the `:` at `at`: hex groups and colons (and a dotted IPv4 tail) that
/// parse, with a decimal digit somewhere (`Add::add` is Rust, not an address).
pub(super) fn ipv6(text: &[u8], at: usize, enabled: Enabled) -> Option<Hit> {
    if !enabled.has(Kind::Ipv6) {
        return None;
    }
    let near = |i: usize| text.get(i).is_some_and(|b| ipv6_byte(*b));
    if !(near(at + 1) || (at > 0 && near(at - 1))) {
        return None;
    }
    let mut start = at;
    while start > 0 && at - start < 40 && ipv6_byte(text[start - 1]) {
        start -= 1;
    }
    let mut end = super::run(text, at, 45, |b| ipv6_byte(b) || b == b'.');
    // A sentence's full stop, or a colon after the address (`fe80::1: unreachable`).
    while end > start + 2 && (text[end - 1] == b'.' || (text[end - 1] == b':' && text[end - 2] != b':')) {
        end -= 1;
    }
    let address = &text[start..end];
    let glued =
        word_before(text, start) || text.get(start.wrapping_sub(1)) == Some(&b'.') || text.get(end).is_some_and(|&b| is_word(b));
    let groups = address.split(|b| *b == b':').filter(|g| !g.is_empty()).count();
    // Eight groups, or seven and an IPv4 tail, unless `::` stands for some: `12:30:45` is a time.
    let compressed = address.windows(2).any(|w| w == b"::");
    let whole = groups == if address.contains(&b'.') { 7 } else { 8 };
    // One group only as a whole prefix (`fe80::`, `2001::`): `ab::` is more likely a path.
    let prefix = address.len() == 6 && address.ends_with(b"::");
    if glued || !address.iter().any(u8::is_ascii_digit) || (groups < 2 && !prefix) || !(compressed || whole) {
        return None;
    }
    let parsed = std::str::from_utf8(address).ok()?.parse::<std::net::Ipv6Addr>();
    parsed.is_ok().then_some(Hit { start, end, kind: Kind::Ipv6 })
}
