//! Postgres table, view and trigger DDL in forms sqlparser lacks, made parsable by removing
//! clauses that only choose storage or metadata, never rows: `LIKE t INCLUDING ...` elements
//! (the source `t` counts as read), `COMPRESSION m`, `USING am`, `WITHOUT OIDS`, `NO INHERIT`,
//! `NOT VALID`, operator classes in a partition key, `USING INDEX TABLESPACE s`, the column list
//! of `ON DELETE SET NULL (a)`, `WITH OPTIONS`, a CTAS's column names, a view's `WITH CHECK OPTION`,
//! a materialized view's `WITH [NO] DATA`, a trigger function's constant arguments. The rest,
//! with every expression and query in it, is parsed exactly. `CREATE TABLE t AS EXECUTE p` also
//! parses the EXECUTE it runs. ALTER TABLE actions sqlparser lacks (SET STATISTICS | STORAGE |
//! COMPRESSION | SCHEMA | TABLESPACE | ACCESS METHOD, column options and identity changes, ALTER
//! CONSTRAINT, CLUSTER ON, SET WITHOUT, OF, NOT OF) are each recognized in full, `drop` when they
//! drop (`DROP IDENTITY`); the other actions are parsed as an ALTER TABLE of their own.

use sqlparser::tokenizer::{Token, TokenWithSpan};

use super::super::bodies::{add_access, empty_intent, merge};
use super::super::{Access, Intent, Operation};
use super::{parse_one, Found, Part};

/// Solid indexes removed before the parse.
type Removals = Vec<usize>;

/// CREATE [GLOBAL | LOCAL] [TEMP | TEMPORARY | UNLOGGED] TABLE [IF NOT EXISTS] name ...
pub(super) fn create_table(part: &Part) -> Option<Found> {
    let mut i = 1;
    while ["GLOBAL", "LOCAL", "TEMP", "TEMPORARY", "UNLOGGED"].iter().any(|k| part.is(i, k)) {
        i += 1;
    }
    if !part.is(i, "TABLE") {
        return None;
    }
    i += 1;
    if part.is(i, "IF") && part.is(i + 1, "NOT") && part.is(i + 2, "EXISTS") {
        i += 3;
    }
    let (_, after_name) = part.name(i)?;
    let mut removals = Removals::new();
    let mut sources = Vec::new();
    let top = part.top_level(after_name);
    let as_at = top.iter().copied().find(|&k| part.is(k, "AS"));
    if part.is(after_name, "OF") && part.word(after_name + 1).is_some() {
        removals.extend([after_name, after_name + 1]);
    }
    let list_at = [after_name, after_name + 2].into_iter().find(|&k| matches!(part.token(k), Some(Token::LParen)));
    if let Some(open) = list_at.filter(|&k| k == after_name || removals.contains(&(k - 1))) {
        let close = part.close_paren(open)?;
        if as_at.is_some_and(|a| a > close) && names_only(part, open + 1, close) {
            removals.extend(open..=close);
        } else {
            element_edits(part, open, close, &mut removals, &mut sources);
        }
    }
    for &k in top.iter().filter(|&&k| as_at.is_none_or(|a| k < a)) {
        let method = matches!(part.token(k + 1), Some(Token::Word(_)));
        if (part.is(k, "USING") && method) || (part.is(k, "WITHOUT") && part.is(k + 1, "OIDS")) {
            removals.extend([k, k + 1]);
        }
        if part.is(k, "PARTITION") && part.is(k + 1, "BY") && matches!(part.token(k + 3), Some(Token::LParen)) {
            operator_classes(part, k + 3, &mut removals)?;
        }
    }
    let execute = as_at.filter(|&a| part.is(a + 1, "EXECUTE"));
    if let Some(a) = execute {
        removals.extend(a..part.len());
    }
    if removals.is_empty() {
        return None;
    }
    let result = parse_removed(part, &removals).and_then(|mut found| {
        for source in sources {
            add_access(&mut found, Access { operation: Operation::Select, object: source });
        }
        if let Some(a) = execute {
            merge(&mut found, &run_prepared(part, a + 1)?);
        }
        Ok(found)
    });
    Found::of(result)
}

/// `EXECUTE p [(args)] [WITH [NO] DATA]` from `at`: the prepared statement it runs.
fn run_prepared(part: &Part, at: usize) -> Result<Intent, super::SqlError> {
    let top = part.top_level(at);
    let end = top.iter().copied().find(|&k| part.is(k, "WITH")).unwrap_or(part.len());
    parse_one((at..end).filter_map(|k| part.solid_token(k)).collect(), part.dialect)
}

/// Whether solid tokens `from..to` are names separated by commas.
fn names_only(part: &Part, from: usize, to: usize) -> bool {
    from < to
        && (from..to).all(|k| {
            let word = matches!(part.token(k), Some(Token::Word(_)));
            if (k - from) % 2 == 0 {
                word
            } else {
                matches!(part.token(k), Some(Token::Comma))
            }
        })
}

/// Removals inside a table's element list `(...)` at `open..=close`; `LIKE t` elements are
/// removed whole, their sources recorded.
fn element_edits(part: &Part, open: usize, close: usize, removals: &mut Removals, sources: &mut Vec<super::ObjectPath>) {
    let mut depth = 0usize;
    let mut element_start = open + 1;
    let mut k = open;
    while k <= close {
        match part.token(k) {
            Some(Token::LParen) => depth += 1,
            Some(Token::RParen) => depth = depth.saturating_sub(1),
            Some(Token::Comma) if depth == 1 => element_start = k + 1,
            _ => {}
        }
        if depth == 1 && k == element_start && part.is(k, "LIKE") {
            if let Some((source, _)) = part.name(k + 1) {
                let end = (k..close).find(|&e| matches!(part.token(e), Some(Token::Comma))).unwrap_or(close);
                let (from, to) = if end < close {
                    (k, end + 1)
                } else if k > open + 1 {
                    (k - 1, end)
                } else {
                    (k, end)
                };
                removals.extend(from..to);
                sources.push(source);
                k = end;
                continue;
            }
        }
        if depth == 1 {
            element_word_edits(part, k, removals);
        }
        k += 1;
    }
}

/// Removals for the clause at solid index `k` of a column or constraint definition.
fn element_word_edits(part: &Part, k: usize, removals: &mut Removals) {
    let after_word = matches!(part.token(k.wrapping_sub(1)), Some(Token::Word(_) | Token::RParen));
    let pair = |first: &str, second: &str| part.is(k, first) && part.is(k + 1, second);
    let compression = part.is(k, "COMPRESSION") && after_word && part.word(k + 1).is_some();
    if compression || pair("NO", "INHERIT") || pair("NOT", "VALID") || pair("WITH", "OPTIONS") {
        removals.extend([k, k + 1]);
    } else if part.is(k, "USING") && part.is(k + 1, "INDEX") && part.is(k + 2, "TABLESPACE") {
        if let Some((_, after)) = part.name(k + 3) {
            removals.extend(k..after);
        }
    } else if part.is(k, "ON") && part.is(k + 2, "SET") {
        set_action_columns(part, k, removals);
    }
}

/// `ON DELETE SET {NULL | DEFAULT} (a, ...)` at `k`: the column list, which only narrows which
/// columns the referential action sets.
fn set_action_columns(part: &Part, k: usize, removals: &mut Removals) {
    let action = part.is(k + 1, "DELETE") && (part.is(k + 3, "NULL") || part.is(k + 3, "DEFAULT"));
    if action && matches!(part.token(k + 4), Some(Token::LParen)) {
        if let Some(close) = part.close_paren(k + 4).filter(|&c| names_only(part, k + 5, c)) {
            removals.extend(k + 4..=close);
        }
    }
}

/// The operator class ending an element of a partition key `(a opclass, f(b), c COLLATE x)`.
fn operator_classes(part: &Part, open: usize, removals: &mut Removals) -> Option<()> {
    let close = part.close_paren(open)?;
    let mut depth = 0usize;
    for k in open..close {
        match part.token(k) {
            Some(Token::LParen) => depth += 1,
            Some(Token::RParen) => depth = depth.saturating_sub(1),
            _ => {}
        }
        let ends_element = matches!(part.token(k + 1), Some(Token::Comma | Token::RParen));
        let follows_operand = matches!(part.token(k - 1), Some(Token::Word(_) | Token::RParen)) && !part.is(k - 1, "COLLATE");
        if depth == 1 && ends_element && follows_operand && part.word(k).is_some() {
            removals.push(k);
        }
    }
    Some(())
}

/// The statement without the solid tokens in `removals`, parsed as exactly one statement.
fn parse_removed(part: &Part, removals: &Removals) -> Result<Intent, super::SqlError> {
    let edits: Vec<(usize, Option<&str>)> = removals.iter().map(|&k| (k, None)).collect();
    part.parse_edited(&edits)
}

/// CREATE [OR REPLACE] [TEMP] [RECURSIVE] VIEW ... WITH [LOCAL | CASCADED] CHECK OPTION, and
/// CREATE MATERIALIZED VIEW ... [USING am] AS query [WITH [NO] DATA]. The option only makes writes
/// through the view check its condition; `WITH DATA` fills it now, as the parsed statement says.
pub(super) fn create_view(part: &Part, kind_at: usize) -> Option<Found> {
    let back = |k: usize| part.len().saturating_sub(k);
    let mut removals = Removals::new();
    if part.is(back(2), "CHECK") && part.is(back(1), "OPTION") {
        let with = if part.is(back(3), "WITH") { back(3) } else { Some(back(4)).filter(|&w| part.is(w, "WITH"))? };
        removals.extend(with..part.len());
    }
    if part.is(kind_at, "MATERIALIZED") && part.is(back(1), "DATA") {
        if part.is(back(2), "NO") && part.is(back(3), "WITH") {
            removals.extend(back(3)..part.len());
        } else if part.is(back(2), "WITH") {
            removals.extend(back(2)..part.len());
        }
    }
    if part.is(kind_at, "MATERIALIZED") {
        let top = part.top_level(kind_at);
        let as_at = top.iter().copied().find(|&k| part.is(k, "AS"))?;
        for &k in top.iter().filter(|&&k| k < as_at && part.is(k, "USING") && part.word(k + 1).is_some()) {
            removals.extend([k, k + 1]);
        }
    }
    if removals.is_empty() {
        return None;
    }
    Found::of(parse_removed(part, &removals))
}

/// CREATE TRIGGER ... EXECUTE {FUNCTION | PROCEDURE} f (args): Postgres passes the arguments to
/// the function as constant strings, which sqlparser does not take; they go, the rest is parsed.
pub(super) fn create_trigger(part: &Part) -> Option<Found> {
    let n = part.len();
    if !matches!(part.token(n.checked_sub(1)?), Some(Token::RParen)) {
        return None;
    }
    let top = part.top_level(0);
    let execute = top.iter().copied().rev().find(|&k| part.is(k, "EXECUTE"))?;
    let (_, open) = part.name(execute + 2)?;
    if !matches!(part.token(open), Some(Token::LParen)) {
        return None;
    }
    if !(part.is(execute + 1, "FUNCTION") || part.is(execute + 1, "PROCEDURE")) || part.close_paren(open) != Some(n - 1) {
        return None;
    }
    let constant = |k: usize| matches!(part.token(k), Some(Token::SingleQuotedString(_) | Token::Number(..) | Token::Minus));
    let argument = |k: usize| constant(k) || matches!(part.token(k), Some(Token::Word(_) | Token::Comma));
    if !(open + 1..n - 1).all(argument) || !(open + 1..n - 1).any(constant) {
        return None;
    }
    Found::of(parse_removed(part, &(open + 1..n - 1).collect()))
}

/// Postgres ALTER TABLE [IF EXISTS] [ONLY] t [*] actions, where one sqlparser lacks is among
/// them, or `t *` names the table with its children; or ALTER TABLE ALL IN TABLESPACE ... .
pub(super) fn alter_table(part: &Part) -> Option<Found> {
    if part.is(2, "ALL") && part.is(3, "IN") && part.is(4, "TABLESPACE") && part.all_simple(5) {
        return Found::intent(empty_intent(&[Operation::Alter]));
    }
    let mut i = 2;
    if part.is(i, "IF") && part.is(i + 1, "EXISTS") {
        i += 2;
    }
    if part.is(i, "ONLY") {
        i += 1;
    }
    let (table, mut header_end) = part.name(i)?;
    let star = matches!(part.token(header_end), Some(Token::Mul));
    let header: Vec<usize> = (0..header_end).filter(|&k| !part.is(k, "ONLY")).collect();
    if star {
        header_end += 1;
    }
    let mut found = empty_intent(&[]);
    add_access(&mut found, Access { operation: Operation::Alter, object: table.clone() });
    let mut kept: Vec<Vec<usize>> = Vec::new();
    let (mut recognized, mut edited) = (false, false);
    let top = part.top_level(header_end);
    let commas = top.iter().copied().filter(|&k| matches!(part.token(k), Some(Token::Comma))).chain([part.len()]);
    let mut start = header_end;
    for end in commas {
        match table_action(part, start, end) {
            Some(effect) => {
                recognized = true;
                if let Some(op) = effect {
                    add_access(&mut found, Access { operation: op, object: table.clone() });
                }
            }
            None => {
                let action = kept_action(part, start, end);
                edited |= action.len() != end.saturating_sub(start);
                kept.push(action);
            }
        }
        start = end + 1;
    }
    if !(recognized || star || edited) {
        return None;
    }
    if !kept.is_empty() {
        let mut tokens: Vec<TokenWithSpan> = header.iter().filter_map(|&k| part.solid_token(k)).collect();
        for (n, action) in kept.into_iter().enumerate() {
            if n > 0 {
                tokens.push(TokenWithSpan::wrap(Token::Comma));
            }
            tokens.extend(action.into_iter().filter_map(|k| part.solid_token(k)));
        }
        match parse_one(tokens, part.dialect) {
            Ok(changes) => merge(&mut found, &changes),
            Err(error) => return Found::of(Err(error)),
        }
    }
    Found::intent(found)
}

/// The solid indexes of an action left to the parser, without the clauses it lacks.
fn kept_action(part: &Part, from: usize, to: usize) -> Vec<usize> {
    let mut removals = Removals::new();
    for k in from..to {
        if part.is(k, "USING") && part.is(k + 1, "INDEX") && part.is(k + 2, "TABLESPACE") {
            element_word_edits(part, k, &mut removals);
        } else if part.is(k, "ON") {
            set_action_columns(part, k, &mut removals);
        } else if part.is(k, "COLLATE") && (from..k).any(|t| part.is(t, "TYPE")) && part.name(k + 1).is_some_and(|(_, e)| e == to)
        {
            // The collation of a column whose type changes: ordering, not rows.
            removals.extend(k..to);
        }
    }
    removals.sort_unstable();
    (from..to).filter(|k| removals.binary_search(k).is_err()).collect()
}

/// An ALTER TABLE action sqlparser lacks, in full at solid `from..to`: `Some(effect besides
/// alter)`, or `None` when it is not one.
fn table_action(part: &Part, from: usize, to: usize) -> Option<Option<Operation>> {
    let fixed = |words: &[&str]| words.iter().enumerate().all(|(n, w)| part.is(from + n, w));
    let name_then_end = |at: usize| part.name(at).is_some_and(|(_, after)| after == to);
    let table_level = (fixed(&["CLUSTER", "ON"]) && name_then_end(from + 2))
        || (fixed(&["SET", "WITHOUT"]) && (part.is(from + 2, "CLUSTER") || part.is(from + 2, "OIDS")) && to == from + 3)
        || ((fixed(&["SET", "TABLESPACE"]) || fixed(&["SET", "SCHEMA"])) && name_then_end(from + 2))
        || (fixed(&["SET", "ACCESS", "METHOD"]) && name_then_end(from + 3))
        || (fixed(&["OF"]) && name_then_end(from + 1))
        || (fixed(&["NOT", "OF"]) && to == from + 2)
        || (fixed(&["RESET"]) && matches!(part.token(from + 1), Some(Token::LParen)) && option_list(part, from + 1, to))
        || (fixed(&["ALTER", "CONSTRAINT"]) && part.name(from + 2).is_some_and(|(_, after)| constraint_modes(part, after, to)));
    if table_level {
        return Some(None);
    }
    if !part.is(from, "ALTER") || part.is(from + 1, "CONSTRAINT") {
        return None;
    }
    let column = if part.is(from + 1, "COLUMN") { from + 2 } else { from + 1 };
    let (_, at) = part.name(column)?;
    column_action(part, at, to)
}

/// `DEFERRABLE | NOT DEFERRABLE | INITIALLY {DEFERRED | IMMEDIATE} | NO INHERIT`, from `from` to `to`.
fn constraint_modes(part: &Part, from: usize, to: usize) -> bool {
    const MODES: [&str; 7] = ["DEFERRABLE", "NOT", "INITIALLY", "DEFERRED", "IMMEDIATE", "NO", "INHERIT"];
    from < to && (from..to).all(|k| MODES.iter().any(|m| part.is(k, m)))
}

/// A column's action from `at` to `to`: statistics, storage, compression, options, identity.
fn column_action(part: &Part, at: usize, to: usize) -> Option<Option<Operation>> {
    let single = |word: &str| part.is(at, "SET") && part.is(at + 1, word) && to == at + 3;
    let options = (part.is(at, "SET") || part.is(at, "RESET")) && option_list(part, at + 1, to);
    let statistics = part.is(at, "SET")
        && part.is(at + 1, "STATISTICS")
        && (to == at + 3 || (to == at + 4 && matches!(part.token(at + 2), Some(Token::Minus))))
        && matches!(part.token(to - 1), Some(Token::Number(..)));
    if options || statistics || ((single("STORAGE") || single("COMPRESSION")) && part.word(at + 2).is_some()) {
        return Some(None);
    }
    if part.is(at, "DROP") && part.is(at + 1, "IDENTITY") && (to == at + 2 || (to == at + 4 && part.is(at + 2, "IF"))) {
        return Some(Some(Operation::Drop));
    }
    const IDENTITY: [&str; 8] = ["GENERATED", "INCREMENT", "START", "MINVALUE", "MAXVALUE", "CYCLE", "CACHE", "NO"];
    let identity = part.is(at, "RESTART") || (part.is(at, "SET") && IDENTITY.iter().any(|w| part.is(at + 1, w)));
    let simple = (at..to).all(|k| {
        matches!(part.token(k), Some(Token::Word(w)) if w.quote_style.is_none())
            || matches!(part.token(k), Some(Token::Number(..) | Token::Minus))
    });
    (identity && simple && !(at..to).any(|k| part.is(k, "DROP"))).then_some(None)
}

/// Whether solid `open..to` is one option list `(name = value, ...)`.
fn option_list(part: &Part, open: usize, to: usize) -> bool {
    matches!(part.token(open), Some(Token::LParen))
        && part.close_paren(open).is_some_and(|close| close + 1 == to)
        && (open + 1..to - 1).all(|k| option_token(part, k))
}

/// A token of an option list `(name = value, ...)`.
fn option_token(part: &Part, k: usize) -> bool {
    matches!(
        part.token(k),
        Some(
            Token::Word(_)
                | Token::Number(..)
                | Token::SingleQuotedString(_)
                | Token::Eq
                | Token::Comma
                | Token::Period
                | Token::Minus
        )
    )
}
