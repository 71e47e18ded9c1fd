//! Token-level work: statement boundaries, the complexity guard, fingerprints, and the
//! *suspected* intent of a statement the parser rejected.
//!
//! Tokens come from sqlparser's tokenizer, so comments, quoted identifiers, string literals and
//! dollar quoting are already told apart: `SELECT 'DROP TABLE x'` has no DROP word in it.

use std::fmt::Write;
use std::ops::Range;

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Word};

use super::dialect::Dialect;
use super::names::{canonical, push_canonical_unquoted, ObjectPath};
use super::{
    Access, Intent, Operation, OperationSet, SqlError, SqlErrorKind, Unparsed, WrittenColumns, MAX_NESTING, MAX_OPERATOR_CHAIN,
};

/// Maps token locations (line, column in characters) to byte offsets.
pub(crate) struct Offsets<'t> {
    text: &'t str,
    line_starts: Vec<usize>,
}

impl<'t> Offsets<'t> {
    pub(crate) fn new(text: &'t str) -> Offsets<'t> {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Offsets { text, line_starts }
    }

    pub(crate) fn text(&self) -> &'t str {
        self.text
    }

    pub(crate) fn byte(&self, location: Location) -> usize {
        let line = (location.line as usize).saturating_sub(1);
        let Some(&start) = self.line_starts.get(line) else { return self.text.len() };
        let column = (location.column as usize).saturating_sub(1);
        let Some(rest) = self.text.get(start..) else { return self.text.len() };
        if rest.as_bytes().iter().take(column).all(u8::is_ascii) {
            return (start + column).min(self.text.len());
        }
        rest.char_indices().nth(column).map_or(self.text.len(), |(i, _)| start + i)
    }
}

pub(crate) fn is_blank(token: &Token) -> bool {
    matches!(token, Token::Whitespace(_) | Token::EOF)
}

/// Token ranges of the non-empty statements, split at `;`.
pub(crate) fn statement_segments(tokens: &[TokenWithSpan]) -> Vec<Range<usize>> {
    let mut segments = Vec::new();
    let mut start = 0;
    for (i, token) in tokens.iter().enumerate() {
        if token.token == Token::SemiColon {
            if tokens[start..i].iter().any(|t| !is_blank(&t.token)) {
                segments.push(start..i);
            }
            start = i + 1;
        }
    }
    if tokens[start..].iter().any(|t| !is_blank(&t.token)) {
        segments.push(start..tokens.len());
    }
    segments
}

/// Index of the next `;` at or after `from`, or the end.
pub(crate) fn next_semicolon(tokens: &[TokenWithSpan], from: usize) -> usize {
    tokens[from.min(tokens.len())..].iter().position(|t| t.token == Token::SemiColon).map_or(tokens.len(), |p| from + p)
}

/// Refuses input whose tree would be too deep to walk or drop on a bounded stack.
///
/// The parser bounds its own recursion, but builds operator chains (`a OR b OR ...`, `x::t::t`)
/// in a loop, into left-deep trees whose depth is the chain's length. A chain lives at one
/// bracket level between two commas, so the operators counted there bound its depth.
pub(crate) fn complexity_error(tokens: &[TokenWithSpan]) -> Option<SqlError> {
    let max_depth = MAX_NESTING * 2;
    let mut chain: Vec<usize> = vec![0];
    for token in tokens {
        match &token.token {
            Token::LParen | Token::LBracket | Token::LBrace => {
                if chain.len() > max_depth {
                    return Some(SqlError {
                        kind: SqlErrorKind::TooComplex,
                        message: format!("statement nests brackets deeper than {max_depth} levels"),
                    });
                }
                // The bracket itself is a link of the enclosing chain (a subscript, a call).
                bump(&mut chain);
                chain.push(0);
            }
            Token::RParen | Token::RBracket | Token::RBrace => {
                if chain.len() > 1 {
                    chain.pop();
                }
            }
            Token::Comma | Token::SemiColon => {
                if let Some(count) = chain.last_mut() {
                    *count = 0;
                }
            }
            Token::Whitespace(_) | Token::EOF | Token::Placeholder(_) | Token::Number(..) => {}
            Token::Word(word) if word.quote_style.is_some() || !is_infix_keyword(word.keyword) => {}
            token if is_literal(token) => {}
            _ => bump(&mut chain),
        }
        if chain.last().is_some_and(|&count| count > MAX_OPERATOR_CHAIN) {
            return Some(SqlError {
                kind: SqlErrorKind::TooComplex,
                message: format!("statement chains more than {MAX_OPERATOR_CHAIN} operators in one expression"),
            });
        }
    }
    None
}

/// Keywords the parser reads as infix or postfix operators, each a link of a chain.
fn is_infix_keyword(keyword: Keyword) -> bool {
    matches!(
        keyword,
        Keyword::AND
            | Keyword::OR
            | Keyword::XOR
            | Keyword::NOT
            | Keyword::IS
            | Keyword::IN
            | Keyword::BETWEEN
            | Keyword::LIKE
            | Keyword::ILIKE
            | Keyword::RLIKE
            | Keyword::REGEXP
            | Keyword::GLOB
            | Keyword::MATCH
            | Keyword::SIMILAR
            | Keyword::MEMBER
            | Keyword::OPERATOR
            | Keyword::OVERLAPS
            | Keyword::AT
            | Keyword::DIV
            | Keyword::MOD
            | Keyword::COLLATE
            | Keyword::ESCAPE
            | Keyword::NOTNULL
    )
}

fn bump(chain: &mut [usize]) {
    if let Some(count) = chain.last_mut() {
        *count += 1;
    }
}

fn is_literal(token: &Token) -> bool {
    matches!(
        token,
        Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::TripleSingleQuotedString(_)
            | Token::TripleDoubleQuotedString(_)
            | Token::DollarQuotedString(_)
            | Token::SingleQuotedByteStringLiteral(_)
            | Token::DoubleQuotedByteStringLiteral(_)
            | Token::TripleSingleQuotedByteStringLiteral(_)
            | Token::TripleDoubleQuotedByteStringLiteral(_)
            | Token::SingleQuotedRawStringLiteral(_)
            | Token::DoubleQuotedRawStringLiteral(_)
            | Token::TripleSingleQuotedRawStringLiteral(_)
            | Token::TripleDoubleQuotedRawStringLiteral(_)
            | Token::NationalStringLiteral(_)
            | Token::QuoteDelimitedStringLiteral(_)
            | Token::NationalQuoteDelimitedStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::Number(..)
    )
}

pub(crate) fn span_of(tokens: &[TokenWithSpan], offsets: &Offsets) -> (usize, usize) {
    let mut solid = tokens.iter().filter(|t| !is_blank(&t.token));
    let Some(first) = solid.next() else { return (0, 0) };
    let last = solid.next_back().unwrap_or(first);
    let start = offsets.byte(first.span.start);
    let end = offsets.byte(last.span.end).max(start);
    (start, end)
}

/// Fills in what only the tokens know: span, fingerprint, and exports the parser cannot
/// represent (MySQL and ClickHouse `INTO OUTFILE` / `INTO DUMPFILE`).
pub(crate) fn complete(
    intent: &mut Intent,
    tokens: &[TokenWithSpan],
    segment: &[TokenWithSpan],
    offsets: &Offsets,
    dialect: Dialect,
) {
    intent.span = span_of(tokens, offsets);
    intent.fingerprint = fingerprint(tokens, dialect);
    // The parser stops before `OUTFILE`, leaving it to the next "statement": look to the `;`.
    if segment.iter().any(|t| is_keyword(&t.token, &["OUTFILE", "DUMPFILE"])) {
        intent.operations.insert(Operation::Export);
    }
}

pub(crate) fn is_keyword(token: &Token, names: &[&str]) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && names.iter().any(|n| w.value.eq_ignore_ascii_case(n)))
}

/// Upper bound on a fingerprint's length; longer ones end in `...`.
const MAX_FINGERPRINT: usize = 1024;

/// A literal-free rendering, as pg_stat_statements makes one: literals become `?`, lists of
/// them collapse to `?, ...`, keywords are upper case, identifiers canonical, comments gone.
pub(crate) fn fingerprint(tokens: &[TokenWithSpan], dialect: Dialect) -> String {
    // About as long as the text (a token and its blank average some four bytes): one allocation.
    let mut out = String::with_capacity(tokens.len().saturating_mul(4).min(MAX_FINGERPRINT + 8));
    let mut previous: Option<&Token> = None;
    let mut run = 0; // literals in the current comma-separated run
    for token in tokens.iter().map(|t| &t.token).filter(|t| !is_blank(t)) {
        if out.len() > MAX_FINGERPRINT {
            break;
        }
        let literal = is_literal(token);
        if literal && matches!(previous, Some(Token::Comma)) && run > 0 {
            run += 1;
            if run == 2 {
                out.push_str(" ...");
            }
            previous = Some(token);
            continue;
        }
        if matches!(token, Token::Comma) && run > 1 {
            previous = Some(token);
            continue;
        }
        if !literal && !matches!(token, Token::Comma) {
            run = 0;
        }
        let glue = match (previous, token) {
            (None, _) => false,
            (_, Token::Comma | Token::RParen | Token::RBracket | Token::Period | Token::SemiColon) => false,
            (Some(Token::LParen | Token::LBracket | Token::Period), _) => false,
            (_, Token::LParen) => {
                !matches!(previous, Some(Token::Word(w)) if w.keyword == Keyword::NoKeyword || w.quote_style.is_some())
            }
            _ => true,
        };
        if glue {
            out.push(' ');
        }
        if literal {
            out.push('?');
            run = 1;
        } else {
            match token {
                Token::Word(word) => push_word(&mut out, word, dialect),
                // Written in place: a String per punctuation token cost more than the rest.
                other => {
                    let _ = write!(out, "{other}");
                }
            }
        }
        previous = Some(token);
        // Rows of a multi-row VALUES have one shape: keep the first, as rows arrive, so a
        // bulk insert's fingerprint does not depend on its row count.
        if matches!(token, Token::RParen) {
            for row in ["(?, ...)", "(?)"] {
                // Suffix matching, not offsets: a byte offset back from the end can land inside a
                // multi-byte character of a name (`INSERT INTO `t2$ї` VALUES ...`).
                let repeated =
                    out.strip_suffix(row).and_then(|rest| rest.strip_suffix(", ")).is_some_and(|rest| rest.ends_with(row));
                if repeated {
                    out.truncate(out.len() - row.len() - 2);
                }
            }
        }
    }
    if out.len() > MAX_FINGERPRINT {
        let mut cut = MAX_FINGERPRINT;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("...");
    }
    out
}

fn push_word(out: &mut String, word: &Word, dialect: Dialect) {
    match word.quote_style {
        Some(quote) => {
            let close = if quote == '[' { ']' } else { quote };
            out.push(quote);
            out.push_str(&word.value);
            out.push(close);
        }
        None if is_structural(&word.value) => out.extend(word.value.chars().map(|c| c.to_ascii_uppercase())),
        None => push_canonical_unquoted(out, &word.value, dialect),
    }
}

/// Keywords written in upper case in fingerprints, sorted for a binary search. sqlparser marks
/// many plain words (`id`, `name`) as keywords, so the tokenizer's flag cannot decide what is an
/// identifier.
const STRUCTURAL: &[&str] = &[
    "ALL",
    "ALTER",
    "AND",
    "ANY",
    "AS",
    "ASC",
    "BEGIN",
    "BETWEEN",
    "BY",
    "CALL",
    "CASE",
    "CAST",
    "COMMIT",
    "COPY",
    "CREATE",
    "CROSS",
    "DEFAULT",
    "DELETE",
    "DESC",
    "DISTINCT",
    "DO",
    "DROP",
    "ELSE",
    "END",
    "EXCEPT",
    "EXECUTE",
    "EXISTS",
    "EXPLAIN",
    "FALSE",
    "FETCH",
    "FOR",
    "FROM",
    "FULL",
    "GRANT",
    "GROUP",
    "HAVING",
    "IF",
    "ILIKE",
    "IN",
    "INNER",
    "INSERT",
    "INTERSECT",
    "INTO",
    "IS",
    "JOIN",
    "LEFT",
    "LIKE",
    "LIMIT",
    "MERGE",
    "NOT",
    "NULL",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "OVER",
    "PARTITION",
    "RECURSIVE",
    "RETURNING",
    "REVOKE",
    "RIGHT",
    "ROLLBACK",
    "SELECT",
    "SET",
    "TABLE",
    "THEN",
    "TO",
    "TRUE",
    "TRUNCATE",
    "UNION",
    "UPDATE",
    "USING",
    "VALUES",
    "VIEW",
    "WHEN",
    "WHERE",
    "WITH",
];

/// The longest word in [`STRUCTURAL`].
const MAX_STRUCTURAL: usize = 9;

fn is_structural(word: &str) -> bool {
    let mut upper = [0u8; MAX_STRUCTURAL];
    let Some(upper) = upper.get_mut(..word.len()) else { return false };
    upper.copy_from_slice(word.as_bytes());
    upper.make_ascii_uppercase();
    STRUCTURAL.binary_search_by(|k| k.as_bytes().cmp(upper)).is_ok()
}

/// Keywords that reveal an operation, and whether an object name follows them.
fn keyword_operation(word: &str, leading: bool) -> Option<Operation> {
    let upper = word.to_ascii_uppercase();
    Some(match upper.as_str() {
        "SELECT" | "FROM" | "JOIN" | "WITH" | "TABLE" if leading || upper != "TABLE" => Operation::Select,
        "INSERT" | "REPLACE" | "UPSERT" => Operation::Insert,
        "UPDATE" => Operation::Update,
        "DELETE" => Operation::Delete,
        "MERGE" => Operation::Merge,
        "CREATE" => Operation::Create,
        "ALTER" | "RENAME" | "COMMENT" => Operation::Alter,
        "DROP" | "UNDROP" => Operation::Drop,
        "TRUNCATE" => Operation::Truncate,
        "GRANT" => Operation::Grant,
        "REVOKE" | "DENY" => Operation::Revoke,
        "UNLOAD" | "OUTFILE" | "DUMPFILE" | "EXPORT" => Operation::Export,
        "LOAD" | "IMPORT" | "PUT" => Operation::Import,
        "CALL" | "EXEC" | "EXECUTE" | "DO" | "PREPARE" => Operation::Call,
        "SET" | "USE" | "RESET" if leading => Operation::Set,
        "BEGIN" | "START" | "COMMIT" | "ROLLBACK" | "SAVEPOINT" | "END" if leading => Operation::Transaction,
        "EXPLAIN" => Operation::Explain,
        "SHOW" | "DESCRIBE" | "DESC" if leading => Operation::Show,
        _ => return None,
    })
}

/// Words skipped between an operation keyword and the object it names.
const NOISE: &[&str] = &[
    "TABLE",
    "VIEW",
    "SCHEMA",
    "DATABASE",
    "INDEX",
    "SEQUENCE",
    "FUNCTION",
    "PROCEDURE",
    "MATERIALIZED",
    "TEMPORARY",
    "TEMP",
    "IF",
    "EXISTS",
    "NOT",
    "ONLY",
    "FROM",
    "INTO",
    "IGNORE",
    "LOW_PRIORITY",
    "QUICK",
    "OVERWRITE",
    "OR",
    "EXTERNAL",
    "UNLOGGED",
    "GLOBAL",
    "LOCAL",
    "CONCURRENTLY",
    "TOP",
    "LATERAL",
];

/// What the tokens of an unparsed statement suggest it does. Used only as grounds for a deny:
/// every operation keyword outside strings and comments counts, with the name after it.
pub(crate) fn suspect(tokens: &[TokenWithSpan], offsets: &Offsets, dialect: Dialect) -> Intent {
    let solid: Vec<&TokenWithSpan> = tokens.iter().filter(|t| !is_blank(&t.token)).collect();
    let mut operations = OperationSet::EMPTY;
    let mut accesses: Vec<Access> = Vec::new();
    let mut has_where = false;
    for (i, token) in solid.iter().enumerate() {
        let Token::Word(word) = &token.token else { continue };
        if word.quote_style.is_some() {
            continue;
        }
        let upper = word.value.to_ascii_uppercase();
        if upper == "WHERE" {
            has_where = true;
        }
        if upper == "COPY" {
            let to = solid[i..].iter().any(|t| is_keyword(&t.token, &["TO"]));
            operations.insert(if to { Operation::Export } else { Operation::Import });
            continue;
        }
        let leading = i == 0;
        let Some(op) = keyword_operation(&word.value, leading) else {
            if super::intent::is_server_file_function(&word.value) {
                operations.insert(Operation::Export);
            } else if super::intent::is_dynamic_function(&word.value) {
                operations.insert(Operation::Call);
            } else if super::intent::is_admin_function(&word.value) {
                operations.insert(Operation::Admin);
            } else if let Some(op) = super::intent::state_function_operation(&word.value) {
                operations.insert(op);
            }
            continue;
        };
        operations.insert(op);
        if let Some(object) = name_after(&solid[i + 1..], dialect) {
            let access = Access { operation: op, object };
            if !accesses.contains(&access) {
                accesses.push(access);
            }
        }
    }
    if operations.is_empty() {
        operations.insert(Operation::Other);
    }
    let unbounded = (operations.contains(Operation::Delete) || operations.contains(Operation::Update)) && !has_where;
    Intent {
        session: super::session::suspected_change(solid.iter().filter_map(|t| match &t.token {
            Token::Word(word) => Some(word.value.as_str()),
            Token::SingleQuotedString(text) => Some(text.as_str()),
            _ => None,
        })),
        operations,
        accesses,
        columns_written: WrittenColumns { names: Vec::new(), unknown: true },
        columns_read: Vec::new(),
        reads_all_columns: true,
        unbounded,
        fingerprint: fingerprint(tokens, dialect),
        span: span_of(tokens, offsets),
    }
}

/// The dotted name after an operation keyword, past noise words.
fn name_after(tokens: &[&TokenWithSpan], dialect: Dialect) -> Option<ObjectPath> {
    let mut i = 0;
    while let Some(Token::Word(w)) = tokens.get(i).map(|t| &t.token) {
        if w.quote_style.is_none() && NOISE.iter().any(|n| w.value.eq_ignore_ascii_case(n)) {
            i += 1;
        } else {
            break;
        }
    }
    let mut parts = Vec::new();
    loop {
        match tokens.get(i).map(|t| &t.token) {
            Some(Token::Word(w)) if w.quote_style.is_some() || w.keyword == Keyword::NoKeyword || !parts.is_empty() => {
                parts.push(canonical(&w.value, w.quote_style.is_some(), dialect));
            }
            _ => break,
        }
        if matches!(tokens.get(i + 1).map(|t| &t.token), Some(Token::Period)) {
            i += 2;
        } else {
            break;
        }
    }
    (!parts.is_empty()).then(|| ObjectPath::new(parts))
}

/// The tokenizer itself failed (an unterminated quote or comment): scan words crudely, over the
/// whole text, since nothing can be told apart any more.
pub(crate) fn unparsed_text(sql: &str, message: &str) -> Unparsed {
    let mut operations = OperationSet::EMPTY;
    let mut first = true;
    for word in sql.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| !w.is_empty()) {
        if let Some(op) = keyword_operation(word, first) {
            operations.insert(op);
        } else if super::intent::is_server_file_function(word) {
            operations.insert(Operation::Export);
        }
        first = false;
    }
    if operations.is_empty() {
        operations.insert(Operation::Other);
    }
    let unbounded = operations.contains(Operation::Delete) || operations.contains(Operation::Update);
    let words = sql.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| !w.is_empty());
    Unparsed {
        error: SqlError { kind: SqlErrorKind::Syntax, message: format!("sql tokenizer error: {message}") },
        suspected: Intent {
            session: super::session::suspected_change(words),
            operations,
            accesses: Vec::new(),
            columns_written: WrittenColumns { names: Vec::new(), unknown: true },
            columns_read: Vec::new(),
            reads_all_columns: true,
            unbounded,
            fingerprint: String::new(),
            span: (0, sql.len()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::tokenizer::Tokenizer;

    fn tokens(sql: &str) -> Vec<TokenWithSpan> {
        Tokenizer::new(Dialect::Postgres.parser_dialect(), sql).tokenize_with_location().unwrap()
    }

    #[test]
    fn fingerprint_drops_literals_comments_and_layout() {
        let a = fingerprint(&tokens("select *  from Users where id = 42 -- hi\n and name='bob'"), Dialect::Postgres);
        let b = fingerprint(&tokens("SELECT * FROM users /* x */ WHERE id = 7 AND name = 'alice'"), Dialect::Postgres);
        assert_eq!(a, "SELECT * FROM users WHERE id = ? AND name = ?");
        assert_eq!(a, b);
    }

    #[test]
    fn fingerprint_collapses_lists_and_rows() {
        let f = fingerprint(&tokens("SELECT * FROM t WHERE id IN (1, 2, 3, 4)"), Dialect::Postgres);
        assert_eq!(f, "SELECT * FROM t WHERE id IN (?, ...)");
        let g = fingerprint(&tokens("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')"), Dialect::Postgres);
        assert_eq!(g, "INSERT INTO t(a, b) VALUES (?, ...)");
        let rows = vec!["(1, 'x')"; 5000].join(", ");
        let bulk = fingerprint(&tokens(&format!("INSERT INTO t (a, b) VALUES {rows} RETURNING a")), Dialect::Postgres);
        assert_eq!(bulk, "INSERT INTO t(a, b) VALUES (?, ...) RETURNING a");
    }

    #[test]
    fn structural_words_are_found_in_any_case_and_only_they() {
        assert!(STRUCTURAL.windows(2).all(|w| w[0] < w[1]), "sorted, for the binary search");
        assert_eq!(STRUCTURAL.iter().map(|k| k.len()).max(), Some(MAX_STRUCTURAL));
        for word in STRUCTURAL {
            assert!(is_structural(word) && is_structural(&word.to_lowercase()), "{word}");
        }
        for word in ["selec", "selectx", "users", "", "ſelect", "İn", "recursives", "intersect\u{0}"] {
            assert_eq!(is_structural(word), STRUCTURAL.iter().any(|k| k.eq_ignore_ascii_case(word)), "{word}");
        }
    }

    #[test]
    fn fingerprint_is_bounded() {
        let sql = format!("SELECT {} FROM t", (0..2000).map(|i| format!("c{i}")).collect::<Vec<_>>().join(", "));
        let f = fingerprint(&tokens(&sql), Dialect::Postgres);
        assert!(f.len() <= MAX_FINGERPRINT + 3, "{}", f.len());
        assert!(f.ends_with("..."));
    }

    #[test]
    fn offsets_handle_multibyte_lines() {
        let sql = "SELECT 'é';\nDELETE FROM t";
        let toks = tokens(sql);
        let offsets = Offsets::new(sql);
        let segments = statement_segments(&toks);
        assert_eq!(segments.len(), 2);
        let (s, e) = span_of(&toks[segments[0].clone()], &offsets);
        assert_eq!(&sql[s..e], "SELECT 'é'");
        let (s, e) = span_of(&toks[segments[1].clone()], &offsets);
        assert_eq!(&sql[s..e], "DELETE FROM t");
    }

    #[test]
    fn long_operator_chains_are_refused_before_parsing() {
        let chain = vec!["1 = 1"; MAX_OPERATOR_CHAIN].join(" OR ");
        let sql = format!("DELETE FROM t WHERE {chain}");
        assert_eq!(complexity_error(&tokens(&sql)).map(|e| e.kind), Some(SqlErrorKind::TooComplex));
        // The same number of terms as a list is flat, and fine.
        let list = format!("SELECT * FROM t WHERE id IN ({})", vec!["-1"; MAX_OPERATOR_CHAIN * 2].join(", "));
        assert_eq!(complexity_error(&tokens(&list)), None);
    }

    #[test]
    fn deep_brackets_are_refused() {
        let sql = format!("SELECT {}1{}", "(".repeat(500), ")".repeat(500));
        assert!(complexity_error(&tokens(&sql)).is_some());
    }
}
