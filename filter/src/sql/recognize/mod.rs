//! Statements sqlparser 0.64 cannot read, or reads as something else, recognized over the tokens
//! before the parser sees them. Each recognizer accepts only a shape it accounts for in full and
//! returns `None` otherwise, so anything else still reaches the parser (and may be unparsable);
//! each rejects a statement of another family by its first words. Why none of them can call a
//! write a read:
//! - Rewrites remove or replace only tokens without a data effect, then parse the rest exactly:
//!   Postgres `ONLY` before a relation (a reserved word, so never a table's name: sqlparser
//!   takes `DELETE FROM ONLY t` for a table `only`), MySQL `LOCK IN SHARE MODE`, `INTO @var`,
//!   `INTO OUTFILE ...` (counted as `export`), `DO expr` (read as `SELECT expr`), table options
//!   of `ALTER TABLE` (`ENGINE=BLACKHOLE`, which discards every row, counts as `truncate`).
//!   `WHERE CURRENT OF c` becomes `WHERE FALSE`: the write is bounded to one row, not unbounded.
//!   Postgres table, view, trigger and role DDL: see [`tables`] and [`roles`].
//! - Embedded SQL (PREPARE's literal, a rule's actions and condition, a function's `RETURN`) is
//!   parsed as SQL and its intent merged; when it does not parse, neither does the statement.
//!   So is every expression a recognizer keeps (a domain's CHECK, a publication's row filter, the
//!   expressions of CREATE STATISTICS): parsed as a `SELECT`, never skipped.
//! - Code (DO blocks, procedure, function and trigger bodies) is read as `bodies` reads it, and
//!   DO, which runs it now, is `call` besides; so are routines in a language other than SQL.
//! - ClickHouse `ALTER TABLE t DELETE | UPDATE ... WHERE e` is parsed as the DELETE or UPDATE it
//!   performs (its WHERE judged as theirs), plus `alter` on `t`.
//! - Families with no nested query (REINDEX, FETCH, MOVE, OPTIMIZE, HANDLER, SHUTDOWN, START
//!   TRANSACTION, DROP | TRUNCATE | DETACH PARTITION, REASSIGN | DROP OWNED, ALTER GROUP, GRANT |
//!   REVOKE on kinds sqlparser lacks, ClickHouse DROP | DETACH of one object, TRUNCATE DATABASE
//!   and SYSTEM, and Postgres catalog statements: see [`catalog`]) are accepted only when every
//!   token fits; the expressions of HANDLER, LOAD DATA, ClickHouse KILL and MySQL SHOW (which
//!   only reads) add every operation and object their tokens suggest.
//! - Effects follow `intent::effects`: a DROP of anything, or a DROP clause, is `drop`; GRANT and
//!   REVOKE, CREATE USER | ROLE, OWNER TO and identity switches are `grant` / `revoke`.

mod catalog;
mod clickhouse;
mod roles;
mod tables;

use sqlparser::parser::ParserError;
use sqlparser::tokenizer::{Token, TokenWithSpan, Word};

use super::bodies::{self, add_access, empty_intent, merge, merge_suggested};
use super::dialect::Dialect;
use super::lexical::{self, Offsets};
use super::names::{canonical, ObjectPath};
use super::{analyze_each, cursor, intent, Access, Intent, Operation, SqlError, SqlErrorKind, StatementAnalysis, Unparsed};

/// A recognized statement: its analysis and the index of the token after it.
pub(crate) struct Recognized {
    pub(crate) analysis: StatementAnalysis,
    pub(crate) end: usize,
}

/// What a recognizer found, and where the statement ends when it runs past the next `;`.
struct Found {
    result: Result<Intent, SqlError>,
    end: Option<usize>,
}

impl Found {
    fn intent(intent: Intent) -> Option<Found> {
        Some(Found { result: Ok(intent), end: None })
    }
    fn of(result: Result<Intent, SqlError>) -> Option<Found> {
        Some(Found { result, end: None })
    }
}

/// The statement starting at token `start`, if one of the families below recognizes it.
pub(crate) fn statement(tokens: &[TokenWithSpan], start: usize, offsets: &Offsets, dialect: Dialect) -> Option<Recognized> {
    let end = lexical::next_semicolon(tokens, start);
    if !may_be_claimed(tokens.get(start..end)?, dialect) {
        return None;
    }
    let part = Part::new(tokens, start, end, offsets, dialect);
    part.solid.first()?;
    let found = bodies::nested(|| {
        match dialect {
            Dialect::Postgres => postgres(&part),
            Dialect::Mysql => mysql(&part),
            Dialect::Clickhouse => clickhouse::clickhouse(&part),
            _ => None,
        }
        .or_else(|| execute_immediate(&part))
    })??;
    let end = found.end.unwrap_or(end).clamp(start, tokens.len());
    let own = &tokens[start..end];
    let segment = &tokens[start..lexical::next_semicolon(tokens, end)];
    let analysis = match found.result {
        Ok(mut intent) => {
            lexical::complete(&mut intent, own, segment, offsets, dialect);
            Ok(intent)
        }
        Err(error) => Err(Unparsed { error, suspected: lexical::suspect(own, offsets, dialect) }),
    };
    Some(Recognized { analysis, end })
}

/// Queries and writes, which sqlparser reads in full: the only recognizers for them are MySQL's
/// `SELECT` rewrites, Postgres's `ONLY` and `WHERE CURRENT OF`, ClickHouse's `FORMAT` and `IN
/// PARTITION` (a recognizer added for one of
/// these first words must be added below too). Most statements start with one, and cost no
/// [`Part`] when none applies.
const READ_IN_FULL: [&str; 9] = ["SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "VALUES", "TABLE", "MERGE", "EXPLAIN"];

/// Whether any recognizer may claim the statement of tokens `own`, by its first word.
fn may_be_claimed(own: &[TokenWithSpan], dialect: Dialect) -> bool {
    let Some(first) = own.iter().map(|t| &t.token).find(|t| !lexical::is_blank(t)) else { return false };
    if !lexical::is_keyword(first, &READ_IN_FULL) {
        return true;
    }
    match dialect {
        Dialect::Mysql => lexical::is_keyword(first, &["SELECT", "WITH"]),
        Dialect::Postgres => own.iter().any(|t| lexical::is_keyword(&t.token, &["ONLY", "CURRENT"])),
        // `SELECT ... FORMAT f` and `DELETE ... IN PARTITION p`.
        Dialect::Clickhouse => own.iter().any(|t| lexical::is_keyword(&t.token, &["FORMAT", "PARTITION"])),
        _ => false,
    }
}

fn postgres(part: &Part) -> Option<Found> {
    match part.word(0)?.as_str() {
        "DO" => do_block(part),
        "CREATE" => match part.after_create() {
            Some((i, "FUNCTION" | "PROCEDURE")) => pg_routine(part, i),
            Some((i, "RULE")) => rule(part, i),
            Some((_, "TRIGGER")) => tables::create_trigger(part),
            _ => pg_create(part).or_else(|| catalog::catalog_statement(part)).or_else(|| pg_rewrite(part)),
        },
        "ALTER" if part.is(1, "TABLE") => tables::alter_table(part).or_else(|| pg_rewrite(part)),
        "GRANT" => roles::privileges(part, Operation::Grant),
        "REVOKE" => roles::privileges(part, Operation::Revoke),
        "SET" => roles::set(part).or_else(|| catalog::catalog_statement(part)),
        "START" => roles::start_transaction(part),
        "RESET" => roles::reset(part),
        "REINDEX" => reindex(part),
        "REASSIGN" if part.is(1, "OWNED") && part.is(2, "BY") && part.all_simple(3) => {
            Found::intent(empty_intent(&[Operation::Grant]))
        }
        "DROP" if part.is(1, "OWNED") && part.is(2, "BY") && part.all_simple(3) => {
            Found::intent(empty_intent(&[Operation::Drop, Operation::Revoke]))
        }
        "ALTER" if part.is(1, "GROUP") => alter_group(part),
        "FETCH" | "MOVE" => part.all_simple(1).then(|| empty_intent(&[Operation::Select])).and_then(Found::intent),
        _ => catalog::catalog_statement(part).or_else(|| pg_rewrite(part)),
    }
}

/// Postgres CREATE USER | STATISTICS | TABLE | VIEW | MATERIALIZED VIEW in forms sqlparser lacks.
fn pg_create(part: &Part) -> Option<Found> {
    match part.word(1)?.as_str() {
        "USER" | "ROLE" => return roles::create_role(part),
        "STATISTICS" => return catalog::statistics(part),
        _ => {}
    }
    let mut i = 1;
    if part.is(i, "OR") && part.is(i + 1, "REPLACE") {
        i += 2;
    }
    while ["GLOBAL", "LOCAL", "TEMP", "TEMPORARY", "UNLOGGED", "RECURSIVE"].iter().any(|k| part.is(i, k)) {
        i += 1;
    }
    match part.word(i)?.as_str() {
        "TABLE" => tables::create_table(part),
        "VIEW" | "MATERIALIZED" => tables::create_view(part, i),
        _ => None,
    }
}

fn mysql(part: &Part) -> Option<Found> {
    match part.word(0)?.as_str() {
        "CREATE" => match part.after_create()? {
            (i, "PROCEDURE" | "FUNCTION") => mysql_routine(part, i),
            (i, "TRIGGER") => mysql_trigger(part, i),
            _ => None,
        },
        "PREPARE" => prepare(part),
        "ANALYZE" => analyze_statement(part),
        "DROP" if part.is(1, "PREPARE") && part.all_simple(2) => Found::intent(empty_intent(&[Operation::Call])),
        "OPTIMIZE" | "REPAIR" => maintenance(part, Operation::Alter),
        "CHECK" | "CHECKSUM" => maintenance(part, Operation::Show),
        "DO" => Found::of(part.parse_edited(&[(0, Some("SELECT"))])),
        "HANDLER" => handler(part),
        "LOAD" if part.is(1, "DATA") || part.is(1, "XML") => load_data(part),
        "SHUTDOWN" if part.all_simple(1) => Found::intent(empty_intent(&[Operation::Admin])),
        "START" if part.is(1, "TRANSACTION") && part.all_simple(2) => Found::intent(empty_intent(&[Operation::Transaction])),
        "ALTER" => alter_partitions(part).or_else(|| alter_table_options(part)),
        "SELECT" | "WITH" => mysql_select(part),
        "SHOW" => show(part),
        _ => None,
    }
}

/// A statement's tokens: the non-blank ones by position, over the original token list.
struct Part<'a> {
    tokens: &'a [TokenWithSpan],
    solid: Vec<usize>,
    offsets: &'a Offsets<'a>,
    dialect: Dialect,
}

impl<'a> Part<'a> {
    fn new(tokens: &'a [TokenWithSpan], start: usize, end: usize, offsets: &'a Offsets<'a>, dialect: Dialect) -> Part<'a> {
        let solid = (start..end).filter(|&i| !lexical::is_blank(&tokens[i].token)).collect();
        Part { tokens, solid, offsets, dialect }
    }

    fn token(&self, i: usize) -> Option<&'a Token> {
        self.solid.get(i).map(|&at| &self.tokens[at].token)
    }

    /// The solid token `i`, with its span.
    fn solid_token(&self, i: usize) -> Option<TokenWithSpan> {
        self.solid.get(i).and_then(|&at| self.tokens.get(at)).cloned()
    }

    /// The bracketed expression at solid `open..=close`, parsed as `SELECT (e)`: what it reads,
    /// calls or writes when the statement evaluates it.
    fn expression(&self, open: usize, close: usize) -> Result<Intent, SqlError> {
        let select = TokenWithSpan::new(Token::make_keyword("SELECT"), self.tokens[self.solid[open]].span);
        let only = self.only_keywords();
        let inner = (open..=close).filter(|k| only.binary_search(k).is_err()).filter_map(|k| self.solid_token(k));
        parse_one([select].into_iter().chain(inner).collect(), self.dialect)
    }

    /// Postgres `ONLY` before a relation (solid indexes), which every edited parse leaves out:
    /// a reserved word, so never a table's name, which sqlparser takes for one (`FROM ONLY t`
    /// would read a table `only` aliased `t`).
    fn only_keywords(&self) -> Vec<usize> {
        if self.dialect != Dialect::Postgres {
            return Vec::new();
        }
        const BEFORE: [&str; 9] = ["FROM", "JOIN", "UPDATE", "TABLE", "ON", "USING", "LOCK", "TRUNCATE", "EXISTS"];
        (1..self.len())
            .filter(|&i| {
                let before_relation = matches!(self.token(i + 1), Some(Token::Word(_) | Token::LParen));
                let after_keyword = matches!(self.token(i - 1), Some(Token::Comma)) || BEFORE.iter().any(|k| self.is(i - 1, k));
                self.is(i, "ONLY") && before_relation && after_keyword
            })
            .collect()
    }

    /// The unquoted word at solid index `i`, upper case.
    fn word(&self, i: usize) -> Option<String> {
        match self.token(i)? {
            Token::Word(Word { value, quote_style: None, .. }) => Some(value.to_ascii_uppercase()),
            _ => None,
        }
    }

    fn is(&self, i: usize, word: &str) -> bool {
        self.token(i).is_some_and(|t| lexical::is_keyword(t, &[word]))
    }

    fn len(&self) -> usize {
        self.solid.len()
    }

    /// Whether every token from `i` on is a word, a number, a sign, a comma or a period: a
    /// statement of options and names, with no expression or query in it.
    fn all_simple(&self, i: usize) -> bool {
        (i..self.len()).all(|k| self.simple_at(k))
    }

    /// [`Part::all_simple`], string literals allowed too.
    fn simple_or_literal(&self, i: usize) -> bool {
        (i..self.len()).all(|k| self.simple_at(k) || self.token(k).and_then(bodies::literal_text).is_some())
    }

    fn simple_at(&self, k: usize) -> bool {
        matches!(
            self.token(k),
            Some(Token::Word(_) | Token::Number(..) | Token::Minus | Token::Plus | Token::Comma | Token::Period)
        )
    }

    /// After `CREATE [OR REPLACE] [DEFINER = who] [AGGREGATE]`: the index and kind word.
    fn after_create(&self) -> Option<(usize, &'static str)> {
        let mut i = 1;
        if self.is(i, "OR") && self.is(i + 1, "REPLACE") {
            i += 2;
        }
        if self.is(i, "DEFINER") {
            i += 1;
            while i < self.len()
                && !["PROCEDURE", "FUNCTION", "TRIGGER", "EVENT", "VIEW", "AGGREGATE"].iter().any(|k| self.is(i, k))
            {
                i += 1;
            }
        }
        if self.is(i, "AGGREGATE") {
            i += 1;
        }
        let kind = ["FUNCTION", "PROCEDURE", "RULE", "TRIGGER"].into_iter().find(|k| self.is(i, k))?;
        Some((i + 1, kind))
    }

    /// The dotted name at `i` and the index after it.
    fn name(&self, i: usize) -> Option<(ObjectPath, usize)> {
        let mut parts = Vec::new();
        let mut at = i;
        loop {
            match self.token(at)? {
                Token::Word(w) => parts.push(canonical(&w.value, w.quote_style.is_some(), self.dialect)),
                _ => return None,
            }
            at += 1;
            if matches!(self.token(at), Some(Token::Period)) {
                at += 1;
            } else {
                return Some((ObjectPath::new(parts), at));
            }
        }
    }

    /// Index of the `)` closing the `(` at `i`.
    fn close_paren(&self, i: usize) -> Option<usize> {
        let mut depth = 0usize;
        for k in i..self.len() {
            match self.token(k)? {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(k);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// Solid indexes from `from` on at bracket depth 0.
    fn top_level(&self, from: usize) -> Vec<usize> {
        let mut depth = 0usize;
        let mut out = Vec::new();
        for k in from..self.len() {
            match self.token(k) {
                Some(Token::LParen) => depth += 1,
                Some(Token::RParen) => depth = depth.saturating_sub(1),
                _ if depth == 0 => out.push(k),
                _ => {}
            }
        }
        out
    }

    /// The original text from solid index `from` to just before solid index `to`.
    fn text(&self, from: usize, to: usize) -> &'a str {
        let (Some(&first), Some(&last)) = (self.solid.get(from), to.checked_sub(1).and_then(|t| self.solid.get(t))) else {
            return "";
        };
        let start = self.offsets.byte(self.tokens[first].span.start);
        let end = self.offsets.byte(self.tokens[last].span.end);
        self.offsets.text().get(start..end).unwrap_or("")
    }

    /// The solid tokens, with `edits` applied (index, replacement word or removal), parsed as
    /// exactly one statement.
    fn parse_edited(&self, edits: &[(usize, Option<&str>)]) -> Result<Intent, SqlError> {
        // One slot per token, so that many edits cost no more than a few.
        let mut slots: Vec<Option<Option<&str>>> = vec![None; self.len()];
        for &at in &self.only_keywords() {
            slots[at] = Some(None);
        }
        for &(at, edit) in edits {
            if let Some(slot) = slots.get_mut(at) {
                slot.get_or_insert(edit);
            }
        }
        let tokens = slots.iter().enumerate().filter_map(|(i, slot)| match slot {
            Some(Some(word)) => Some(TokenWithSpan::new(Token::make_keyword(word), self.tokens[self.solid[i]].span)),
            Some(None) => None,
            None => Some(self.tokens[self.solid[i]].clone()),
        });
        parse_one(tokens.collect(), self.dialect)
    }
}

/// Exactly one statement from `tokens`, reduced to its intent.
fn parse_one(tokens: Vec<TokenWithSpan>, dialect: Dialect) -> Result<Intent, SqlError> {
    let statement = cursor::single_statement(dialect.parser_dialect(), tokens).map_err(|err| {
        let kind =
            if matches!(err, ParserError::RecursionLimitExceeded) { SqlErrorKind::TooComplex } else { SqlErrorKind::Syntax };
        SqlError { kind, message: err.to_string() }
    })?;
    intent::of_statement(&statement, dialect)
}

/// Every statement of an embedded text, which must all parse.
fn embedded(text: &str, dialect: Dialect) -> Result<Intent, SqlError> {
    let mut found = empty_intent(&[]);
    for piece in analyze_each(text, dialect) {
        match piece {
            Ok(intent) => merge(&mut found, &intent),
            Err(unparsed) => return Err(unparsed.error),
        }
    }
    Ok(found)
}

/// Postgres `DO [LANGUAGE l] 'code' [LANGUAGE l]`: runs code now.
fn do_block(part: &Part) -> Option<Found> {
    let mut body = None;
    let mut i = 1;
    while i < part.len() {
        if part.is(i, "LANGUAGE") && matches!(part.token(i + 1), Some(Token::Word(_))) {
            i += 2;
        } else if let (None, Some(text)) = (body, part.token(i).and_then(bodies::literal_text)) {
            body = Some(text);
            i += 1;
        } else {
            return None;
        }
    }
    let mut found = empty_intent(&[Operation::Call]);
    merge(&mut found, &bodies::code(body?, part.dialect));
    Found::intent(found)
}

/// Postgres CREATE FUNCTION | PROCEDURE: the header holds no query; the body is a literal after
/// `AS`, a `BEGIN ATOMIC ... END` block, or `RETURN expr`.
fn pg_routine(part: &Part, at: usize) -> Option<Found> {
    let (name, _) = part.name(at)?;
    let top = part.top_level(at);
    let sql_language = top.iter().position(|&k| part.is(k, "LANGUAGE")).and_then(|p| top.get(p + 1)).is_none_or(|&k| {
        let language = part.token(k).and_then(|t| match t {
            Token::Word(w) => Some(w.value.to_ascii_lowercase()),
            t => bodies::literal_text(t).map(str::to_ascii_lowercase),
        });
        matches!(language.as_deref(), Some("sql" | "plpgsql"))
    });
    let mut found = empty_intent(&[]);
    add_access(&mut found, Access { operation: Operation::Create, object: name });
    if !sql_language {
        found.operations.insert(Operation::Call);
    }
    let mut end = None;
    if let Some(&k) = top.iter().find(|&&k| part.is(k, "AS")) {
        let body = part.token(k + 1).and_then(bodies::literal_text)?;
        merge(&mut found, &bodies::code(body, part.dialect));
    } else if let Some(&k) = top.iter().find(|&&k| part.is(k, "BEGIN") && part.is(k + 1, "ATOMIC")) {
        let close = bodies::compound_end(part.tokens, part.solid[k]);
        let end_keyword = part.tokens.get(close.checked_sub(1)?)?;
        let from = part.offsets.byte(part.tokens[part.solid[k + 1]].span.end);
        let text = part.offsets.text().get(from..part.offsets.byte(end_keyword.span.start)).unwrap_or("");
        merge(&mut found, &bodies::code(text, part.dialect));
        end = Some(close);
    } else if let Some(&k) = top.iter().find(|&&k| part.is(k, "RETURN")) {
        let edits: Vec<(usize, Option<&str>)> = (0..k).map(|i| (i, None)).chain([(k, Some("SELECT"))]).collect();
        match part.parse_edited(&edits) {
            Ok(expression) => merge(&mut found, &expression),
            Err(error) => return Found::of(Err(error)),
        }
    } else {
        return None;
    }
    Some(Found { result: Ok(found), end })
}

/// Postgres CREATE RULE name AS ON event TO table [WHERE cond] DO [ALSO | INSTEAD] actions,
/// whose `(a; b)` list runs past the first `;`.
fn rule(part: &Part, at: usize) -> Option<Found> {
    let end = paren_aware_end(part.tokens, part.solid[0]);
    let whole = Part::new(part.tokens, part.solid[0], end, part.offsets, part.dialect);
    let part = &whole;
    let mut i = part.name(at)?.1;
    if !(part.is(i, "AS") && part.is(i + 1, "ON") && part.is(i + 3, "TO")) {
        return None;
    }
    let (table, after) = part.name(i + 4)?;
    i = after;
    let mut found = empty_intent(&[Operation::Create]);
    add_access(&mut found, Access { operation: Operation::Alter, object: table });
    let top = part.top_level(i);
    let do_at = *top.iter().find(|&&k| part.is(k, "DO"))?;
    if part.is(i, "WHERE") {
        let edits: Vec<(usize, Option<&str>)> =
            (0..i).map(|k| (k, None)).chain([(i, Some("SELECT"))]).chain((do_at..part.len()).map(|k| (k, None))).collect();
        match part.parse_edited(&edits) {
            Ok(condition) => merge(&mut found, &condition),
            Err(error) => return Some(Found { result: Err(error), end: Some(end) }),
        }
    } else if do_at != i {
        return None;
    }
    let mut first = do_at + 1;
    if part.is(first, "ALSO") || part.is(first, "INSTEAD") {
        first += 1;
    }
    let actions = if matches!(part.token(first), Some(Token::LParen)) && part.close_paren(first) == Some(part.len() - 1) {
        part.text(first + 1, part.len() - 1)
    } else if part.is(first, "NOTHING") && first + 1 == part.len() {
        ""
    } else {
        part.text(first, part.len())
    };
    let result = embedded(actions, part.dialect).map(|actions| {
        merge(&mut found, &actions);
        found
    });
    Some(Found { result, end: Some(end) })
}

/// Index of the first `;` outside brackets from `from`, or the end.
fn paren_aware_end(tokens: &[TokenWithSpan], from: usize) -> usize {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate().skip(from) {
        match token.token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            Token::SemiColon if depth == 0 => return i,
            _ => {}
        }
    }
    tokens.len()
}

/// Postgres REINDEX [(options)] {INDEX | TABLE | SCHEMA | DATABASE | SYSTEM} [CONCURRENTLY] [name].
fn reindex(part: &Part) -> Option<Found> {
    let mut i = 1;
    if matches!(part.token(1), Some(Token::LParen)) {
        let close = part.close_paren(1)?;
        let options_only = (2..close).all(|k| {
            matches!(part.token(k), Some(Token::Word(_) | Token::Number(..) | Token::Comma | Token::SingleQuotedString(_)))
        });
        if !options_only {
            return None;
        }
        i = close + 1;
    }
    let kind = part.word(i)?;
    if !matches!(kind.as_str(), "INDEX" | "TABLE" | "SCHEMA" | "DATABASE" | "SYSTEM") {
        return None;
    }
    i += 1;
    if part.is(i, "CONCURRENTLY") {
        i += 1;
    }
    let mut found = empty_intent(&[Operation::Alter]);
    if i < part.len() {
        let (name, after) = part.name(i)?;
        if after != part.len() {
            return None;
        }
        if matches!(kind.as_str(), "INDEX" | "TABLE") {
            add_access(&mut found, Access { operation: Operation::Alter, object: name });
        }
    }
    Found::intent(found)
}

/// Postgres rewrites: `ONLY` before a relation, `WHERE CURRENT OF cursor`.
fn pg_rewrite(part: &Part) -> Option<Found> {
    let mut edits: Vec<(usize, Option<&str>)> = Vec::new();
    let writes = ["UPDATE", "DELETE", "WITH"].iter().any(|k| part.is(0, k));
    for &i in part.top_level(0).iter().filter(|&&i| writes && part.is(i, "CURRENT") && part.is(i + 1, "OF")) {
        if part.is(i - 1, "WHERE") && matches!(part.token(i + 2), Some(Token::Word(_))) {
            edits.extend([(i, Some("FALSE")), (i + 1, None), (i + 2, None)]);
        }
    }
    if edits.is_empty() && part.only_keywords().is_empty() {
        return None;
    }
    Found::of(part.parse_edited(&edits))
}

/// MySQL CREATE PROCEDURE | FUNCTION: a header of parameters and characteristics, then a body
/// (one statement, or a compound statement whose `;`s do not end it).
fn mysql_routine(part: &Part, at: usize) -> Option<Found> {
    let mut i = at;
    if part.is(i, "IF") && part.is(i + 1, "NOT") && part.is(i + 2, "EXISTS") {
        i += 3;
    }
    let (name, after) = part.name(i)?;
    let mut found = empty_intent(&[]);
    add_access(&mut found, Access { operation: Operation::Create, object: name });
    if part.is(after, "RETURNS") && part.is(after + 2, "SONAME") && after + 4 == part.len() {
        // A UDF from a shared library: code the analyzer cannot read.
        found.operations.insert(Operation::Call);
        return Found::intent(found);
    }
    if !matches!(part.token(after), Some(Token::LParen)) {
        return None;
    }
    let mut i = part.close_paren(after)? + 1;
    if part.is(i, "RETURNS") {
        i += 2;
        if matches!(part.token(i), Some(Token::LParen)) {
            i = part.close_paren(i)? + 1;
        }
        while let Some(word) = part.word(i) {
            match word.as_str() {
                "UNSIGNED" | "ZEROFILL" | "BINARY" => i += 1,
                "CHARSET" | "COLLATE" => i += 2,
                "CHARACTER" => i += 3,
                _ => break,
            }
        }
    }
    body_after_characteristics(part, i, found)
}

/// Skips routine characteristics from `i`, then reads the body into `found`.
fn body_after_characteristics(part: &Part, mut i: usize, found: Intent) -> Option<Found> {
    loop {
        let step = match part.word(i).as_deref() {
            Some("COMMENT") => 2,
            Some("DETERMINISTIC") => 1,
            Some("LANGUAGE" | "CONTAINS" | "SQL") if part.is(i, "SQL") => 3,
            Some("LANGUAGE" | "CONTAINS") => 2,
            Some("NO") if part.is(i + 1, "SQL") => 2,
            Some("NOT") if part.is(i + 1, "DETERMINISTIC") => 2,
            Some("READS" | "MODIFIES") if part.is(i + 2, "DATA") => 3,
            _ => break,
        };
        i += step;
    }
    body(part, i, found)
}

/// The body from solid index `i` (to the end of the compound statement it may open).
fn body(part: &Part, i: usize, mut found: Intent) -> Option<Found> {
    let start = *part.solid.get(i)?;
    let compound = ["BEGIN", "IF", "CASE", "LOOP", "WHILE", "REPEAT"].iter().any(|k| part.is(i, k))
        || (matches!(part.token(i + 1), Some(Token::Colon)) && part.word(i + 2).is_some());
    let end = if compound { bodies::compound_end(part.tokens, start) } else { part.solid.last()? + 1 };
    let last = part.tokens.get(start..end)?.iter().rev().find(|t| !lexical::is_blank(&t.token))?;
    let from = part.offsets.byte(part.tokens[start].span.start);
    let text = part.offsets.text().get(from..part.offsets.byte(last.span.end)).unwrap_or("");
    merge(&mut found, &bodies::code(text, part.dialect));
    Some(Found { result: Ok(found), end: Some(end) })
}

/// MySQL CREATE TRIGGER name {BEFORE | AFTER} event ON table FOR EACH ROW [{FOLLOWS | PRECEDES} t] body.
fn mysql_trigger(part: &Part, at: usize) -> Option<Found> {
    let mut i = at;
    if part.is(i, "IF") && part.is(i + 1, "NOT") && part.is(i + 2, "EXISTS") {
        i += 3;
    }
    let (name, mut i) = part.name(i)?;
    if !(["BEFORE", "AFTER"].iter().any(|k| part.is(i, k)) && part.is(i + 2, "ON")) {
        return None;
    }
    let (table, after) = part.name(i + 3)?;
    i = after;
    if !(part.is(i, "FOR") && part.is(i + 1, "EACH") && part.is(i + 2, "ROW")) {
        return None;
    }
    i += 3;
    if part.is(i, "FOLLOWS") || part.is(i, "PRECEDES") {
        i += 2;
    }
    let mut found = empty_intent(&[]);
    add_access(&mut found, Access { operation: Operation::Create, object: name });
    add_access(&mut found, Access { operation: Operation::Alter, object: table });
    body(part, i, found)
}

/// MySQL PREPARE name FROM {'text' | @variable}: the text is SQL, analyzed as what it runs.
fn prepare(part: &Part) -> Option<Found> {
    if !(matches!(part.token(1), Some(Token::Word(_))) && part.is(2, "FROM")) {
        return None;
    }
    if part.len() == 4 && matches!(part.token(3), Some(Token::Word(w)) if w.value.starts_with('@')) {
        return Found::intent(empty_intent(&[Operation::Call]));
    }
    literal_sql(part, 3)
}

/// `EXECUTE IMMEDIATE 'text'` (MariaDB, Snowflake, BigQuery, DuckDB): runs the literal now.
fn execute_immediate(part: &Part) -> Option<Found> {
    (part.word(0)? == "EXECUTE" && part.is(1, "IMMEDIATE")).then(|| literal_sql(part, 2))?
}

/// The SQL in the literals from solid token `from` to the end, analyzed as what it runs, and
/// `call`; `None` when anything else follows (a variable, `USING`), left to the parser.
fn literal_sql(part: &Part, from: usize) -> Option<Found> {
    let mut found = empty_intent(&[Operation::Call]);
    // Adjacent literals are one string to MySQL: `'DROP ' 'TABLE t'`.
    let mut text = String::new();
    for k in from..part.len() {
        text.push_str(part.token(k).and_then(bodies::literal_text)?);
    }
    let result = bodies::nested(|| embedded(&text, part.dialect))
        .unwrap_or_else(|| Err(SqlError { kind: SqlErrorKind::TooComplex, message: "dynamic SQL nested too deep".into() }));
    Found::of(result.map(|inner| {
        merge(&mut found, &inner);
        found
    }))
}

/// MariaDB `ANALYZE [FORMAT=JSON] statement` runs the statement and reports on it: it counts as
/// the statement. `ANALYZE TABLE t` is left to the parser.
fn analyze_statement(part: &Part) -> Option<Found> {
    let format = part.is(1, "FORMAT") && matches!(part.token(2), Some(Token::Eq));
    let at = if format { 4 } else { 1 };
    let runs = ["SELECT", "WITH", "INSERT", "REPLACE", "UPDATE", "DELETE"];
    if !part.word(at).is_some_and(|w| runs.contains(&w.as_str())) {
        return None;
    }
    let edits: Vec<(usize, Option<&str>)> = (0..at).map(|i| (i, None)).collect();
    Found::of(part.parse_edited(&edits))
}

/// Postgres ALTER GROUP g {ADD | DROP} USER u [, ...] (a role grant or revoke) | RENAME TO g2.
fn alter_group(part: &Part) -> Option<Found> {
    let (_, i) = part.name(2)?;
    let op = match part.word(i)?.as_str() {
        "ADD" => Operation::Grant,
        "DROP" => Operation::Revoke,
        "RENAME" if part.is(i + 1, "TO") => Operation::Alter,
        _ => return None,
    };
    if !(op == Operation::Alter || part.is(i + 1, "USER")) || !part.all_simple(i + 2) || i + 2 >= part.len() {
        return None;
    }
    Found::intent(empty_intent(&[op]))
}

/// `ALTER TABLE t [ON CLUSTER c]` (ClickHouse): the table, the index after its name and the
/// index after the header.
fn alter_table_header(part: &Part) -> Option<(ObjectPath, usize, usize)> {
    if !(part.is(0, "ALTER") && part.is(1, "TABLE")) {
        return None;
    }
    let (table, name_end) = part.name(2)?;
    let cluster = part.is(name_end, "ON") && part.is(name_end + 1, "CLUSTER");
    Some((table, name_end, if cluster { name_end + 3 } else { name_end }))
}

/// MySQL | ClickHouse ALTER TABLE t {DROP | TRUNCATE | DETACH} {PARTITION | PART} p [, ...]
/// (p a name, a literal or a ClickHouse `tuple(...)` of them): the rows of the partitions are
/// gone, as with DROP or TRUNCATE.
fn alter_partitions(part: &Part) -> Option<Found> {
    let (table, _, i) = alter_table_header(part)?;
    let op = match part.word(i)?.as_str() {
        "DROP" => Operation::Drop,
        // ClickHouse's own tree calls DETACH PARTITION a DROP_PARTITION: the rows leave the table.
        "DETACH" if part.dialect == Dialect::Clickhouse => Operation::Drop,
        "TRUNCATE" => Operation::Truncate,
        _ => return None,
    };
    let mut at = i + 1;
    if part.is(at, "DETACHED") {
        at += 1;
    }
    if !(part.is(at, "PARTITION") || part.is(at, "PART")) || at + 1 >= part.len() {
        return None;
    }
    let literal_or_simple = (at + 1..part.len()).all(|k| {
        part.token(k).is_some_and(|t| {
            let tuple = part.dialect == Dialect::Clickhouse && matches!(t, Token::LParen | Token::RParen);
            tuple
                || bodies::literal_text(t).is_some()
                || matches!(t, Token::Word(_) | Token::Number(..) | Token::Comma | Token::Period)
        })
    });
    if !literal_or_simple {
        return None;
    }
    let mut found = empty_intent(&[]);
    add_access(&mut found, Access { operation: Operation::Alter, object: table.clone() });
    add_access(&mut found, Access { operation: op, object: table });
    Found::intent(found)
}

/// MySQL OPTIMIZE | REPAIR | CHECK | CHECKSUM [NO_WRITE_TO_BINLOG | LOCAL] TABLE t [, ...] [options].
fn maintenance(part: &Part, op: Operation) -> Option<Found> {
    let mut i = 1;
    if part.is(i, "NO_WRITE_TO_BINLOG") || part.is(i, "LOCAL") {
        i += 1;
    }
    if !(part.is(i, "TABLE") && part.all_simple(i + 1)) {
        return None;
    }
    let mut found = empty_intent(&[op]);
    i += 1;
    loop {
        let (name, after) = part.name(i)?;
        add_access(&mut found, Access { operation: op, object: name });
        if !matches!(part.token(after), Some(Token::Comma)) {
            return Found::intent(found);
        }
        i = after + 1;
    }
}

/// MySQL HANDLER t OPEN [[AS] alias] | HANDLER h READ ... [WHERE ...] [LIMIT ...] | HANDLER h CLOSE.
fn handler(part: &Part) -> Option<Found> {
    let (name, i) = part.name(1)?;
    let mut found = empty_intent(&[]);
    add_access(&mut found, Access { operation: Operation::Select, object: name });
    match part.word(i)?.as_str() {
        "OPEN" if part.all_simple(i + 1) => {}
        "CLOSE" if i + 1 == part.len() => {}
        "READ" => {
            found.reads_all_columns = true;
            let rest = &part.tokens[part.solid[i]..part.solid.last()? + 1];
            merge_suggested(&mut found, &lexical::suspect(rest, part.offsets, part.dialect));
        }
        _ => return None,
    }
    Found::intent(found)
}

/// MySQL LOAD {DATA | XML} [LOW_PRIORITY | CONCURRENT] [LOCAL] INFILE 'file' [REPLACE | IGNORE]
/// INTO TABLE t ...: an import into `t`.
fn load_data(part: &Part) -> Option<Found> {
    let mut i = 2;
    while ["LOW_PRIORITY", "CONCURRENT", "LOCAL"].iter().any(|k| part.is(i, k)) {
        i += 1;
    }
    if !(part.is(i, "INFILE") && part.token(i + 1).and_then(bodies::literal_text).is_some()) {
        return None;
    }
    i += 2;
    if part.is(i, "REPLACE") || part.is(i, "IGNORE") {
        i += 1;
    }
    if !(part.is(i, "INTO") && part.is(i + 1, "TABLE")) {
        return None;
    }
    let (table, after) = part.name(i + 2)?;
    let mut found = empty_intent(&[]);
    add_access(&mut found, Access { operation: Operation::Import, object: table.clone() });
    add_access(&mut found, Access { operation: Operation::Insert, object: table });
    found.columns_written.unknown = true;
    if let Some(&from) = part.solid.get(after) {
        let rest = &part.tokens[from..part.solid.last()? + 1];
        merge_suggested(&mut found, &lexical::suspect(rest, part.offsets, part.dialect));
    }
    Found::intent(found)
}

/// MySQL SHOW in the forms sqlparser lacks (`SHOW FUNCTION STATUS WHERE Db = 'x'`): `show`, plus
/// what the tokens of its LIKE or WHERE suggest. The forms it has are parsed as usual.
fn show(part: &Part) -> Option<Found> {
    if let Ok(parsed) = part.parse_edited(&[]) {
        return Found::intent(parsed);
    }
    let mut found = empty_intent(&[Operation::Show]);
    let rest = &part.tokens[*part.solid.get(1)?..part.solid.last()? + 1];
    merge_suggested(&mut found, &lexical::suspect(rest, part.offsets, part.dialect));
    Found::intent(found)
}

/// Table options MySQL's ALTER TABLE takes, each `NAME [=] value`.
const TABLE_OPTIONS: &[&str] = &[
    "ENGINE",
    "AUTO_INCREMENT",
    "AVG_ROW_LENGTH",
    "CHARSET",
    "COLLATE",
    "CHECKSUM",
    "COMMENT",
    "COMPRESSION",
    "DELAY_KEY_WRITE",
    "ENCRYPTION",
    "INSERT_METHOD",
    "KEY_BLOCK_SIZE",
    "MAX_ROWS",
    "MIN_ROWS",
    "PACK_KEYS",
    "ROW_FORMAT",
    "STATS_AUTO_RECALC",
    "STATS_PERSISTENT",
    "STATS_SAMPLE_PAGES",
    "ALGORITHM",
    "LOCK",
    "PAGE_CHECKSUM",
    "TRANSACTIONAL",
];

/// MySQL ALTER [ONLINE] [IGNORE] TABLE t with table options among its changes: the options are
/// `alter` (`ENGINE=BLACKHOLE`: `truncate`), the other changes are parsed as an ALTER TABLE.
fn alter_table_options(part: &Part) -> Option<Found> {
    let mut i = 1;
    while part.is(i, "ONLINE") || part.is(i, "IGNORE") {
        i += 1;
    }
    if !part.is(i, "TABLE") {
        return None;
    }
    let (table, header_end) = part.name(i + 1)?;
    let mut found = empty_intent(&[]);
    add_access(&mut found, Access { operation: Operation::Alter, object: table.clone() });
    let mut options = false;
    let mut kept: Vec<std::ops::Range<usize>> = Vec::new();
    let mut item_start = header_end;
    let top = part.top_level(header_end);
    let commas = top.iter().copied().filter(|&k| matches!(part.token(k), Some(Token::Comma))).chain([part.len()]);
    for item_end in commas {
        match options_span(part, item_start, item_end) {
            Some(blackhole) => {
                options = true;
                if blackhole {
                    add_access(&mut found, Access { operation: Operation::Truncate, object: table.clone() });
                }
            }
            None => kept.push(item_start..item_end),
        }
        item_start = item_end + 1;
    }
    if !options {
        return None;
    }
    if !kept.is_empty() {
        let mut tokens: Vec<TokenWithSpan> = (0..header_end).map(|k| part.tokens[part.solid[k]].clone()).collect();
        for (n, item) in kept.into_iter().enumerate() {
            if n > 0 {
                tokens.push(TokenWithSpan::wrap(Token::Comma));
            }
            tokens.extend(item.map(|k| part.tokens[part.solid[k]].clone()));
        }
        match parse_one(tokens, part.dialect) {
            Ok(changes) => merge(&mut found, &changes),
            Err(error) => return Found::of(Err(error)),
        }
    }
    Found::intent(found)
}

/// Whether solid tokens `from..to` are table options only, and if so whether one of them is
/// `ENGINE = BLACKHOLE`.
fn options_span(part: &Part, from: usize, to: usize) -> Option<bool> {
    let mut i = from;
    let mut blackhole = false;
    if i >= to {
        return None;
    }
    while i < to {
        if part.is(i, "DEFAULT") {
            i += 1;
        }
        let name = part.word(i)?;
        i += if name == "CHARACTER" && part.is(i + 1, "SET") { 2 } else { 1 };
        if !(name == "CHARACTER" || TABLE_OPTIONS.contains(&name.as_str())) {
            return None;
        }
        if matches!(part.token(i), Some(Token::Eq)) {
            i += 1;
        }
        if !matches!(part.token(i), Some(Token::Word(_) | Token::Number(..) | Token::SingleQuotedString(_))) || i >= to {
            return None;
        }
        blackhole |= name == "ENGINE" && part.is(i, "BLACKHOLE");
        i += 1;
    }
    Some(blackhole)
}

/// MySQL SELECT with clauses sqlparser does not take: `LOCK IN SHARE MODE`, a trailing
/// `INTO @var, ...`, `INTO OUTFILE | DUMPFILE 'file' [options]` (an export).
fn mysql_select(part: &Part) -> Option<Found> {
    let mut edits: Vec<(usize, Option<&str>)> = Vec::new();
    let mut export = false;
    for i in 0..part.len() {
        if part.is(i, "LOCK") && part.is(i + 1, "IN") && part.is(i + 2, "SHARE") && part.is(i + 3, "MODE") {
            edits.extend((i..i + 4).map(|k| (k, None)));
        }
    }
    let top = part.top_level(0);
    for (p, &i) in top.iter().enumerate() {
        if !part.is(i, "INTO") {
            continue;
        }
        let is_variable = |k: usize| matches!(part.token(k), Some(Token::Word(w)) if w.value.starts_with('@'));
        let mut k = i + 1;
        if is_variable(k) {
            while is_variable(k) {
                k += if matches!(part.token(k + 1), Some(Token::Comma)) { 2 } else { 1 };
            }
        } else if part.is(k, "OUTFILE") || part.is(k, "DUMPFILE") {
            export = true;
            k = top.get(p + 1..)?.iter().copied().find(|&t| ends_into_clause(part, t)).unwrap_or(part.len());
        } else {
            continue;
        }
        edits.extend((i..k.min(part.len())).map(|t| (t, None)));
    }
    if edits.is_empty() {
        return None;
    }
    let result = part.parse_edited(&edits).map(|mut intent| {
        if export {
            intent.operations.insert(Operation::Export);
        }
        intent
    });
    Found::of(result)
}

/// A clause keyword after which an `INTO OUTFILE` clause's options have ended.
fn ends_into_clause(part: &Part, i: usize) -> bool {
    ["FROM", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "FOR", "LOCK", "UNION", "WINDOW", "INTO"].iter().any(|k| part.is(i, k))
}
