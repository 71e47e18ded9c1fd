//! Secrets: prefixed tokens at a word start (`AKIA…`, `ghp_…`, `glpat-…`, `xoxb-…`, `SG.….…`,
//! `hf_…`, `npm_…`, `pypi-AgEIcHlwaS5vcmc…`, `sk_live_…`; not the publishable `pk_live_…`),
//! JWTs, `Bearer <token>` and `Basic <base64 of user:pass>`, PEM and PGP private key blocks,
//! and the value after a secret-looking name (`"db_password": "…"`, `X-Api-Key: …`), unless it
//! is a reference to a secret manager (`arn:aws:secretsmanager:…`, `vault:…`, `${VAR}`,
//! `{{ secrets.X }}`).

use base64::Engine;

use super::{word_at, Enabled, Hit, Kind, PairSet};

fn alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn url_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// `prefix` at `at`, then `min..=max` bytes of `body`, not followed by a word byte: the end.
fn prefixed(text: &[u8], at: usize, prefix: &[u8], body: fn(u8) -> bool, min: usize, max: usize) -> Option<usize> {
    let from = at + prefix.len();
    if text.get(at..from) != Some(prefix) {
        return None;
    }
    let end = super::run(text, from, max + 1, body);
    ((min..=max).contains(&(end - from)) && !word_at(text, end)).then_some(end)
}

/// A token that starts the word at `at`.
pub(super) fn at_word(text: &[u8], at: usize, enabled: Enabled) -> Option<Hit> {
    let (kind, end) = match text[at] {
        b'e' => (Kind::Jwt, jwt(text, at)?),
        b'A' => aws(text, at)
            .map(|end| (Kind::AwsAccessKey, end))
            .or_else(|| Some((Kind::ApiKey, prefixed(text, at, b"AIza", url_safe, 35, 35)?)))?,
        b'g' => github(text, at)
            .map(|end| (Kind::GithubToken, end))
            .or_else(|| Some((Kind::ApiKey, prefixed(text, at, b"glpat-", url_safe, 20, 64)?)))?,
        b'x' => (Kind::SlackToken, slack(text, at)?),
        b'h' => slack_url(text, at)
            .map(|end| (Kind::SlackToken, end))
            .or_else(|| Some((Kind::ApiKey, prefixed(text, at, b"hf_", alnum, 30, 64)?)))?,
        b's' | b'r' => (Kind::ApiKey, stripe_or_openai(text, at)?),
        b'S' => (Kind::ApiKey, sendgrid(text, at)?),
        b'n' => (Kind::ApiKey, prefixed(text, at, b"npm_", alnum, 36, 36)?),
        b'p' => (Kind::ApiKey, prefixed(text, at, b"pypi-AgEIcHlwaS5vcmc", url_safe, 50, 400)?),
        b'B' | b'b' => return authorization(text, at, enabled),
        _ => return None,
    };
    enabled.has(kind).then_some(Hit { start: at, end, kind })
}

fn jwt(text: &[u8], at: usize) -> Option<usize> {
    let header = prefixed_part(text, at)?;
    if text.get(header) != Some(&b'.') {
        return None;
    }
    let payload = prefixed_part(text, header + 1)?;
    if text.get(payload) != Some(&b'.') {
        return None;
    }
    Some(super::run(text, payload + 1, 8192, url_safe))
}

/// `eyJ` (base64url of `{"`) and at least four more bytes.
fn prefixed_part(text: &[u8], at: usize) -> Option<usize> {
    if text.get(at..at + 3) != Some(b"eyJ") {
        return None;
    }
    let end = super::run(text, at + 3, 8192, url_safe);
    (end - (at + 3) >= 4).then_some(end)
}

fn aws(text: &[u8], at: usize) -> Option<usize> {
    let head = text.get(at..at + 4)?;
    let known =
        matches!(head, b"AKIA" | b"ASIA" | b"ABIA" | b"ACCA") || (&head[..3] == b"A3T" && head[3].is_ascii_alphanumeric());
    let end = super::run(text, at, 21, |b| b.is_ascii_uppercase() || b.is_ascii_digit());
    (known && end - at == 20 && !word_at(text, end)).then_some(end)
}

fn github(text: &[u8], at: usize) -> Option<usize> {
    if text.get(at..at + 2) == Some(b"gh")
        && text.get(at + 2).is_some_and(|b| b"pousr".contains(b))
        && text.get(at + 3) == Some(&b'_')
    {
        return prefixed(text, at + 4, b"", alnum, 36, 255);
    }
    prefixed(text, at, b"github_pat_", |b| alnum(b) || b == b'_', 22, 255)
}

fn slack(text: &[u8], at: usize) -> Option<usize> {
    let xox = text.get(at..at + 3) == Some(b"xox")
        && text.get(at + 3).is_some_and(|b| b"abposr".contains(b))
        && text.get(at + 4) == Some(&b'-');
    if !xox && text.get(at..at + 5) != Some(b"xapp-") {
        return None;
    }
    let from = at + 5;
    let mut end = super::run(text, from, 251, |b| alnum(b) || b == b'-');
    while end > from && text[end - 1] == b'-' {
        end -= 1;
    }
    let digits = text[from..end].iter().any(u8::is_ascii_digit);
    (end - from >= 10 && end - from <= 250 && digits && !word_at(text, end)).then_some(end)
}

/// Incoming webhooks (`/services/T…/B…/…`) and workflow triggers (`/workflows/…`, `/triggers/…`).
fn slack_url(text: &[u8], at: usize) -> Option<usize> {
    let rest = &text[at..];
    let host = ["https://hooks.slack.com/", "hooks.slack.com/"].iter().find(|h| rest.starts_with(h.as_bytes()))?;
    let path = at + host.len();
    let kind = ["services/", "workflows/", "triggers/"].iter().find(|k| text[path..].starts_with(k.as_bytes()))?;
    let from = path + kind.len();
    let end = super::run(text, from, 256, |b| alnum(b) || b == b'_' || b == b'/');
    (end - from >= 10).then_some(end)
}

/// Stripe secret and restricted keys (`sk_live_`, `rk_test_`) and `sk-` keys (OpenAI, Anthropic).
fn stripe_or_openai(text: &[u8], at: usize) -> Option<usize> {
    for prefix in [b"sk_live_", b"sk_test_", b"rk_live_", b"rk_test_"] {
        if let Some(end) = prefixed(text, at, prefix, alnum, 16, 255) {
            return Some(end);
        }
    }
    let end = prefixed(text, at, b"sk-", url_safe, 20, 255)?;
    text[at + 3..end].iter().any(u8::is_ascii_digit).then_some(end)
}

/// `SG.` then 22 and 43 bytes of base64url.
fn sendgrid(text: &[u8], at: usize) -> Option<usize> {
    let id = at + 3 + 22;
    if text.get(at..at + 3) != Some(b"SG.") || super::run(text, at + 3, 22, url_safe) != id || text.get(id) != Some(&b'.') {
        return None;
    }
    prefixed(text, id + 1, b"", url_safe, 43, 43)
}

/// `Bearer <token>` (a token of letters and digits, the token itself if it is a known kind) and
/// `Basic <base64>` that decodes to `user:password`: the credential after the scheme.
fn authorization(text: &[u8], at: usize, enabled: Enabled) -> Option<Hit> {
    let word = &text[at..super::word_end(text, at)];
    let bearer = word.eq_ignore_ascii_case(b"bearer");
    if !bearer && !word.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let from = super::run(text, at + word.len(), 3, |b| b == b' ');
    let token_byte = |b: u8| alnum(b) || matches!(b, b'.' | b'_' | b'~' | b'+' | b'/' | b'=' | b'-');
    if from == at + word.len() || !text.get(from).is_some_and(|b| token_byte(*b)) {
        return None;
    }
    // A known token keeps its own name (`Bearer eyJ…` is a jwt); `Bearer Bearer …` recurses no further.
    if bearer && alnum(text[from]) && !matches!(text[from], b'B' | b'b') {
        if let Some(hit) = at_word(text, from, enabled) {
            return Some(hit);
        }
    }
    let end = super::run(text, from, 4096, token_byte);
    let token = &text[from..end];
    let ok = if bearer {
        token.len() >= 16 && token.iter().any(u8::is_ascii_digit) && token.iter().any(u8::is_ascii_alphabetic)
    } else {
        basic_credentials(token)
    };
    (ok && enabled.has(Kind::ApiKey)).then_some(Hit { start: from, end, kind: Kind::ApiKey })
}

fn basic_credentials(token: &[u8]) -> bool {
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(token) else { return false };
    let colon = decoded.iter().position(|b| *b == b':');
    colon.is_some_and(|c| c > 0) && std::str::from_utf8(&decoded).is_ok_and(|s| !s.chars().any(char::is_control))
}

/// Name endings that say the value is a secret (`db_password`, `clientSecret`, `x-api-key`).
const SECRET_NAMES: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "accesskey",
    "access_key",
    "secretkey",
    "secret_key",
];

/// The last two bytes of [`SECRET_NAMES`], lower case.
const SECRET_NAME_ENDS: PairSet = {
    let mut set = PairSet::of(&[]);
    let mut i = 0;
    while i < SECRET_NAMES.len() {
        let name = SECRET_NAMES[i].as_bytes();
        set = set.with(name[name.len() - 2], name[name.len() - 1]);
        i += 1;
    }
    set
};

/// Whether the name ending at `end` may be a secret's: most names (`"id":`, `"email":`,
/// `"created_at":`) end in two bytes no secret name ends in, and are not read further.
fn may_end_secret_name(text: &[u8], end: usize) -> bool {
    let Some(last) = end.checked_sub(2).and_then(|at| text.get(at..end)) else { return false };
    SECRET_NAME_ENDS.has(last[0].to_ascii_lowercase(), last[1].to_ascii_lowercase())
}

/// Values that point at a secret instead of holding it, and keys meant to be public.
const NOT_SECRETS: &[&str] = &[
    "${",
    "{{",
    "$(",
    "%(",
    "<",
    "arn:aws:secretsmanager:",
    "arn:aws:ssm:",
    "vault:",
    // Google Secret Manager's names: `projects/p/secrets/s/versions/latest`.
    "projects/",
    "secretsmanager:",
    "op://",
    "ref+",
    "env:",
    "file:",
    "pk_live_",
    "pk_test_",
    "[redacted",
    "undefined",
    "********",
];

/// Values that stand in for a secret in examples and templates.
const PLACEHOLDERS: &[&str] = &["xxxx", "your-", "your_", "changeme", "replace", "placeholder", "example"];

/// The first bytes of [`PLACEHOLDERS`]: a value is compared with them only where one starts.
const PLACEHOLDER_FIRST: [bool; 256] = {
    let mut first = [false; 256];
    let mut i = 0;
    while i < PLACEHOLDERS.len() {
        first[PLACEHOLDERS[i].as_bytes()[0] as usize] = true;
        i += 1;
    }
    first
};

fn secret_name(name: &[u8]) -> bool {
    SECRET_NAMES.iter().any(|k| {
        let Some(at) = name.len().checked_sub(k.len()) else { return false };
        name[at..].eq_ignore_ascii_case(k.as_bytes())
            && (at == 0
                || matches!(name[at - 1], b'_' | b'-' | b'.')
                || (name[at].is_ascii_uppercase() && name[at - 1].is_ascii_lowercase()))
    })
}

fn name_byte(b: u8) -> bool {
    alnum(b) || matches!(b, b'_' | b'-' | b'.')
}

/// The value after `name:` or `name=` at `at`, when the name is secret-looking.
pub(super) fn assignment(text: &[u8], at: usize, enabled: Enabled) -> Option<Hit> {
    if !enabled.has(Kind::ApiKey) || (text[at] == b'=' && matches!(text.get(at + 1), Some(b'=' | b'>'))) {
        return None;
    }
    let mut name_end = at;
    while name_end > 0 && at - name_end < 3 && text[name_end - 1] == b' ' {
        name_end -= 1;
    }
    for closing in [b'"', b'\\'] {
        if name_end > 0 && (text[name_end - 1] == closing || (closing == b'"' && text[name_end - 1] == b'\'')) {
            name_end -= 1;
        }
    }
    if !may_end_secret_name(text, name_end) {
        return None;
    }
    let mut name_start = name_end;
    while name_start > 0 && name_end - name_start < 64 && name_byte(text[name_start - 1]) {
        name_start -= 1;
    }
    // `…:secret:prod/db` inside an ARN is a path, not a name.
    if (name_start > 0 && text[name_start - 1] == b':') || !secret_name(&text[name_start..name_end]) {
        return None;
    }
    let (start, end) = value(text, at + 1)?;
    let value = &text[start..end];
    let reference = NOT_SECRETS.iter().any(|p| value.len() >= p.len() && value[..p.len()].eq_ignore_ascii_case(p.as_bytes()));
    let uniform = value.iter().all(|b| *b == value[0]);
    let placeholder = (0..value.len()).any(|i| {
        PLACEHOLDER_FIRST[usize::from(value[i].to_ascii_lowercase())]
            && PLACEHOLDERS.iter().any(|p| value[i..].get(..p.len()).is_some_and(|w| w.eq_ignore_ascii_case(p.as_bytes())))
    });
    ((8..=512).contains(&value.len()) && !reference && !uniform && !placeholder).then_some(Hit { start, end, kind: Kind::ApiKey })
}

/// A value from `from`: in quotes up to the closing one (`\"` closes what `\"` opened; other
/// escapes are part of the value), else up to whitespace, a quote or a closing bracket (or `>`); never
/// across whitespace.
fn value(text: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut start = super::run(text, from, 4, |b| b == b' ' || b == b'\t');
    let escaped = text.get(start) == Some(&b'\\');
    start += usize::from(escaped);
    let Some(quote) = text.get(start).copied().filter(|b| matches!(b, b'"' | b'\'')) else {
        let mut end = super::run(text, start, 513, |b| !b.is_ascii_whitespace() && !b"\"'\\".contains(&b));
        while end > start && b",;}])>".contains(&text[end - 1]) {
            end -= 1;
        }
        return (end > start).then_some((start, end));
    };
    start += 1;
    let mut end = start;
    while end < text.len() && end - start <= 512 && !text[end].is_ascii_whitespace() {
        match text[end] {
            b'\\' if escaped && text.get(end + 1) == Some(&quote) => return (end > start).then_some((start, end)),
            b'\\' => end += 2,
            b if b == quote => return (end > start).then_some((start, end)),
            _ => end += 1,
        }
    }
    None
}

/// A PEM (`-----BEGIN RSA PRIVATE KEY-----`) or PGP (`-----BEGIN PGP PRIVATE KEY BLOCK-----`)
/// private key, to its `-----END …-----` (not past a `"`: the end of a JSON string), or, cut
/// short, as far as its base64 goes.
pub(super) fn private_key(text: &[u8], at: usize, enabled: Enabled) -> Option<Hit> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    if !enabled.has(Kind::PrivateKey) || !text[at..].starts_with(BEGIN) {
        return None;
    }
    let label_start = at + BEGIN.len();
    let label_end = super::run(text, label_start, 40, |b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ');
    let label = &text[label_start..label_end];
    if !(label.ends_with(b"PRIVATE KEY") || label.ends_with(b"PRIVATE KEY BLOCK")) || !text[label_end..].starts_with(b"-----") {
        return None;
    }
    let body = label_end + 5;
    let stop = text[body..].iter().position(|b| *b == b'"').map_or(text.len(), |p| body + p);
    let terminated = text[body..stop].windows(9).position(|w| w == b"-----END ").and_then(|p| {
        let footer = body + p + 9;
        let dashes = text[footer..stop.min(footer + 48)].windows(5).position(|w| w == b"-----")?;
        Some(footer + dashes + 5)
    });
    let end = terminated.unwrap_or_else(|| {
        super::run(text, body, usize::MAX, |b| b.is_ascii_alphanumeric() || b"+/=\\:,-".contains(&b) || b.is_ascii_whitespace())
    });
    Some(Hit { start: at, end, kind: Kind::PrivateKey })
}
