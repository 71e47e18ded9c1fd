//! The SQL/XML call forms, rewritten into plain calls of the same functions on the same
//! arguments: `xmlelement(NAME e, ...)`, `xmlforest(x AS a)`, `xmlexists(p PASSING BY REF d)`,
//! `xmltable(p PASSING d COLUMNS c int PATH e DEFAULT f)`, `xmlroot(x, VERSION v, STANDALONE
//! YES)`, `xmlparse(DOCUMENT x)`, `xmlserialize(CONTENT x AS text)`.

use sqlparser::tokenizer::{Token, TokenWithSpan};

use super::{at, before, callee, is_kw_at, is_word, like, partners, Tokens};
use crate::sql::lexical::is_keyword;
use crate::sql::repair::kw;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    /// xmlelement, xmlpi: a leading `NAME e`.
    Named,
    /// xmlattributes, xmlforest, xmlnamespaces: `x AS label`, `DEFAULT uri`.
    Labelled,
    /// xmlexists, xmltable: `PASSING [BY REF | BY VALUE] doc`, xmltable's COLUMNS.
    Passing,
    /// xmlroot: `VERSION v | NO VALUE`, `STANDALONE YES | NO | NO VALUE`.
    Root,
    /// xmlparse, xmlserialize: `DOCUMENT | CONTENT`, `AS type`, `{PRESERVE | STRIP} WHITESPACE`.
    Parse,
    Other,
}

fn call_at(t: &[TokenWithSpan], open: usize) -> Call {
    match callee(t, open).as_deref() {
        Some("xmlelement" | "xmlpi") => Call::Named,
        Some("xmlattributes" | "xmlforest" | "xmlnamespaces") => Call::Labelled,
        Some("xmlexists" | "xmltable") => Call::Passing,
        Some("xmlroot") => Call::Root,
        Some("xmlparse" | "xmlserialize") => Call::Parse,
        _ => Call::Other,
    }
}

pub(in crate::sql::repair) fn xml_forms(t: &[TokenWithSpan]) -> Tokens {
    let pairs = partners(t);
    let mut calls: Vec<(Call, usize)> = Vec::new();
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        let token = &t[i];
        match token.token {
            Token::LParen => calls.push((call_at(t, i), pairs[i].unwrap_or(t.len()))),
            Token::RParen => {
                calls.pop();
            }
            _ => {}
        }
        let (call, close) = calls.last().copied().unwrap_or((Call::Other, t.len()));
        let skip = match call {
            Call::Named => named(t, i, &mut out),
            Call::Labelled => labelled(t, i),
            Call::Passing => passing(t, i, close, &mut out),
            Call::Root => root(t, i, &mut out),
            Call::Parse => parse(t, i, close),
            Call::Other => 0,
        };
        if skip > 0 {
            i += skip;
            continue;
        }
        out.push(token.clone());
        i += 1;
    }
    out
}

/// `(NAME e` -> `('e'`: the tokens consumed.
fn named(t: &[TokenWithSpan], i: usize, out: &mut Tokens) -> usize {
    match at(t, i + 1) {
        Some(Token::Word(name)) if kw(&t[i].token, "NAME") && before(t, i) == Some(&Token::LParen) => {
            out.push(like(&t[i + 1], Token::SingleQuotedString(name.value.clone())));
            2
        }
        _ => 0,
    }
}

fn labelled(t: &[TokenWithSpan], i: usize) -> usize {
    let closes_argument = matches!(at(t, i + 2), Some(Token::Comma | Token::RParen));
    if kw(&t[i].token, "AS") && is_word(at(t, i + 1)) && closes_argument {
        2
    } else if kw(&t[i].token, "DEFAULT") && matches!(before(t, i), Some(Token::LParen | Token::Comma)) {
        1
    } else {
        0
    }
}

fn passing(t: &[TokenWithSpan], i: usize, close: usize, out: &mut Tokens) -> usize {
    let token = &t[i].token;
    if kw(token, "PASSING") {
        out.push(like(&t[i], Token::Comma));
        return if is_kw_at(t, i + 1, &["BY"]) && is_kw_at(t, i + 2, &["REF", "VALUE"]) { 3 } else { 1 };
    }
    if kw(token, "BY") && is_kw_at(t, i + 1, &["REF", "VALUE"]) {
        return 2;
    }
    if kw(token, "COLUMNS") && close < t.len() {
        if let Some(expressions) = columns(&t[i + 1..close]) {
            out.extend(expressions);
            return close - i;
        }
    }
    0
}

/// xmltable's column definitions -> `, e` for each PATH or DEFAULT expression; `None` when what
/// goes (names, types with their sizes, FOR ORDINALITY, NOT NULL) holds anything else.
fn columns(definitions: &[TokenWithSpan]) -> Option<Tokens> {
    let mut out = Vec::with_capacity(definitions.len());
    let mut depth = 0usize;
    let mut capturing = false;
    for (k, token) in definitions.iter().enumerate() {
        let top = depth == 0;
        match token.token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            _ => {}
        }
        if top {
            let not_null = kw(&token.token, "NOT") && is_kw_at(definitions, k + 1, &["NULL"]);
            let null_option = kw(&token.token, "NULL") && !is_kw_at(definitions, k.wrapping_sub(1), &["PATH", "DEFAULT"]);
            if is_keyword(&token.token, &["PATH", "DEFAULT"]) {
                capturing = true;
                out.push(like(token, Token::Comma));
                continue;
            }
            if token.token == Token::Comma || not_null || null_option {
                capturing = false;
                continue;
            }
        }
        if capturing {
            out.push(token.clone());
        } else {
            // A name, a type and its sizes (`numeric(10, 2)`, `int[]`), the words of an option.
            let kept = match token.token {
                Token::Word(_) | Token::LBracket | Token::RBracket => depth == 0,
                Token::LParen | Token::Number(..) => depth == 1,
                Token::RParen | Token::Comma => true,
                _ => false,
            };
            if !kept {
                return None;
            }
        }
    }
    Some(out)
}

fn root(t: &[TokenWithSpan], i: usize, out: &mut Tokens) -> usize {
    let token = &t[i].token;
    if kw(token, "VERSION") && before(t, i) == Some(&Token::Comma) {
        return 1;
    }
    if kw(token, "NO") && is_kw_at(t, i + 1, &["VALUE"]) {
        out.push(like(&t[i], Token::make_keyword("NULL")));
        return 2;
    }
    if *token == Token::Comma && is_kw_at(t, i + 1, &["STANDALONE"]) {
        let value = if is_kw_at(t, i + 2, &["NO"]) && is_kw_at(t, i + 3, &["VALUE"]) { 2 } else { 1 };
        return 2 + value;
    }
    0
}

fn parse(t: &[TokenWithSpan], i: usize, close: usize) -> usize {
    let token = &t[i].token;
    if is_keyword(token, &["DOCUMENT", "CONTENT"]) && before(t, i) == Some(&Token::LParen) {
        return 1;
    }
    if is_keyword(token, &["PRESERVE", "STRIP"]) && is_kw_at(t, i + 1, &["WHITESPACE"]) {
        return 2;
    }
    let type_only = close < t.len()
        && t[i + 1..close]
            .iter()
            .all(|t| matches!(t.token, Token::Word(_) | Token::Number(..) | Token::LParen | Token::RParen | Token::Comma));
    if kw(token, "AS") && type_only {
        return close - i;
    }
    0
}
