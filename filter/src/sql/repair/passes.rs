//! The rewrites of [`super`], one forward pass each over a statement's solid tokens (no blanks).
//! Each returns the tokens with its rewrite applied wherever its pattern matches, unchanged
//! elsewhere; why each is harmless is in the parent module's doc.

use sqlparser::tokenizer::{Token, TokenWithSpan};

use super::kw;
use crate::sql::lexical::is_keyword;

type Tokens = Vec<TokenWithSpan>;

fn at(t: &[TokenWithSpan], i: usize) -> Option<&Token> {
    t.get(i).map(|t| &t.token)
}

fn before(t: &[TokenWithSpan], i: usize) -> Option<&Token> {
    i.checked_sub(1).and_then(|p| at(t, p))
}

fn is_kw_at(t: &[TokenWithSpan], i: usize, words: &[&str]) -> bool {
    at(t, i).is_some_and(|token| is_keyword(token, words))
}

fn is_word(token: Option<&Token>) -> bool {
    matches!(token, Some(Token::Word(_)))
}

fn is_literal(token: Option<&Token>) -> bool {
    matches!(token, Some(Token::Number(..) | Token::SingleQuotedString(_) | Token::EscapedStringLiteral(_)))
}

fn like(original: &TokenWithSpan, token: Token) -> TokenWithSpan {
    TokenWithSpan { token, span: original.span }
}

/// For each `(`, the index of its `)`, and for each `)` that of its `(` (none when unbalanced).
fn partners(t: &[TokenWithSpan]) -> Vec<Option<usize>> {
    let mut found = vec![None; t.len()];
    let mut open = Vec::new();
    for (i, token) in t.iter().enumerate() {
        match token.token {
            Token::LParen => open.push(i),
            Token::RParen => {
                if let Some(o) = open.pop() {
                    found[o] = Some(i);
                    found[i] = Some(o);
                }
            }
            _ => {}
        }
    }
    found
}

/// The lower-cased name of the function whose argument list opens at `open`, if it is a call.
fn callee(t: &[TokenWithSpan], open: usize) -> Option<String> {
    match before(t, open) {
        Some(Token::Word(w)) if w.quote_style.is_none() => Some(w.value.to_ascii_lowercase()),
        _ => None,
    }
}

/// `TABLE t` where a query may start -> `SELECT * FROM t`.
pub(super) fn table_queries(t: &[TokenWithSpan]) -> Tokens {
    const QUERY_BEFORE: &[&str] = &["UNION", "INTERSECT", "EXCEPT", "ALL", "DISTINCT", "AS"];
    let mut out = Vec::with_capacity(t.len() + 2);
    for (i, token) in t.iter().enumerate() {
        let query_position =
            i == 0 || matches!(before(t, i), Some(Token::LParen)) || before(t, i).is_some_and(|p| is_keyword(p, QUERY_BEFORE));
        if kw(&token.token, "TABLE") && query_position && is_word(at(t, i + 1)) {
            out.extend([Token::make_keyword("SELECT"), Token::Mul, Token::make_keyword("FROM")].map(|new| like(token, new)));
        } else {
            out.push(token.clone());
        }
    }
    out
}

/// `f(VARIADIC arr)` -> `f(arr)`.
pub(super) fn variadic(t: &[TokenWithSpan]) -> Tokens {
    let mut calls: Vec<bool> = Vec::new();
    let mut out = Vec::with_capacity(t.len());
    for (i, token) in t.iter().enumerate() {
        let argument_start = matches!(before(t, i), Some(Token::LParen | Token::Comma));
        let has_argument = !matches!(at(t, i + 1), None | Some(Token::Comma | Token::RParen | Token::Period));
        if kw(&token.token, "VARIADIC") && calls.last() == Some(&true) && argument_start && has_argument {
            continue;
        }
        match token.token {
            Token::LParen => calls.push(callee(t, i).is_some()),
            Token::RParen => {
                calls.pop();
            }
            _ => {}
        }
        out.push(token.clone());
    }
    out
}

/// A subscript holding only literals: `[2]`, `['a']`, `[1:3]`, `[:]`, `[-1]`.
fn inert_subscript(t: &[TokenWithSpan], open: usize) -> Option<usize> {
    let mut j = open + 1;
    loop {
        match at(t, j)? {
            Token::RBracket => return Some(j),
            Token::Number(..) | Token::SingleQuotedString(_) | Token::Colon | Token::Minus | Token::Plus => {}
            Token::Placeholder(p) if p.starts_with(':') && p[1..].chars().all(|c| c.is_ascii_alphanumeric()) => {}
            token if kw(token, "NULL") => {}
            _ => return None,
        }
        j += 1;
    }
}

/// `a.b[1][2].c` at `i` followed by one of `ends`: the index of its first `[` and of its end.
fn subscripted_target(t: &[TokenWithSpan], i: usize, ends: &[Token]) -> Option<(usize, usize)> {
    if !is_word(at(t, i)) {
        return None;
    }
    let mut j = i + 1;
    while at(t, j) == Some(&Token::Period) && is_word(at(t, j + 1)) {
        j += 2;
    }
    if at(t, j) != Some(&Token::LBracket) {
        return None;
    }
    let cut = j;
    loop {
        match at(t, j) {
            Some(Token::LBracket) => j = inert_subscript(t, j)? + 1,
            Some(Token::Period) if is_word(at(t, j + 1)) => j += 2,
            Some(end) if ends.contains(end) => return Some((cut, j)),
            _ => return None,
        }
    }
}

/// Where the assignment targets of a statement are: an UPDATE's (or ON CONFLICT's, or MERGE's)
/// SET list, an INSERT's column list.
#[derive(Default)]
struct Targets {
    depth: usize,
    set_list: Option<usize>,
    insert_pending: bool,
    column_list: Option<usize>,
}

impl Targets {
    fn target_ends(&self, t: &[TokenWithSpan], i: usize) -> Option<&'static [Token]> {
        const SET_ENDS: &[Token] = &[Token::Eq];
        const COLUMN_ENDS: &[Token] = &[Token::Comma, Token::RParen];
        let previous = before(t, i)?;
        if self.set_list == Some(self.depth) && (kw(previous, "SET") || *previous == Token::Comma) {
            return Some(SET_ENDS);
        }
        if self.column_list == Some(self.depth) && matches!(previous, Token::LParen | Token::Comma) {
            return Some(COLUMN_ENDS);
        }
        None
    }

    fn step(&mut self, token: &Token) {
        match token {
            Token::LParen => {
                self.depth += 1;
                if self.insert_pending {
                    self.insert_pending = false;
                    self.column_list = Some(self.depth);
                }
            }
            Token::RParen => {
                self.depth = self.depth.saturating_sub(1);
                self.set_list = self.set_list.filter(|d| *d <= self.depth);
                self.column_list = self.column_list.filter(|d| *d <= self.depth);
            }
            _ if kw(token, "SET") => self.set_list = Some(self.depth),
            _ if kw(token, "INSERT") => self.insert_pending = true,
            _ if is_keyword(token, &["VALUES", "SELECT", "DEFAULT", "OVERRIDING", "WITH", "TABLE"]) => {
                self.insert_pending = false
            }
            _ if self.set_list == Some(self.depth) && is_keyword(token, &["WHERE", "FROM", "RETURNING", "WHEN"]) => {
                self.set_list = None
            }
            _ => {}
        }
    }
}

/// `SET a[2] = v`, `INSERT INTO t (a[1], b[2].f)` -> `SET a = v`, `INSERT INTO t (a, b.f)`.
pub(super) fn assignment_subscripts(t: &[TokenWithSpan]) -> Tokens {
    let mut targets = Targets::default();
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        if let Some((cut, end)) = targets.target_ends(t, i).and_then(|ends| subscripted_target(t, i, ends)) {
            out.extend_from_slice(&t[i..cut]);
            i = end;
            continue;
        }
        targets.step(&t[i].token);
        out.push(t[i].clone());
        i += 1;
    }
    out
}

/// `... FOLLOWING EXCLUDE CURRENT ROW)` -> `... FOLLOWING)`.
pub(super) fn window_exclusion(t: &[TokenWithSpan]) -> Tokens {
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        let after_bound = is_kw_at(t, i.wrapping_sub(1), &["PRECEDING", "FOLLOWING", "ROW"]);
        if kw(&t[i].token, "EXCLUDE") && after_bound {
            let length = if is_kw_at(t, i + 1, &["CURRENT"]) && is_kw_at(t, i + 2, &["ROW"])
                || is_kw_at(t, i + 1, &["NO"]) && is_kw_at(t, i + 2, &["OTHERS"])
            {
                3
            } else if is_kw_at(t, i + 1, &["GROUP", "TIES"]) {
                2
            } else {
                0
            };
            if length > 0 && at(t, i + length) == Some(&Token::RParen) {
                i += length;
                continue;
            }
        }
        out.push(t[i].clone());
        i += 1;
    }
    out
}

/// `'1 year'::interval PRECEDING` -> `'1 year' PRECEDING`.
pub(super) fn frame_casts(t: &[TokenWithSpan]) -> Tokens {
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        out.push(t[i].clone());
        let cast = matches!(at(t, i), Some(Token::SingleQuotedString(_)))
            && at(t, i + 1) == Some(&Token::DoubleColon)
            && is_kw_at(t, i + 2, &["INTERVAL"])
            && is_kw_at(t, i + 3, &["PRECEDING", "FOLLOWING"]);
        i += if cast { 3 } else { 1 };
    }
    out
}

/// `ident, ident, ...` from `i`: the index after it.
fn name_list(t: &[TokenWithSpan], i: usize) -> Option<usize> {
    let mut j = i;
    loop {
        if !is_word(at(t, j)) {
            return None;
        }
        j += 1;
        if at(t, j) != Some(&Token::Comma) {
            return Some(j);
        }
        j += 1;
    }
}

fn is_constant(token: Option<&Token>) -> bool {
    is_literal(token) || token.is_some_and(|token| is_keyword(token, &["TRUE", "FALSE", "NULL"]))
}

/// The end of a CTE's `SEARCH {DEPTH | BREADTH} FIRST BY cols SET col` at `i`.
fn search_clause(t: &[TokenWithSpan], i: usize) -> Option<usize> {
    let shape = kw(at(t, i)?, "SEARCH")
        && is_kw_at(t, i + 1, &["DEPTH", "BREADTH"])
        && is_kw_at(t, i + 2, &["FIRST"])
        && is_kw_at(t, i + 3, &["BY"]);
    let after_columns = if shape { name_list(t, i + 4)? } else { return None };
    (is_kw_at(t, after_columns, &["SET"]) && is_word(at(t, after_columns + 1))).then_some(after_columns + 2)
}

/// The end of a CTE's `CYCLE cols SET col [TO c DEFAULT c] USING col` at `i`.
fn cycle_clause(t: &[TokenWithSpan], i: usize) -> Option<usize> {
    if !kw(at(t, i)?, "CYCLE") {
        return None;
    }
    let mut j = name_list(t, i + 1)?;
    if !(is_kw_at(t, j, &["SET"]) && is_word(at(t, j + 1))) {
        return None;
    }
    j += 2;
    if is_kw_at(t, j, &["TO"]) {
        let marks = is_constant(at(t, j + 1)) && is_kw_at(t, j + 2, &["DEFAULT"]) && is_constant(at(t, j + 3));
        if !marks {
            return None;
        }
        j += 4;
    }
    (is_kw_at(t, j, &["USING"]) && is_word(at(t, j + 1))).then_some(j + 2)
}

/// `WITH RECURSIVE x AS (...) SEARCH ... SET s CYCLE ... USING p SELECT` -> `... AS (...) SELECT`.
pub(super) fn search_and_cycle(t: &[TokenWithSpan]) -> Tokens {
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        if before(t, i) == Some(&Token::RParen) {
            if let Some(end) = search_clause(t, i) {
                i = cycle_clause(t, end).unwrap_or(end);
                continue;
            }
            if let Some(end) = cycle_clause(t, i) {
                i = end;
                continue;
            }
        }
        out.push(t[i].clone());
        i += 1;
    }
    out
}

/// `substring(x SIMILAR p ESCAPE e)` -> `substring(x, p, e)`.
pub(super) fn substring_similar(t: &[TokenWithSpan]) -> Tokens {
    let mut calls: Vec<bool> = Vec::new();
    let mut out = Vec::with_capacity(t.len());
    for (i, token) in t.iter().enumerate() {
        match token.token {
            Token::LParen => calls.push(callee(t, i).as_deref() == Some("substring")),
            Token::RParen => {
                calls.pop();
            }
            _ if calls.last() == Some(&true) && is_keyword(&token.token, &["SIMILAR", "ESCAPE"]) => {
                out.push(like(token, Token::Comma));
                continue;
            }
            _ => {}
        }
        out.push(token.clone());
    }
    out
}

/// `a *< b`, `a *<> b` (record image comparisons, one operator) -> `a < b`, `a <> b`.
pub(super) fn record_comparisons(t: &[TokenWithSpan]) -> Tokens {
    let mut out = Vec::with_capacity(t.len());
    for (i, token) in t.iter().enumerate() {
        let next = t.get(i + 1);
        let joined = next.is_some_and(|next| {
            matches!(next.token, Token::Lt | Token::LtEq | Token::Gt | Token::GtEq | Token::Eq | Token::Neq)
                && next.span.start == token.span.end
        });
        if token.token == Token::Mul && joined && !matches!(before(t, i), None | Some(Token::Comma | Token::LParen)) {
            continue;
        }
        out.push(token.clone());
    }
    out
}

/// `GROUP BY DISTINCT | ALL` -> `GROUP BY`; `GROUPING SETS (GROUPING SETS (a), b)` ->
/// `GROUPING SETS ((a), b)`.
pub(super) fn grouping(t: &[TokenWithSpan]) -> Tokens {
    let mut sets: Vec<bool> = Vec::new();
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        let token = &t[i].token;
        if is_keyword(token, &["DISTINCT", "ALL"])
            && is_kw_at(t, i.wrapping_sub(1), &["BY"])
            && is_kw_at(t, i.wrapping_sub(2), &["GROUP"])
        {
            i += 1;
            continue;
        }
        let grouping_sets = kw(token, "GROUPING") && is_kw_at(t, i + 1, &["SETS"]) && at(t, i + 2) == Some(&Token::LParen);
        if grouping_sets && sets.contains(&true) {
            i += 2;
            continue;
        }
        match token {
            Token::LParen => {
                sets.push(is_kw_at(t, i.wrapping_sub(1), &["SETS"]) && is_kw_at(t, i.wrapping_sub(2), &["GROUPING"]))
            }
            Token::RParen => {
                sets.pop();
            }
            _ => {}
        }
        out.push(t[i].clone());
        i += 1;
    }
    out
}

/// Words that open or steer a query: a parenthesized list holding one is no column list.
const QUERY_WORDS: &[&str] =
    &["SELECT", "VALUES", "WITH", "TABLE", "INSERT", "UPDATE", "DELETE", "MERGE", "FROM", "WHERE", "RETURNING"];

/// `(a int, b numeric(10, 2), c text[])`: names and types only, no call, no literal but sizes.
fn is_definition_list(t: &[TokenWithSpan], open: usize, close: usize) -> bool {
    let inner = &t[open + 1..close];
    let mut element = 0;
    let mut depth = 0usize;
    for (k, token) in inner.iter().enumerate() {
        let ok = match &token.token {
            Token::Word(_) if depth == 0 => !is_keyword(&token.token, QUERY_WORDS),
            Token::Comma if depth == 0 => {
                if element < 2 {
                    return false;
                }
                element = 0;
                continue;
            }
            Token::Period | Token::LBracket | Token::RBracket => depth == 0,
            Token::LParen => {
                depth += 1;
                depth == 1 && is_word(before(inner, k))
            }
            Token::RParen => {
                depth = depth.saturating_sub(1);
                true
            }
            Token::Number(..) | Token::Comma => depth == 1,
            _ => false,
        };
        if !ok {
            return false;
        }
        element += 1;
    }
    element >= 2 && depth == 0
}

/// `f(x) AS (a int, b text)` -> `f(x)`.
pub(super) fn column_definitions(t: &[TokenWithSpan]) -> Tokens {
    let pairs = partners(t);
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        let opener = i.checked_sub(1).filter(|close| t[*close].token == Token::RParen).and_then(|close| pairs[close]);
        let after_call = opener.is_some_and(|open| callee(t, open).is_some());
        if after_call && kw(&t[i].token, "AS") && at(t, i + 1) == Some(&Token::LParen) {
            if let Some(close) = pairs[i + 1].filter(|close| is_definition_list(t, i + 1, *close)) {
                i = close + 1;
                continue;
            }
        }
        out.push(t[i].clone());
        i += 1;
    }
    out
}

/// `FROM t * x` (t and the tables inheriting from it, the default) -> `FROM t x`.
pub(super) fn descendant_star(t: &[TokenWithSpan]) -> Tokens {
    let mut out: Tokens = Vec::with_capacity(t.len());
    let mut name_from: Option<usize> = None;
    for (i, token) in t.iter().enumerate() {
        let after_name = is_word(before(t, i)) && !is_literal(at(t, i + 1)) && at(t, i + 1) != Some(&Token::LParen);
        if token.token == Token::Mul && name_from.is_some() && after_name {
            name_from = None;
            continue;
        }
        name_from = match &token.token {
            _ if is_keyword(&token.token, &["FROM", "JOIN", "ONLY"]) => None,
            Token::Word(_) if before(t, i).is_some_and(|p| is_keyword(p, &["FROM", "JOIN", "ONLY"])) => Some(i),
            Token::Period if name_from.is_some() => name_from,
            Token::Word(_) if name_from.is_some() && before(t, i) == Some(&Token::Period) => name_from,
            _ => None,
        };
        out.push(token.clone());
    }
    out
}

/// What a CREATE TABLE AS / VIEW says about the relation it makes, not the query: a trailing
/// `WITH [NO] DATA` or `WITH [CASCADED | LOCAL] CHECK OPTION`, `USING heap`, a list of names.
pub(super) fn relation_options(t: &[TokenWithSpan]) -> Tokens {
    let creates = t.iter().position(|token| kw(&token.token, "CREATE")).filter(|c| *c == 0 || is_kw_at(t, 0, &["EXPLAIN"]));
    let Some(create) = creates else { return t.to_vec() };
    let pairs = partners(t);
    let mut end = t.len();
    let tail = |n: usize, words: &[&[&str]]| {
        n >= words.len() && words.iter().enumerate().all(|(k, w)| is_kw_at(t, n - words.len() + k, w))
    };
    for pattern in [
        &[&["WITH"][..], &["NO"], &["DATA"]][..],
        &[&["WITH"], &["DATA"]],
        &[&["WITH"], &["CASCADED", "LOCAL"], &["CHECK"], &["OPTION"]],
        &[&["WITH"], &["CHECK"], &["OPTION"]],
    ] {
        if tail(end, pattern) {
            end -= pattern.len();
            break;
        }
    }
    let mut out = Vec::with_capacity(end);
    let mut in_head = false;
    let mut i = 0;
    while i < end {
        in_head = (in_head || i == create + 1) && !kw(&t[i].token, "AS");
        if in_head && t[i].token == Token::LParen && is_word(before(t, i)) {
            let close = pairs[i].filter(|close| is_kw_at(t, close + 1, &["AS"]) && is_name_list(&t[i + 1..*close]));
            if let Some(close) = close {
                i = close + 1;
                continue;
            }
        }
        if in_head && kw(&t[i].token, "USING") && is_word(at(t, i + 1)) && is_kw_at(t, i + 2, &["AS"]) {
            i += 2;
            continue;
        }
        out.push(t[i].clone());
        i += 1;
    }
    out
}

fn is_name_list(inner: &[TokenWithSpan]) -> bool {
    !inner.is_empty()
        && inner
            .iter()
            .enumerate()
            .all(|(k, token)| if k % 2 == 0 { is_word(Some(&token.token)) } else { token.token == Token::Comma })
}

/// COPY's `HEADER MATCH` -> `HEADER`, and its old options sqlparser lacks: `FREEZE`, `ENCODING 'x'`.
pub(super) fn copy_options(t: &[TokenWithSpan]) -> Tokens {
    if !is_kw_at(t, 0, &["COPY"]) {
        return t.to_vec();
    }
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        let token = &t[i].token;
        if kw(token, "MATCH") && is_kw_at(t, i.wrapping_sub(1), &["HEADER"]) {
            i += 1;
            continue;
        }
        if kw(token, "FREEZE") && !matches!(at(t, i + 1), Some(Token::Word(_) | Token::Comma | Token::RParen)) {
            i += 1;
            continue;
        }
        if kw(token, "ENCODING") && matches!(at(t, i + 1), Some(Token::SingleQuotedString(_))) && at(t, i + 2).is_none() {
            i += 2;
            continue;
        }
        out.push(t[i].clone());
        i += 1;
    }
    out
}

/// `COLLATION FOR (x)` -> `pg_collation_for(x)`.
pub(super) fn collation_for(t: &[TokenWithSpan]) -> Tokens {
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        if kw(&t[i].token, "COLLATION") && is_kw_at(t, i + 1, &["FOR"]) && at(t, i + 2) == Some(&Token::LParen) {
            out.push(like(&t[i], Token::make_word("pg_collation_for", None)));
            i += 2;
            continue;
        }
        out.push(t[i].clone());
        i += 1;
    }
    out
}

/// `NEXT VALUE FOR s` -> `NEXTVAL(s)` and `PREVIOUS VALUE FOR s` -> `LASTVAL(s)` (MariaDB):
/// the functions they stand for, on the same sequence.
pub(super) fn sequence_values(t: &[TokenWithSpan]) -> Tokens {
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        let function = ["NEXT", "PREVIOUS"].iter().position(|w| kw(&t[i].token, w)).map(|k| ["NEXTVAL", "LASTVAL"][k]);
        let name_end = qualified_name_end(t, i + 3);
        if let Some(function) =
            function.filter(|_| is_kw_at(t, i + 1, &["VALUE"]) && is_kw_at(t, i + 2, &["FOR"]) && name_end > i + 3)
        {
            out.push(like(&t[i], Token::make_word(function, None)));
            out.push(like(&t[i], Token::LParen));
            out.extend_from_slice(&t[i + 3..name_end]);
            out.push(like(&t[name_end - 1], Token::RParen));
            i = name_end;
            continue;
        }
        out.push(t[i].clone());
        i += 1;
    }
    out
}

/// The end of the dotted name (`shop.orders_seq`) at `from`; `from` when there is none.
fn qualified_name_end(t: &[TokenWithSpan], from: usize) -> usize {
    let mut end = from;
    while matches!(at(t, end), Some(Token::Word(_))) {
        end += 1;
        if at(t, end) != Some(&Token::Period) || !matches!(at(t, end + 1), Some(Token::Word(_))) {
            break;
        }
        end += 1;
    }
    end
}

/// `(f(x)).*` -> `(f(x)), *`: every field of a composite becomes every column of every table,
/// a wider read.
pub(super) fn composite_expansion(t: &[TokenWithSpan]) -> Tokens {
    let mut out = Vec::with_capacity(t.len());
    for (i, token) in t.iter().enumerate() {
        let expansion = token.token == Token::Period && before(t, i) == Some(&Token::RParen) && at(t, i + 1) == Some(&Token::Mul);
        let ends_item = matches!(at(t, i + 2), None | Some(Token::Comma | Token::Word(_)));
        if expansion && ends_item {
            out.push(like(token, Token::Comma));
        } else {
            out.push(token.clone());
        }
    }
    out
}

/// `x ISNULL`, `x NOTNULL` -> `x IS NULL`, `x IS NOT NULL`.
pub(super) fn null_tests(t: &[TokenWithSpan]) -> Tokens {
    let mut out = Vec::with_capacity(t.len());
    for (i, token) in t.iter().enumerate() {
        let postfix = at(t, i + 1) != Some(&Token::LParen) && i > 0;
        if postfix && kw(&token.token, "ISNULL") {
            out.extend([Token::make_keyword("IS"), Token::make_keyword("NULL")].map(|new| like(token, new)));
        } else if postfix && kw(&token.token, "NOTNULL") {
            out.extend(
                [Token::make_keyword("IS"), Token::make_keyword("NOT"), Token::make_keyword("NULL")].map(|new| like(token, new)),
            );
        } else {
            out.push(token.clone());
        }
    }
    out
}

/// An INSERT's `OVERRIDING {SYSTEM | USER} VALUE` (who picks identity values) goes; a MERGE's
/// `THEN INSERT DEFAULT VALUES` becomes `THEN INSERT *`, a row whose columns are not listed.
pub(super) fn insert_forms(t: &[TokenWithSpan]) -> Tokens {
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        let token = &t[i].token;
        if kw(token, "OVERRIDING") && is_kw_at(t, i + 1, &["SYSTEM", "USER"]) && is_kw_at(t, i + 2, &["VALUE"]) {
            i += 3;
            continue;
        }
        let merge_default = kw(token, "DEFAULT") && is_kw_at(t, i + 1, &["VALUES"]);
        if merge_default && is_kw_at(t, i.wrapping_sub(1), &["INSERT"]) && is_kw_at(t, i.wrapping_sub(2), &["THEN"]) {
            out.push(like(&t[i], Token::Mul));
            i += 2;
            continue;
        }
        out.push(t[i].clone());
        i += 1;
    }
    out
}

/// `ROWS FROM (f(x), g(y)) [WITH ORDINALITY]` -> `(SELECT * FROM f(x), g(y))`: the same calls,
/// read as a FROM list.
pub(super) fn rows_from(t: &[TokenWithSpan]) -> Tokens {
    let pairs = partners(t);
    let mut closes: Vec<usize> = Vec::new();
    let mut out = Vec::with_capacity(t.len() + 2);
    let mut i = 0;
    while i < t.len() {
        if kw(&t[i].token, "ROWS") && is_kw_at(t, i + 1, &["FROM"]) && at(t, i + 2) == Some(&Token::LParen) {
            if let Some(close) = pairs[i + 2] {
                let opening = [Token::LParen, Token::make_keyword("SELECT"), Token::Mul, Token::make_keyword("FROM")];
                out.extend(opening.map(|new| like(&t[i], new)));
                closes.push(close);
                i += 3;
                continue;
            }
        }
        let ordinality = kw(&t[i].token, "WITH") && is_kw_at(t, i + 1, &["ORDINALITY"]);
        if ordinality && i.checked_sub(1).is_some_and(|close| closes.contains(&close)) {
            i += 2;
            continue;
        }
        out.push(t[i].clone());
        i += 1;
    }
    out
}

/// `ON CONFLICT (lower(fruit), key text_pattern_ops, b COLLATE "C")` -> `ON CONFLICT (key, b)`:
/// index inference elements are matched against index definitions, never evaluated; columns
/// keep their name, expressions go when they hold no subquery and call only pure built-ins.
/// With no column left, the target goes.
pub(super) fn conflict_targets(t: &[TokenWithSpan]) -> Tokens {
    let pairs = partners(t);
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        let target = kw(&t[i].token, "ON") && is_kw_at(t, i + 1, &["CONFLICT"]) && at(t, i + 2) == Some(&Token::LParen);
        if let Some(close) = pairs.get(i + 2).copied().flatten().filter(|_| target) {
            if let Some(columns) = inference_columns(&t[i + 3..close]) {
                out.extend_from_slice(&t[i..i + 2]);
                if !columns.is_empty() {
                    out.push(t[i + 2].clone());
                    for (k, column) in columns.into_iter().enumerate() {
                        if k > 0 {
                            out.push(like(column, Token::Comma));
                        }
                        out.push(column.clone());
                    }
                    out.push(t[close].clone());
                }
                i = close + 1;
                continue;
            }
        }
        out.push(t[i].clone());
        i += 1;
    }
    out
}

/// The column names of an inference list, or `None` when an element is neither a column nor
/// an expression that may go.
fn inference_columns(inner: &[TokenWithSpan]) -> Option<Vec<&TokenWithSpan>> {
    let mut columns = Vec::new();
    let mut depth = 0usize;
    let mut element_start = 0;
    for k in 0..=inner.len() {
        match inner.get(k).map(|t| &t.token) {
            Some(Token::LParen) => depth += 1,
            Some(Token::RParen) => depth = depth.saturating_sub(1),
            Some(Token::Comma) | None if depth == 0 => {
                let element = &inner[element_start..k];
                let named = element.iter().all(|t| matches!(t.token, Token::Word(_)));
                match element.first() {
                    Some(first) if named => columns.push(first),
                    Some(_) if is_inert_expression(element) => {}
                    _ => return None,
                }
                element_start = k + 1;
            }
            _ => {}
        }
    }
    Some(columns)
}

/// Built-in functions without side effects that index expressions use.
const PURE_FUNCTIONS: &[&str] = &["lower", "upper", "coalesce", "abs", "md5", "btrim", "length", "substr", "date_trunc", "round"];

fn is_inert_expression(element: &[TokenWithSpan]) -> bool {
    element.iter().enumerate().all(|(k, token)| match &token.token {
        Token::Word(w) if at(element, k + 1) == Some(&Token::LParen) => {
            PURE_FUNCTIONS.contains(&w.value.to_ascii_lowercase().as_str())
        }
        Token::Word(_) => !is_keyword(&token.token, QUERY_WORDS),
        _ => true,
    })
}

/// `MERGE INTO t USING a JOIN b ON c ON d` -> `MERGE INTO t USING (SELECT * FROM a JOIN b ON c)
/// AS merge_source ON d`: the same source rows, read through a derived table; target and ON stay.
pub(super) fn merge_join_sources(t: &[TokenWithSpan]) -> Tokens {
    let mut depth = 0usize;
    let mut merge = false;
    let mut using = None;
    let mut join = false;
    let mut last_on = None;
    for (i, token) in t.iter().enumerate() {
        match token.token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            _ if kw(&token.token, "MERGE") => merge = true,
            _ if merge && using.is_none() && kw(&token.token, "USING") => using = Some(i),
            _ if using.is_some() && kw(&token.token, "JOIN") => join = true,
            _ if using.is_some() && kw(&token.token, "ON") => last_on = Some(i),
            _ if using.is_some() && kw(&token.token, "WHEN") => break,
            _ => {}
        }
    }
    let (Some(using), Some(on), true) = (using, last_on, join) else { return t.to_vec() };
    let mut out = Vec::with_capacity(t.len() + 7);
    out.extend_from_slice(&t[..=using]);
    out.extend(
        [Token::LParen, Token::make_keyword("SELECT"), Token::Mul, Token::make_keyword("FROM")].map(|new| like(&t[using], new)),
    );
    out.extend_from_slice(&t[using + 1..on]);
    out.extend([Token::RParen, Token::make_keyword("AS"), Token::make_word("merge_source", None)].map(|new| like(&t[on], new)));
    out.extend_from_slice(&t[on..]);
    out
}

mod xml;
pub(super) use xml::xml_forms;
