//! The built-in detectors: a pattern each (ASCII, matched on bytes), and for those a pattern
//! alone would over-match, a check on the candidate (Luhn, mod 97, SSN ranges, address parsing).
//!
//! Patterns start and end at word boundaries, so a candidate that fails its check is never
//! retried from inside the same token: a 16-digit number that fails Luhn does not become a
//! 15-digit one that passes.

/// A built-in detector.
pub struct Builtin {
    pub name: &'static str,
    /// One or more patterns; the first listed wins where two match at the same place.
    pub patterns: &'static [&'static str],
    pub check: Option<fn(&[u8]) -> bool>,
    /// For `key = value` detectors: only the value is masked (see [`value_span`]).
    pub value_only: bool,
}

pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "private_key",
        patterns: &[
            r#"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[^"]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----"#,
            // An unterminated block (a truncated response) still hides what it has.
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[A-Za-z0-9+/=\s\\:,-]*",
        ],
        check: None,
        value_only: false,
    },
    Builtin {
        name: "jwt",
        patterns: &[r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"],
        check: None,
        value_only: false,
    },
    Builtin {
        name: "aws_access_key",
        patterns: &[r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b"],
        check: None,
        value_only: false,
    },
    Builtin {
        name: "github_token",
        patterns: &[r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"],
        check: None,
        value_only: false,
    },
    Builtin {
        name: "slack_token",
        patterns: &[
            r"\bxox[abposr]-[A-Za-z0-9-]{10,250}\b",
            r"https://hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+",
        ],
        check: None,
        value_only: false,
    },
    Builtin {
        name: "api_key",
        patterns: &[
            // Well-known prefixed keys: Stripe, OpenAI / Anthropic style, Google.
            r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b",
            r"\bsk-(?:[A-Za-z0-9]+-)*[A-Za-z0-9_-]{20,}\b",
            r"\bAIza[0-9A-Za-z_-]{35}\b",
            // A secret-looking name, then its value (`"api_key": "..."`, `token=...`).
            r#"(?i)\b(?:api[_-]?key|apikey|secret|secret[_-]?key|client[_-]?secret|access[_-]?token|auth[_-]?token|token|password|passwd)\\?"?\s*[:=]\s*\\?"?[A-Za-z0-9_./+=-]{12,}"#,
        ],
        check: None,
        value_only: true,
    },
    Builtin {
        name: "email",
        patterns: &[r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b"],
        check: None,
        value_only: false,
    },
    Builtin {
        name: "iban",
        patterns: &[r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"],
        check: Some(iban_ok),
        value_only: false,
    },
    Builtin {
        name: "credit_card",
        patterns: &[r"\b(?:[0-9]{4}[ -]?){3}[0-9]{1,7}\b", r"\b3[47][0-9]{2}[ -]?[0-9]{6}[ -]?[0-9]{5}\b"],
        check: Some(luhn_ok),
        value_only: false,
    },
    Builtin { name: "us_ssn", patterns: &[r"\b[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}\b"], check: Some(ssn_ok), value_only: false },
    Builtin {
        name: "phone",
        patterns: &[
            r"\+[1-9][0-9]{7,14}\b",
            r"\+[1-9][0-9]{0,2}[ .-]\(?[0-9]{1,4}\)?(?:[ .-][0-9]{2,4}){2,4}\b",
            r"(?:\([0-9]{3}\) ?|\b[0-9]{3}[.-])[0-9]{3}[.-][0-9]{4}\b",
        ],
        check: Some(phone_ok),
        value_only: false,
    },
    Builtin {
        name: "ipv6",
        patterns: &[r"(?i)(?:[0-9a-f]{0,4}:){2,7}(?:[0-9a-f]{1,4}|(?:[0-9]{1,3}\.){3}[0-9]{1,3})?"],
        check: Some(ipv6_ok),
        value_only: false,
    },
    Builtin {
        name: "ipv4",
        patterns: &[
            r"\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\b",
        ],
        check: None,
        value_only: false,
    },
];

pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

pub fn names() -> Vec<&'static str> {
    BUILTINS.iter().map(|b| b.name).collect()
}

fn digits(text: &[u8]) -> Vec<u8> {
    text.iter().filter(|b| b.is_ascii_digit()).map(|b| b - b'0').collect()
}

/// The Luhn checksum of a 13 to 19 digit number.
pub fn luhn_ok(text: &[u8]) -> bool {
    let digits = digits(text);
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// ISO 13616: move the first four characters to the end, letters to numbers, mod 97 is 1.
pub fn iban_ok(text: &[u8]) -> bool {
    let compact: Vec<u8> = text.iter().copied().filter(|b| *b != b' ').collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
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

/// Area 001-899 but 666, group 01-99, serial 0001-9999 (the SSA's rules since 2011).
pub fn ssn_ok(text: &[u8]) -> bool {
    let d = digits(text);
    if d.len() != 9 {
        return false;
    }
    let area = u32::from(d[0]) * 100 + u32::from(d[1]) * 10 + u32::from(d[2]);
    let group = u32::from(d[3]) * 10 + u32::from(d[4]);
    let serial = d[5..].iter().fold(0u32, |n, &x| n * 10 + u32::from(x));
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// E.164 allows at most 15 digits; fewer than 10 is rarely a phone number outside E.164.
pub fn phone_ok(text: &[u8]) -> bool {
    let n = digits(text).len();
    (10..=15).contains(&n) || (text.first() == Some(&b'+') && (8..=15).contains(&n))
}

/// An address that parses, with at least two non-empty groups (`fe80::1`, not `std::`), and not
/// glued to a longer token.
pub fn ipv6_ok(text: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(text) else { return false };
    let groups = s.split(':').filter(|g| !g.is_empty()).count();
    groups >= 2 && s.parse::<std::net::Ipv6Addr>().is_ok()
}

/// Where the value is in a `name = value` match: after the first `:` or `=` (names have
/// neither) and the spaces, quotes and escapes around it. A prefixed key (no separator) is all
/// value.
pub fn value_span(text: &[u8]) -> (usize, usize) {
    let Some(separator) = text.iter().position(|b| matches!(b, b':' | b'=')) else { return (0, text.len()) };
    let start = separator + 1 + text[separator + 1..].iter().take_while(|b| matches!(b, b' ' | b'\t' | b'"' | b'\\')).count();
    (start.min(text.len()), text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums() {
        assert!(luhn_ok(b"4111 1111 1111 1111"));
        assert!(luhn_ok(b"378282246310005"));
        assert!(!luhn_ok(b"4111 1111 1111 1112"));
        assert!(!luhn_ok(b"1234"));
        assert!(iban_ok(b"GB82 WEST 1234 5698 7654 32"));
        assert!(iban_ok(b"DE89370400440532013000"));
        assert!(!iban_ok(b"GB82 WEST 1234 5698 7654 33"));
        assert!(ssn_ok(b"123-45-6789"));
        assert!(!ssn_ok(b"000-45-6789") && !ssn_ok(b"666-45-6789") && !ssn_ok(b"900-45-6789"));
        assert!(!ssn_ok(b"123-00-6789") && !ssn_ok(b"123-45-0000"));
        assert!(ipv6_ok(b"2001:db8::8a2e:370:7334") && ipv6_ok(b"fe80::1"));
        assert!(!ipv6_ok(b"d::") && !ipv6_ok(b"12:30:45"));
        assert_eq!(value_span(br#"api_key": "abcdef0123456789"#), (11, 27));
    }
}
