//! A second reading of statements sqlparser rejects: Postgres query and expression forms it
//! lacks are rewritten, token by token, into forms it parses with the same effects, and the
//! rewritten tokens are analyzed instead. It runs only after a parse failure, on queries and
//! writes (SELECT, INSERT, UPDATE, DELETE, MERGE, WITH, VALUES, TABLE, EXPLAIN, COPY, and the
//! query of CREATE VIEW / CREATE TABLE AS); when no rewrite applies or the result still does not
//! parse as exactly one statement, the original error stands.
//!
//! Soundness: a rewrite removes or replaces only tokens that carry no data effect, outside
//! string literals (a literal is one token and is never edited); every table name, function
//! call, subquery and WHERE clause survives. Per rewrite:
//! - `TABLE t` -> `SELECT * FROM t`: the same read of every column, by definition.
//! - `f(VARIADIC arr)` -> `f(arr)`: the keyword only says how `arr` is bound; call and array stay.
//! - `SET a[2] = v`, `INSERT INTO t (a[1].f)`: the subscripts of an assignment target go (only
//!   when they hold literals, never a call or subquery); the same column of the same table is
//!   written, and the SET list ends before WHERE, which is not touched.
//! - `OVER (... EXCLUDE CURRENT ROW | GROUP | TIES | NO OTHERS)`, `GROUP BY DISTINCT | ALL`,
//!   nested `GROUPING SETS`: which rows a window or grouping combines, never which are read.
//! - `'1 year'::interval PRECEDING`: the cast to the built-in interval type goes; sqlparser reads
//!   the literal as an interval.
//! - `WITH RECURSIVE ... SEARCH ... SET col`, `CYCLE cols SET col [TO c DEFAULT c] USING col`:
//!   they name columns the CTE adds (constants only); the CTE's body, a write or not, stays.
//! - `xmlelement(NAME x, ...)`, `xmlpi(NAME x)`: the element name becomes a string literal;
//!   `AS alias` in `xmlattributes`/`xmlforest`, `DOCUMENT`/`CONTENT` in `xmlparse`/
//!   `xmlserialize` (with its `AS type`), `PASSING [BY REF]` in `xmlexists`, xmlroot's `VERSION`
//!   and `STANDALONE` words: labels around the arguments, which all stay.
//! - `substring(x SIMILAR p ESCAPE e)` -> `substring(x, p, e)`: the same call, the same arguments.
//! - `a *< b` (record image comparisons) -> `a < b`: a comparison of the same operands.
//! - `f(...) AS (a int, b text)` (a column definition list of names and types only): it types
//!   the call's result; the call stays.
//! - `FROM t *` (descendant tables, the default): the `*` goes.
//! - `WITH [NO] DATA`, `WITH [CASCADED | LOCAL] CHECK OPTION` closing a CREATE TABLE AS / VIEW,
//!   and a CREATE TABLE AS column name list: what the new relation holds or checks later, not
//!   what the query reads; reading more (`WITH NO DATA` reads nothing) only widens the analysis.
//! - `COPY ... (HEADER MATCH)`, `FREEZE`, `ENCODING 'x'`: how rows are read, not where to or from.
//! - `COLLATION FOR (x)` -> `pg_collation_for(x)`: the function it stands for; MariaDB's `NEXT VALUE
//!   FOR s` and `PREVIOUS VALUE FOR s` -> `NEXTVAL(s)` and `LASTVAL(s)`, the same.
//! - `(f(x)).*` -> `(f(x)), *`: the call stays, and every column of every table is read, a
//!   wider read than the composite's fields.
//! - `x ISNULL`, `x NOTNULL` -> `x IS NULL`, `x IS NOT NULL`: the same test.
//! - `OVERRIDING {SYSTEM | USER} VALUE`: who picks identity values, the same rows written; a
//!   MERGE's `INSERT DEFAULT VALUES` -> `INSERT *`: an insert into the same target whose columns
//!   are not listed.
//! - `ROWS FROM (f(x), g(y)) [WITH ORDINALITY]` -> `(SELECT * FROM f(x), g(y))`: the same calls.
//! - `ON CONFLICT (lower(k), c text_pattern_ops)` -> `ON CONFLICT (c)`: inference elements are
//!   compared with index definitions, never evaluated; an expression goes only when it holds no
//!   subquery and calls only pure built-ins (`lower`, `coalesce`, ...); the columns stay.
//! - `MERGE ... USING a JOIN b ON c ON d` -> `USING (SELECT * FROM a JOIN b ON c) AS
//!   merge_source ON d`: the same source read through a derived table; target and ON stay.
//!
//! EXPLAIN keeps its options (sqlparser reads them, ANALYZE included, and the analysis treats
//! EXPLAIN ANALYZE as running its statement); only the statement under it is rewritten. Each
//! rewrite is one forward pass over the tokens, and the passes run once each, in a fixed order.

use sqlparser::tokenizer::{Token, TokenWithSpan};

use super::lexical::{self, is_blank, Offsets};
use super::{cursor, intent, session, Dialect, Intent, StatementAnalysis};

mod passes;

/// A statement read again after its rewrite.
pub(crate) struct Repaired {
    /// How many analyses before it it stands for: the statements sqlparser made of the start of
    /// the same `;`-segment before it failed (`EXPLAIN (COSTS OFF) <bad>` reads as `EXPLAIN x`).
    pub(crate) replaces: usize,
    pub(crate) intent: Intent,
}

/// The rewritten reading of the statement that failed at `start` (its segment ends at `resume`),
/// from the start of its segment when sqlparser cut that segment into several statements.
pub(crate) fn reparse(
    tokens: &[TokenWithSpan],
    start: usize,
    resume: usize,
    offsets: &Offsets,
    dialect: Dialect,
    earlier: &[StatementAnalysis],
) -> Option<Repaired> {
    let resume = resume.min(tokens.len());
    let from = segment_start(tokens, start);
    // T-SQL needs no `;` between statements: there a segment may really be several.
    if from < start && dialect != Dialect::Mssql {
        if let Some(intent) = reread(&tokens[from..resume], offsets, dialect) {
            let begin = intent.span.0;
            let replaces = earlier.iter().rev().take_while(|analysis| span_start(analysis) >= begin).count();
            return Some(Repaired { replaces, intent });
        }
    }
    reread(&tokens[start.min(resume)..resume], offsets, dialect).map(|intent| Repaired { replaces: 0, intent })
}

/// The index after the last `;` before `start`.
fn segment_start(tokens: &[TokenWithSpan], start: usize) -> usize {
    let before = &tokens[..start.min(tokens.len())];
    before.iter().rposition(|t| t.token == Token::SemiColon).map_or(0, |i| i + 1)
}

fn span_start(analysis: &StatementAnalysis) -> usize {
    match analysis {
        Ok(intent) => intent.span.0,
        Err(unparsed) => unparsed.suspected.span.0,
    }
}

fn reread(part: &[TokenWithSpan], offsets: &Offsets, dialect: Dialect) -> Option<Intent> {
    let solid: Vec<TokenWithSpan> = part.iter().filter(|t| !is_blank(&t.token)).cloned().collect();
    if !is_query_or_write(&solid) {
        return None;
    }
    let rewritten = rewrite(&solid)?;
    let statement = cursor::single_statement(dialect.parser_dialect(), rewritten.clone()).ok()?;
    let mut found = intent::of_statement(&statement, dialect).ok()?;
    found.session = session::change_of(&statement, &rewritten, dialect);
    lexical::complete(&mut found, part, part, offsets, dialect);
    Some(found)
}

/// The statement kinds repaired here: queries, writes, EXPLAIN and COPY, and the DDL that only
/// wraps a query (CREATE VIEW, CREATE TABLE AS).
fn is_query_or_write(t: &[TokenWithSpan]) -> bool {
    const LEADING: &[&str] = &["SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "WITH", "VALUES", "TABLE", "EXPLAIN", "COPY"];
    match t.first().map(|t| &t.token) {
        Some(Token::LParen) => true,
        Some(first) if lexical::is_keyword(first, LEADING) => true,
        Some(first) if kw(first, "CREATE") => {
            let head = t.iter().skip(1).take_while(|t| !kw(&t.token, "AS") && t.token != Token::LParen);
            let mut view_or_table = head.filter(|t| lexical::is_keyword(&t.token, &["VIEW", "TABLE"]));
            let depth_zero_as = has_top_level(t, "AS");
            view_or_table.next().is_some_and(|w| kw(&w.token, "VIEW") || depth_zero_as)
        }
        _ => false,
    }
}

fn has_top_level(t: &[TokenWithSpan], word: &str) -> bool {
    let mut depth = 0usize;
    for token in t {
        match token.token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            _ if depth == 0 && kw(&token.token, word) => return true,
            _ => {}
        }
    }
    false
}

/// One rewrite over a statement's solid tokens.
type Pass = fn(&[TokenWithSpan]) -> Vec<TokenWithSpan>;

/// Every pass once, in order; `None` when none changed anything.
fn rewrite(solid: &[TokenWithSpan]) -> Option<Vec<TokenWithSpan>> {
    const PASSES: &[Pass] = &[
        passes::table_queries,
        passes::variadic,
        passes::assignment_subscripts,
        passes::window_exclusion,
        passes::frame_casts,
        passes::search_and_cycle,
        passes::xml_forms,
        passes::substring_similar,
        passes::record_comparisons,
        passes::grouping,
        passes::column_definitions,
        passes::descendant_star,
        passes::relation_options,
        passes::copy_options,
        passes::collation_for,
        passes::sequence_values,
        passes::composite_expansion,
        passes::null_tests,
        passes::insert_forms,
        passes::rows_from,
        passes::conflict_targets,
        passes::merge_join_sources,
    ];
    let mut tokens = solid.to_vec();
    for pass in PASSES {
        tokens = pass(&tokens);
    }
    (tokens.iter().map(|t| &t.token).ne(solid.iter().map(|t| &t.token))).then_some(tokens)
}

pub(super) fn kw(token: &Token, word: &str) -> bool {
    lexical::is_keyword(token, &[word])
}
