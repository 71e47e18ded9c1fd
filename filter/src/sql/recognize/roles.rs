//! Postgres privileges, roles and session modes in forms sqlparser lacks. GRANT and REVOKE on
//! large objects, foreign data wrappers and servers, languages, types, domains and tablespaces,
//! or of `ALL (columns)`, are `grant` / `revoke` on the objects named after `ON`, when every token
//! is a name, a number or punctuation. CREATE USER is parsed as the CREATE ROLE it is (a user is
//! a role with LOGIN), without the noise words sqlparser lacks (`ENCRYPTED`, `SYSID n`). `SET [LOCAL | SESSION] ROLE | SESSION AUTHORIZATION ...` switches identity:
//! `set` and `grant`. Transaction modes (`START TRANSACTION ..., DEFERRABLE`), `SET XML OPTION`
//! and `RESET TIME ZONE` hold only mode words.

use sqlparser::tokenizer::Token;

use super::super::bodies::{add_access, empty_intent};
use super::super::{Access, Operation};
use super::{Found, Part};

/// Kinds of object after `ON` that sqlparser's GRANT lacks.
const KINDS: [&str; 7] = ["LARGE", "FOREIGN", "LANGUAGE", "TYPE", "DOMAIN", "TABLESPACE", "ROUTINE"];

/// Words of an object kind between `ON` and the objects' names.
const KIND_WORDS: [&str; 11] =
    ["LARGE", "OBJECT", "FOREIGN", "DATA", "WRAPPER", "SERVER", "LANGUAGE", "TYPE", "DOMAIN", "TABLESPACE", "TABLE"];

/// GRANT privileges ON [kind] objects TO roles [WITH GRANT OPTION] [GRANTED BY r] | REVOKE
/// [GRANT OPTION FOR] privileges ON [kind] objects FROM roles [CASCADE | RESTRICT].
pub(super) fn privileges(part: &Part, operation: Operation) -> Option<Found> {
    let top = part.top_level(1);
    let on = top.iter().copied().find(|&k| part.is(k, "ON"))?;
    let columns_of_all = (1..on).any(|k| part.is(k, "ALL") && matches!(part.token(k + 1), Some(Token::LParen)))
        || (1..on).any(|k| part.is(k, "PRIVILEGES") && matches!(part.token(k + 1), Some(Token::LParen)));
    if !(columns_of_all || KINDS.iter().any(|kind| part.is(on + 1, kind))) {
        return None;
    }
    let plain = |k: usize| {
        matches!(
            part.token(k),
            Some(Token::Word(_) | Token::Number(..) | Token::Comma | Token::Period | Token::LParen | Token::RParen)
        )
    };
    let to = if operation == Operation::Grant { "TO" } else { "FROM" };
    let to_at = top.iter().copied().find(|&k| k > on && part.is(k, to))?;
    if !(1..part.len()).all(plain) {
        return None;
    }
    let mut found = empty_intent(&[operation]);
    let mut k = on + 1;
    while KIND_WORDS.iter().any(|w| part.is(k, w)) {
        k += 1;
    }
    while k < to_at {
        match part.token(k) {
            Some(Token::Comma | Token::Number(..)) => k += 1,
            _ => {
                let (object, after) = part.name(k)?;
                add_access(&mut found, Access { operation, object });
                k = if matches!(part.token(after), Some(Token::LParen)) { part.close_paren(after)? + 1 } else { after };
            }
        }
    }
    Found::intent(found)
}

/// CREATE {USER | ROLE} name [[WITH] options]: a user is a role that may log in, parsed as
/// CREATE ROLE; `ENCRYPTED` before `PASSWORD` and `SYSID n` are noise Postgres ignores.
pub(super) fn create_role(part: &Part) -> Option<Found> {
    if part.is(2, "MAPPING") {
        return None;
    }
    let mut edits: Vec<(usize, Option<&str>)> = Vec::new();
    if part.is(1, "USER") {
        edits.push((1, Some("ROLE")));
    }
    for k in 3..part.len() {
        if part.is(k, "ENCRYPTED") && part.is(k + 1, "PASSWORD") {
            edits.push((k, None));
        } else if part.is(k, "SYSID") && matches!(part.token(k + 1), Some(Token::Number(..))) {
            edits.extend([(k, None), (k + 1, None)]);
        }
    }
    if edits.is_empty() {
        return None;
    }
    Found::of(part.parse_edited(&edits))
}

/// SET [LOCAL | SESSION] {ROLE | SESSION AUTHORIZATION} ..., in the forms sqlparser lacks
/// (`SET ROLE TO r`, `SET LOCAL SESSION AUTHORIZATION u`); XML OPTION; transaction modes.
pub(super) fn set(part: &Part) -> Option<Found> {
    let scoped = part.is(1, "LOCAL") || part.is(1, "SESSION") && !part.is(2, "AUTHORIZATION") && !part.is(2, "CHARACTERISTICS");
    let at = if scoped { 2 } else { 1 };
    let identity = if part.is(at, "ROLE") {
        Some(at + 1)
    } else if part.is(at, "SESSION") && part.is(at + 1, "AUTHORIZATION") {
        Some(at + 2)
    } else {
        None
    };
    if let Some(value) = identity {
        let unusual = scoped || part.is(value, "TO") || matches!(part.token(value), Some(Token::Eq));
        let simple =
            (value..part.len()).all(|k| matches!(part.token(k), Some(Token::Word(_) | Token::SingleQuotedString(_) | Token::Eq)));
        return (unusual && simple && value < part.len())
            .then(|| empty_intent(&[Operation::Set, Operation::Grant]))
            .and_then(Found::intent);
    }
    let xml = part.is(1, "XML") && part.is(2, "OPTION") && part.len() == 4 && (part.is(3, "CONTENT") || part.is(3, "DOCUMENT"));
    let transaction = part.is(1, "TRANSACTION") && transaction_modes(part, 2);
    (xml || transaction).then(|| empty_intent(&[Operation::Set])).and_then(Found::intent)
}

/// START TRANSACTION modes, with the `DEFERRABLE` sqlparser lacks.
pub(super) fn start_transaction(part: &Part) -> Option<Found> {
    (part.is(1, "TRANSACTION") && transaction_modes(part, 2) && (2..part.len()).any(|k| part.is(k, "DEFERRABLE")))
        .then(|| empty_intent(&[Operation::Transaction]))
        .and_then(Found::intent)
}

/// RESET TIME ZONE.
pub(super) fn reset(part: &Part) -> Option<Found> {
    (part.is(1, "TIME") && part.is(2, "ZONE") && part.len() == 3).then(|| empty_intent(&[Operation::Set])).and_then(Found::intent)
}

/// Whether the tokens from `from` are transaction modes: ISOLATION LEVEL ..., READ WRITE | ONLY,
/// [NOT] DEFERRABLE, separated by commas or not.
fn transaction_modes(part: &Part, from: usize) -> bool {
    const MODES: [&str; 11] = [
        "ISOLATION",
        "LEVEL",
        "SERIALIZABLE",
        "REPEATABLE",
        "READ",
        "COMMITTED",
        "UNCOMMITTED",
        "WRITE",
        "ONLY",
        "NOT",
        "DEFERRABLE",
    ];
    from < part.len()
        && (from..part.len()).all(|k| matches!(part.token(k), Some(Token::Comma)) || MODES.iter().any(|m| part.is(k, m)))
}
