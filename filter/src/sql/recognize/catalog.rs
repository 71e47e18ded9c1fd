//! Postgres statements on catalog objects sqlparser cannot parse, recognized over their tokens:
//! a family's operation comes from its leading words, and the rest must be names, literals,
//! options and, in operator statements, operator symbols. No query can stand in these grammars,
//! and a query keyword in them leaves the statement unparsed. The one expression a family may
//! evaluate, a `CHECK (e)` (domains) or `WHERE (e)` (publication row filters, run on every
//! replicated row), is parsed as `SELECT (e)` and its intent merged; a `CHECK` or `WHERE` not
//! followed by a bracketed expression leaves the statement unparsed.

use sqlparser::tokenizer::Token;

use super::super::bodies::{add_access, empty_intent, merge};
use super::super::{Access, Intent, Operation};
use super::{Found, Part};

/// Words that start a query or a data change: never part of a catalog statement's grammar.
const QUERY_WORDS: [&str; 6] = ["SELECT", "VALUES", "INSERT", "UPDATE", "DELETE", "MERGE"];

/// Kinds of object whose CREATE, ALTER and DROP are catalog statements here.
const KINDS: [&str; 23] = [
    "PUBLICATION",
    "SUBSCRIPTION",
    "STATISTICS",
    "SERVER",
    "CAST",
    "OPERATOR",
    "EVENT",
    "TEXT",
    "COLLATION",
    "CONVERSION",
    "TABLESPACE",
    "INDEX",
    "SEQUENCE",
    "TYPE",
    "DOMAIN",
    "FOREIGN",
    "LANGUAGE",
    "TRANSFORM",
    "ACCESS",
    "AGGREGATE",
    "EXTENSION",
    "ROUTINE",
    "LARGE",
];

/// Kinds whose ALTER only is a catalog statement here: sqlparser parses their CREATE and DROP.
const ALTERED_KINDS: [&str; 4] = ["PROCEDURE", "RULE", "DATABASE", "MATERIALIZED"];

/// What a catalog statement is: its operation, the index of its first word after the kind, and
/// whether the words after it name objects.
struct Family {
    operation: Operation,
    from: usize,
    names: bool,
}

/// A catalog statement: claimed only when sqlparser cannot parse it and every token outside
/// its `CHECK (e)` and `WHERE (e)` fits. A `DROP` anywhere adds `drop` (`ALTER TYPE ... DROP
/// ATTRIBUTE`), an `OWNER` or a `ROLE` setting `grant`; a subscription also imports (it copies rows
/// into local tables), as does IMPORT FOREIGN SCHEMA (it creates tables reading remote rows).
/// Every name counts as an object of the operation, since the tokens do not say which words name
/// objects: a deny rule on a table sees it however the statement names it.
pub(super) fn catalog_statement(part: &Part) -> Option<Found> {
    let family = catalog_family(part)?;
    let from = family.from;
    let symbols = ["OPERATOR", "AGGREGATE"].iter().any(|k| (1..=3).any(|i| part.is(i, k)));
    let expressions = expression_groups(part, from)?;
    // The groups are in order and apart: the last one opening at or before `k` is the only one
    // that may hold it.
    let outside = |k: &usize| {
        let before = expressions.partition_point(|&(open, _)| open - 1 <= *k);
        before.checked_sub(1).and_then(|g| expressions.get(g)).is_none_or(|&(_, close)| *k > close)
    };
    if !(from..part.len()).filter(outside).all(|k| fits(part, k, symbols)) || part.parse_edited(&[]).is_ok() {
        return None;
    }
    let mut found = empty_intent(&[family.operation]);
    for &(open, close) in &expressions {
        match part.expression(open, close) {
            Ok(expression) => merge(&mut found, &expression),
            Err(error) => return Found::of(Err(error)),
        }
    }
    add_side_effects(part, &family, &mut found);
    let mut k = from;
    while family.names && k < part.len() {
        match part.name(k) {
            Some((object, after)) if outside(&k) && !is_catalog_syntax(part, k, after) => {
                add_access(&mut found, Access { operation: family.operation, object });
                k = after;
            }
            Some((_, after)) => k = after,
            None => k += 1,
        }
    }
    Found::intent(found)
}

/// Operations a catalog statement performs besides its family's.
fn add_side_effects(part: &Part, family: &Family, found: &mut Intent) {
    let any = |word: &str| (family.from..part.len()).any(|k| part.is(k, word));
    if family.operation != Operation::Drop && any("DROP") {
        found.operations.insert(Operation::Drop);
    }
    // A new owner holds every privilege on the object; a role setting switches identity.
    let sets_identity = (family.from..part.len())
        .any(|k| part.is(k, "SET") && (part.is(k + 1, "ROLE") || part.is(k + 1, "SESSION_AUTHORIZATION")));
    if any("OWNER") || sets_identity {
        found.operations.insert(Operation::Grant);
    }
    if (part.is(1, "SUBSCRIPTION") || part.is(0, "IMPORT")) && family.operation != Operation::Drop {
        found.operations.insert(Operation::Import);
    }
}

/// Whether solid token `k` may stand in a catalog statement (outside its expressions).
fn fits(part: &Part, k: usize, symbols: bool) -> bool {
    match part.token(k) {
        Some(Token::Word(w)) if w.quote_style.is_some() => true,
        Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("WITH") => !opens_query(part, k),
        // An option's value (`publish = insert`) is a word, not a statement.
        Some(Token::Word(w)) => {
            matches!(part.token(k.wrapping_sub(1)), Some(Token::Eq))
                || !QUERY_WORDS.iter().any(|q| w.value.eq_ignore_ascii_case(q))
        }
        Some(
            Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::Comma
            | Token::Period
            | Token::LParen
            | Token::RParen
            | Token::Eq
            | Token::Minus
            | Token::Plus
            | Token::Mul,
        ) => true,
        // An operator's own name (`===`, `@#@`, `<<|`): a symbol, no expression.
        Some(Token::SemiColon) | None => false,
        Some(_) => symbols,
    }
}

/// Whether the `WITH` at `k` opens a query (`WITH [RECURSIVE] name [(cols)] AS (...)`) rather
/// than options (`WITH (a = 1)`, `RESTART WITH 5`, `WITH FUNCTION f(int)`, `WITH ispell`).
fn opens_query(part: &Part, k: usize) -> bool {
    part.is(k + 1, "RECURSIVE")
        || (matches!(part.token(k + 1), Some(Token::Word(_)))
            && (part.is(k + 2, "AS") || matches!(part.token(k + 2), Some(Token::LParen))))
}

/// The `(` and `)` of every `CHECK (e)` and `WHERE (e)` from `from` on; `None` when a `CHECK` or
/// `WHERE` is not followed by one.
fn expression_groups(part: &Part, from: usize) -> Option<Vec<(usize, usize)>> {
    let mut groups = Vec::new();
    let mut k = from;
    while k < part.len() {
        if part.is(k, "CHECK") || part.is(k, "WHERE") {
            if !matches!(part.token(k + 1), Some(Token::LParen)) {
                return None;
            }
            let close = part.close_paren(k + 1)?;
            groups.push((k + 1, close));
            k = close;
        }
        k += 1;
    }
    Some(groups)
}

/// The family of a catalog statement, by its leading words.
fn catalog_family(part: &Part) -> Option<Family> {
    let kind = |i: usize| KINDS.iter().any(|k| part.is(i, k)) || (part.is(i, "USER") && part.is(i + 1, "MAPPING"));
    let of = |operation: Operation, from: usize| Some(Family { operation, from, names: true });
    match part.word(0)?.as_str() {
        "CREATE" if part.is(1, "DEFAULT") && part.is(2, "CONVERSION") => of(Operation::Create, 3),
        "CREATE" if kind(1) => of(Operation::Create, 2),
        "CREATE" if part.is(1, "UNLOGGED") && part.is(2, "SEQUENCE") => of(Operation::Create, 3),
        "ALTER" if kind(1) || ALTERED_KINDS.iter().any(|k| part.is(1, k)) => of(Operation::Alter, 2),
        "DROP" if kind(1) => of(Operation::Drop, 2),
        // DROP DATABASE d (FORCE) | WITH (FORCE); the plain form sqlparser parses.
        "DROP" if part.is(1, "DATABASE") && matches!(part.token(part.len() - 1), Some(Token::RParen)) => of(Operation::Drop, 2),
        "COMMENT" if part.is(1, "ON") => of(Operation::Alter, 2),
        "SECURITY" if part.is(1, "LABEL") => of(Operation::Alter, 2),
        "IMPORT" if part.is(1, "FOREIGN") && part.is(2, "SCHEMA") => of(Operation::Create, 3),
        "VACUUM" | "ANALYZE" | "CLUSTER" => of(Operation::Alter, 1),
        "CHECKPOINT" => of(Operation::Admin, 1),
        "SET" if part.is(1, "CONSTRAINTS") => Some(Family { operation: Operation::Set, from: 2, names: false }),
        "PREPARE" if part.is(1, "TRANSACTION") => of(Operation::Transaction, 2),
        "COMMIT" | "ROLLBACK" if part.is(1, "PREPARED") => of(Operation::Transaction, 2),
        _ => None,
    }
}

/// Whether the name at `at` (ending before `after`) is one unquoted word of the statement's own
/// syntax rather than an object's name.
fn is_catalog_syntax(part: &Part, at: usize, after: usize) -> bool {
    const SYNTAX: [&str; 56] = [
        "ADD",
        "ALL",
        "ALTER",
        "AS",
        "ATTACH",
        "ATTRIBUTE",
        "VALUE",
        "CASCADE",
        "COLUMN",
        "CONNECTION",
        "CONSTRAINT",
        "DATA",
        "DEFAULT",
        "DETACH",
        "DISABLE",
        "DROP",
        "ENABLE",
        "EXISTS",
        "FOR",
        "FROM",
        "FUNCTION",
        "IF",
        "IN",
        "IS",
        "NOT",
        "NULL",
        "OF",
        "ON",
        "OPTIONS",
        "OWNER",
        "PARTITION",
        "PUBLICATION",
        "REFRESH",
        "RENAME",
        "RESET",
        "RESTRICT",
        "SCHEMA",
        "SET",
        "TABLE",
        "TABLES",
        "TO",
        "WITH",
        "ONLY",
        "TABLESPACE",
        "SERVER",
        "MAPPING",
        "USING",
        "INTO",
        "VIEW",
        "OPERATOR",
        "FAMILY",
        "CLASS",
        "LABEL",
        "VERBOSE",
        "NONE",
        "EXCEPT",
    ];
    let quoted = matches!(part.token(at), Some(Token::Word(w)) if w.quote_style.is_some());
    after == at + 1 && !quoted && SYNTAX.iter().any(|w| part.is(at, w))
}

/// CREATE STATISTICS [IF NOT EXISTS] [name] [(kinds)] ON columns and expressions FROM table:
/// ANALYZE computes the expressions over the table's rows, so the statement is parsed as the
/// `SELECT expressions FROM table` it samples, and `create` on the statistics object.
pub(super) fn statistics(part: &Part) -> Option<Found> {
    let mut i = 2;
    if part.is(i, "IF") && part.is(i + 1, "NOT") && part.is(i + 2, "EXISTS") {
        i += 3;
    }
    let name = part.name(i).filter(|(_, after)| !part.is(i, "ON") || part.is(*after, "ON"));
    if let Some((_, after)) = &name {
        i = *after;
    }
    if matches!(part.token(i), Some(Token::LParen)) {
        let close = part.close_paren(i)?;
        if !(i + 1..close).all(|k| matches!(part.token(k), Some(Token::Word(_) | Token::Comma))) {
            return None;
        }
        i = close + 1;
    }
    if !part.is(i, "ON") {
        return None;
    }
    let edits: Vec<(usize, Option<&str>)> = (0..i).map(|k| (k, None)).chain([(i, Some("SELECT"))]).collect();
    let result = part.parse_edited(&edits).map(|mut found| {
        found.operations.insert(Operation::Create);
        if let Some((object, _)) = name {
            add_access(&mut found, Access { operation: Operation::Create, object });
        }
        found
    });
    Found::of(result)
}
