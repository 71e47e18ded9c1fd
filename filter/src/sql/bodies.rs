//! Code that a statement carries and runs now or later: DO blocks, the bodies of procedures,
//! functions and triggers. Their language is not SQL, so they are read piece by piece, and what
//! they do is the union of what every piece does.
//!
//! A body is split at `;` and each piece analyzed as SQL: a piece that parses counts as parsed; a
//! piece that does not (control flow, variable declarations) counts with what its tokens suggest,
//! and as unbounded when it names an UPDATE or DELETE, since its WHERE (if any) cannot be judged.
//! String literals that begin like a statement are read as SQL too (`EXECUTE 'DROP TABLE ' || t`);
//! dynamic SQL assembled from smaller pieces is visible only as `call` (the EXECUTE keyword).

use std::cell::Cell;

use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use super::dialect::Dialect;
use super::{analyze_each, lexical, Access, Intent, Operation, OperationSet, WrittenColumns};

/// Bodies nested in bodies (a DO inside a DO's literal) that are read as code; deeper ones are
/// scanned as plain words.
const MAX_DEPTH: usize = 6;

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Runs `f` one nesting level deeper, or returns `None` past the bound. Every path from a
/// statement into the text it embeds goes through here, so the recursion is bounded.
pub(crate) fn nested<T>(f: impl FnOnce() -> T) -> Option<T> {
    let depth = DEPTH.with(Cell::get);
    if depth >= MAX_DEPTH {
        return None;
    }
    DEPTH.with(|d| d.set(depth + 1));
    let out = f();
    DEPTH.with(|d| d.set(depth));
    Some(out)
}

/// An intent with the given operations and nothing else yet.
pub(crate) fn empty_intent(operations: &[Operation]) -> Intent {
    let mut set = OperationSet::EMPTY;
    for op in operations {
        set.insert(*op);
    }
    Intent {
        session: None,
        operations: set,
        accesses: Vec::new(),
        columns_written: WrittenColumns::default(),
        columns_read: Vec::new(),
        reads_all_columns: false,
        unbounded: false,
        fingerprint: String::new(),
        span: (0, 0),
    }
}

pub(crate) fn add_access(intent: &mut Intent, access: Access) {
    intent.operations.insert(access.operation);
    if !intent.accesses.contains(&access) {
        intent.accesses.push(access);
    }
}

/// Everything `from` does, added to `into`.
pub(crate) fn merge(into: &mut Intent, from: &Intent) {
    for op in from.operations.iter() {
        into.operations.insert(op);
    }
    for access in &from.accesses {
        add_access(into, access.clone());
    }
    for name in &from.columns_written.names {
        if !into.columns_written.names.contains(name) {
            into.columns_written.names.push(name.clone());
        }
    }
    into.columns_written.unknown |= from.columns_written.unknown;
    for name in &from.columns_read {
        if !into.columns_read.contains(name) {
            into.columns_read.push(name.clone());
        }
    }
    into.reads_all_columns |= from.reads_all_columns;
    into.unbounded |= from.unbounded;
}

/// The operations and objects `from` suggests, without its blanket column and boundedness
/// guesses: for the clauses of a recognized statement that only options and expressions fill.
pub(crate) fn merge_suggested(into: &mut Intent, from: &Intent) {
    for op in from.operations.iter().filter(|op| *op != Operation::Other) {
        into.operations.insert(op);
    }
    for access in &from.accesses {
        add_access(into, access.clone());
    }
    if from.operations.contains(Operation::Update) || from.operations.contains(Operation::Delete) {
        into.unbounded |= from.unbounded;
    }
}

/// What a code body does, read as described in the module doc.
pub(crate) fn code(text: &str, dialect: Dialect) -> Intent {
    nested(|| read_code(text, dialect)).unwrap_or_else(|| lexical::unparsed_text(text, "nested too deep").suspected)
}

fn read_code(text: &str, dialect: Dialect) -> Intent {
    let mut found = empty_intent(&[]);
    for piece in analyze_each(text, dialect) {
        match piece {
            Ok(intent) => merge(&mut found, &intent),
            Err(unparsed) => {
                let mut suspected = unparsed.suspected;
                let writes = suspected.operations.contains(Operation::Update) || suspected.operations.contains(Operation::Delete);
                suspected.unbounded |= writes;
                merge(&mut found, &suspected);
            }
        }
    }
    if let Ok(tokens) = Tokenizer::new(dialect.parser_dialect(), text).tokenize_with_location() {
        for literal in tokens.iter().filter_map(|t| literal_text(&t.token)) {
            if starts_like_sql(literal) {
                merge(&mut found, &code(literal, dialect));
            }
        }
    }
    found
}

/// The text of a string literal token.
pub(crate) fn literal_text(token: &Token) -> Option<&str> {
    match token {
        Token::SingleQuotedString(s)
        | Token::DoubleQuotedString(s)
        | Token::EscapedStringLiteral(s)
        | Token::NationalStringLiteral(s)
        | Token::UnicodeStringLiteral(s) => Some(s),
        Token::DollarQuotedString(s) => Some(&s.value),
        _ => None,
    }
}

/// Words a statement begins with, for literals inside code that may be dynamic SQL.
const STATEMENT_WORDS: &[&str] = &[
    "SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "CREATE", "ALTER", "DROP", "TRUNCATE", "GRANT", "REVOKE", "COPY", "WITH",
    "DO", "CALL", "EXECUTE", "PREPARE", "LOAD", "REPLACE", "RENAME", "VACUUM", "REINDEX", "CLUSTER", "LOCK", "KILL", "SET",
];

fn starts_like_sql(text: &str) -> bool {
    let word: String = text.trim_start().chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    STATEMENT_WORDS.iter().any(|w| w.eq_ignore_ascii_case(&word))
}

/// Index just past the `END` that closes the compound statement opening at `from` (MySQL
/// BEGIN ... END with IF, CASE, LOOP, WHILE and REPEAT blocks; Postgres BEGIN ATOMIC ... END with
/// CASE), or the end of the tokens. Where the count errs, the body runs long or short: either
/// way every token is still read, as body or as statements of their own.
pub(crate) fn compound_end(tokens: &[TokenWithSpan], from: usize) -> usize {
    let mut depth = 0usize;
    let mut previous: Option<&Token> = None;
    for (i, token) in tokens.iter().enumerate().skip(from) {
        let token = &token.token;
        if lexical::is_blank(token) {
            continue;
        }
        if lexical::is_keyword(token, &["END"]) {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                return i + 1;
            }
        } else if opens_block(token, previous, tokens.get(i + 1..).unwrap_or_default()) {
            depth += 1;
        }
        previous = Some(token);
    }
    tokens.len()
}

/// Whether `token` opens a block that an `END` closes. `END IF`, `END LOOP` ... close one and
/// open none; `REPEAT(` is a function; `IF` opens a block only where a statement begins.
fn opens_block(token: &Token, previous: Option<&Token>, rest: &[TokenWithSpan]) -> bool {
    if previous.is_some_and(|p| lexical::is_keyword(p, &["END"])) {
        return false;
    }
    let next_is_paren = rest.iter().find(|t| !lexical::is_blank(&t.token)).is_some_and(|t| t.token == Token::LParen);
    lexical::is_keyword(token, &["BEGIN", "CASE", "LOOP", "WHILE"])
        || (lexical::is_keyword(token, &["REPEAT"]) && !next_is_paren)
        || (lexical::is_keyword(token, &["IF"]) && opens_statement(previous))
}

/// Whether a token at this place begins a statement inside a compound body.
fn opens_statement(previous: Option<&Token>) -> bool {
    match previous {
        None | Some(Token::SemiColon | Token::Colon) => true,
        Some(token) => lexical::is_keyword(token, &["BEGIN", "THEN", "ELSE", "DO", "LOOP", "REPEAT"]),
    }
}
